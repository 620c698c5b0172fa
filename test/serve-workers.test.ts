// `mfa-gate serve --workers N` (issue #4's speed, src/cli/cluster.ts): N processes on one port and one SQLite
// file. Each request here opens its own connection, and node:cluster hands new connections to the workers in
// turn, so consecutive requests reach different processes: every guarantee below is checked across processes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, dropSchema, freshSchema, postgresAvailable, withSchema } from './helpers/postgres.js';
import { API_KEY, awayFromStepEdge, fresh, sleep, startServe, totpCode, waitFor, type Serve } from './helpers/serve.js';

const root = mkdtempSync(join(tmpdir(), 'mfa-gate-workers-'));
const POLICY = readFileSync(join(import.meta.dirname, '..', 'policies', 'default.yaml'), 'utf8');
const IP = '81.2.69.142';
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

/** The live child processes of `pid` running `mfa-gate serve` (Linux /proc). */
function workerPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid || fields[0] === 'Z') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('serve')) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

/** The `mfa_gate_decisions_total` samples: per worker (the `worker` label), summed over outcomes. */
function decisionsByWorker(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of metrics.matchAll(/^mfa_gate_decisions_total\{decision="[a-z_]+",worker="(\d+)"\} (\d+)$/gm)) {
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}
const total = (byWorker: Map<string, number>) => [...byWorker.values()].reduce((a, b) => a + b, 0);

describe.skipIf(process.platform !== 'linux')('serve --workers 2 on one SQLite file', () => {
  let server: Serve;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(root, 'run-'));
    server = await startServe({ dir, policy: POLICY, args: ['--workers', '2'] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('starts two worker processes and says so once', () => {
    expect(server.output()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(2 worker processes\)/);
    expect(server.output().match(/listening on/g)).toHaveLength(1);
    expect(workerPids(server.pid)).toHaveLength(2);
  });

  it('answers on both workers; /metrics shows each worker\'s series and the decision log holds every line whole', async () => {
    const before = decisionsByWorker((await fresh(server.base, 'GET', '/metrics')).text);
    // Concurrent, so the two workers append to the decision log at the same time.
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => fresh(server.base, 'POST', '/v1/decide', { user: { id: `spread-${i % 5}` }, ip: IP, user_agent: UA })),
    );
    const ids = new Set<string>();
    for (const a of answers) {
      expect(a.status).toBe(200);
      ids.add(a.body.decision_id);
    }
    const metrics = await fresh(server.base, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    const after = decisionsByWorker(metrics.text);
    // Both workers' registries, each under its own label: one worker's registry alone would lack the other.
    expect([...after.keys()].sort()).toEqual(['0', '1']);
    for (const w of ['0', '1']) expect(after.get(w)! - (before.get(w) ?? 0)).toBeGreaterThan(0);
    expect(total(after) - total(before)).toBe(60);
    expect(metrics.text).toMatch(/^mfa_gate_policy_info\{version="[0-9a-f]+",worker="0"\} 1$/m);
    await waitFor('60 decision lines', () => {
      // Every line parses: a torn line would not.
      const lines = readFileSync(server.decisionLog, 'utf8').split('\n').filter((l) => l !== '');
      const found = lines.map((l) => JSON.parse(l) as { type?: string; decision_id?: string }).filter((l) => l.type === 'decision' && ids.has(l.decision_id!));
      return found.length === 60 ? true : undefined;
    });
  });

  it('single use holds across the processes: a TOTP code and a backup code are each accepted once', async () => {
    const user = 'alice-workers';
    const started = await fresh(server.base, 'POST', '/v1/mfa/totp/enroll', { user_id: user });
    expect(started.status).toBe(200);
    await awayFromStepEdge();
    const confirmed = await fresh(server.base, 'POST', '/v1/mfa/totp/confirm', { user_id: user, code: totpCode(started.body.secret, -1) });
    expect(confirmed.status, confirmed.text).toBe(200);
    const code = totpCode(started.body.secret, 0);
    expect((await fresh(server.base, 'POST', '/v1/mfa/verify', { user_id: user, code })).status).toBe(200);
    // The next connection goes to the other worker: the replay is the store's to refuse.
    const replay = await fresh(server.base, 'POST', '/v1/mfa/verify', { user_id: user, code });
    expect(replay.status).toBe(401);

    const backup = confirmed.body.backup_codes[0] as string;
    const answers = await Promise.all(Array.from({ length: 30 }, () => fresh(server.base, 'POST', '/v1/mfa/verify', { user_id: user, code: backup })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    for (const s of statuses) expect([200, 401, 429]).toContain(s);
    expect((await fresh(server.base, 'GET', `/v1/users/${user}/mfa`)).body.backup_codes_remaining).toBe(9);
  });

  it('a policy edit reaches every worker', async () => {
    const policyFile = join(dir, 'policy.yaml');
    const old = (await fresh(server.base, 'GET', '/healthz')).body.policy.version as string;
    writeFileSync(policyFile, `${POLICY}\n# edited\n`);
    await waitFor(
      'both workers on the new version',
      async () => {
        const versions = await Promise.all(Array.from({ length: 6 }, () => fresh(server.base, 'GET', '/healthz')));
        return versions.every((v) => v.body.policy.version !== old) ? true : undefined;
      },
      15_000,
    );
  });

  it('replaces a worker that dies, and keeps answering meanwhile', async () => {
    const [victim, survivor] = workerPids(server.pid) as [number, number];
    process.kill(victim, 'SIGKILL');
    // Once the primary has seen the exit (its IPC channel closes at once), the survivor takes every connection
    // while the replacement starts (RESTART_DELAY_MS later).
    await waitFor('the primary to see the exit', () => (server.output().includes('"event":"worker_exited"') ? true : undefined));
    for (let i = 0; i < 6; i++) expect((await fresh(server.base, 'GET', '/healthz')).status).toBe(200);
    // A scrape while the replacement starts answers from the serving worker, at once.
    const started = Date.now();
    const scrape = await fresh(server.base, 'GET', '/metrics');
    expect(scrape.status, scrape.text).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    const replaced = await waitFor(
      'a replacement worker',
      () => {
        const now = workerPids(server.pid);
        return now.length === 2 && !now.includes(victim) ? now : undefined;
      },
      20_000,
    );
    expect(replaced).toContain(survivor);
    await waitFor('the replacement to listen', () => (server.output().includes('"event":"worker_listening"') ? true : undefined), 20_000);
    for (let i = 0; i < 6; i++) expect((await fresh(server.base, 'GET', '/readyz')).status).toBe(200);
  }, 40_000);

  it('a replacement that cannot start does not stop the service while another worker serves', async () => {
    const policyFile = join(dir, 'policy.yaml');
    // The running workers reject the broken edit and keep their policy; a new worker cannot start on it.
    writeFileSync(policyFile, 'mfa_enforcement: [broken\n');
    await waitFor('the rejected reload', async () => ((await fresh(server.base, 'GET', '/readyz')).status === 503 ? true : undefined));
    const [victim] = workerPids(server.pid) as [number, number];
    const exitsBefore = server.output().match(/"event":"worker_exited"/g)?.length ?? 0;
    process.kill(victim, 'SIGKILL');
    // The replacement fails (exit 1 on the broken policy) and is retried later, while the survivor answers.
    await waitFor(
      'a failed replacement',
      () => ((server.output().match(/"event":"worker_exited"/g)?.length ?? 0) >= exitsBefore + 2 ? true : undefined),
      20_000,
    );
    expect(server.output()).toMatch(/"event":"worker_exited","slot":\d,"exit_code":1,"signal":null/);
    const served = await fresh(server.base, 'POST', '/v1/decide', { user: { id: 'still-served' }, ip: IP, user_agent: UA }).catch((err: Error) => {
      throw new Error(`${err.message}\n${server.output().slice(-3000)}`);
    });
    expect(served.status).toBe(200);
    expect(workerPids(server.pid).length).toBeGreaterThanOrEqual(1);
    const listensBefore = server.output().match(/"event":"worker_listening"/g)?.length ?? 0;
    writeFileSync(policyFile, POLICY);
    await waitFor(
      'the replacement to listen',
      () => ((server.output().match(/"event":"worker_listening"/g)?.length ?? 0) > listensBefore ? true : undefined),
      30_000,
    );
    expect(workerPids(server.pid)).toHaveLength(2);
    await waitFor('both ready', async () => {
      const answers = await Promise.all(Array.from({ length: 4 }, () => fresh(server.base, 'GET', '/readyz')));
      return answers.every((a) => a.status === 200) ? true : undefined;
    }, 15_000);
  }, 60_000);

  it('stops every worker on SIGTERM: the primary forwards it and each worker shuts down gracefully', async () => {
    const workers = workerPids(server.pid);
    await server.stop();
    await sleep(100);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
    // Logged by each worker's own SIGTERM handler: a worker that merely lost its primary would exit silently.
    for (const w of [0, 1]) expect(server.output()).toMatch(new RegExp(`"event":"shutdown","signal":"SIGTERM","worker":${w}`));
  });
});

describe('serve --workers: refusals', () => {
  function run(args: string[], timeout = 30_000) {
    const d = mkdtempSync(join(root, 'refused-'));
    const policy = join(d, 'policy.yaml');
    writeFileSync(policy, POLICY);
    const r = spawnSync(process.execPath, ['bin/mfa-gate.js', 'serve', '--data-dir', join(d, 'data'), '--policy', policy, ...args], {
      encoding: 'utf8',
      timeout,
      env: { ...process.env, MFA_GATE_API_KEYS: API_KEY },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  }

  it.each([
    [['--workers', '0'], /--workers: "0" is not a number of processes from 1 to 64, or auto/],
    [['--workers', 'many'], /--workers: "many" is not a number/],
    [['--workers', '2', '--decision-log', 'stdout'], /--decision-log stdout needs --workers 1/],
    [['--workers', '2', '--decision-log', '/dev/stdout'], /--decision-log \/dev\/stdout needs --workers 1/],
  ])('%j is a usage error (exit 2)', (args, message) => {
    const r = run(['--port', '0', ...args]);
    expect(r.status).toBe(2);
    expect(r.out).toMatch(message);
  });

  it('a port already taken stops the whole service with exit 1 instead of restarting workers forever', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    try {
      const r = run(['--port', String(port), '--workers', '2']);
      expect(r.status).toBe(1);
      expect(r.out).toMatch(/a worker exited before it listened; stopping/);
    } finally {
      blocker.close();
    }
  }, 40_000);
});

const pgAvailable = await postgresAvailable();

describe.skipIf(!pgAvailable || process.platform !== 'linux')('serve --workers 2 on PostgreSQL', () => {
  const schema = freshSchema('mfa_gate_workers');
  afterAll(() => dropSchema(schema));

  it('serves from both workers on one schema and holds single use across them', async () => {
    const d = mkdtempSync(join(root, 'pg-'));
    const server = await startServe({
      dir: d,
      policy: POLICY,
      args: ['--workers', '2', '--database-url', withSchema(PG_URL, schema)],
      env: { MFA_GATE_SECRET_KEY: Buffer.alloc(32, 9).toString('base64') },
    });
    try {
      expect(server.output()).toMatch(/\(2 worker processes\)/);
      expect(server.output()).toMatch(/store\s+PostgreSQL /);
      expect(workerPids(server.pid)).toHaveLength(2);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => fresh(server.base, 'POST', '/v1/decide', { user: { id: `pg-${i % 4}` }, ip: IP, user_agent: UA })),
      );
      for (const a of answers) expect(a.status).toBe(200);
      expect([...decisionsByWorker((await fresh(server.base, 'GET', '/metrics')).text).keys()].sort()).toEqual(['0', '1']);

      const user = 'pg-single-use';
      const started = await fresh(server.base, 'POST', '/v1/mfa/totp/enroll', { user_id: user });
      await awayFromStepEdge();
      const confirmed = await fresh(server.base, 'POST', '/v1/mfa/totp/confirm', { user_id: user, code: totpCode(started.body.secret, -1) });
      expect(confirmed.status, confirmed.text).toBe(200);
      const backup = confirmed.body.backup_codes[0] as string;
      const uses = await Promise.all(Array.from({ length: 20 }, () => fresh(server.base, 'POST', '/v1/mfa/verify', { user_id: user, code: backup })));
      expect(uses.filter((u) => u.status === 200)).toHaveLength(1);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe.skipIf(process.platform !== 'linux')('serve --workers: signals while the workers start', () => {
  it('a SIGHUP to the primary while its workers start kills none of them', async () => {
    const d = mkdtempSync(join(root, 'hup-'));
    const policy = join(d, 'policy.yaml');
    writeFileSync(policy, POLICY);
    const child = spawn(process.execPath, ['bin/mfa-gate.js', 'serve', '--workers', '2', '--port', '0', '--data-dir', join(d, 'data'), '--policy', policy], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MFA_GATE_API_KEYS: API_KEY },
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      // As soon as the workers exist, while they load their modules and open the store, SIGHUP the primary (a
      // `systemctl reload` right after start): it must not pass it on to workers that would die of it.
      await waitFor('the workers to be forked', () => (workerPids(child.pid!).length === 2 ? true : undefined));
      for (let round = 0; round < 10 && !/listening on/.test(out); round++) {
        process.kill(child.pid!, 'SIGHUP');
        await sleep(100);
      }
      const base = await waitFor('the workers to listen', () => {
        if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${out}`);
        return /listening on (http:\/\/\S+) \(2 worker processes\)/.exec(out)?.[1];
      }, 30_000);
      expect((await fresh(base, 'GET', '/readyz')).status).toBe(200);
      expect(out).not.toMatch(/worker_failed|worker_exited/);
    } finally {
      process.kill(child.pid!, 'SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 60_000);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));
