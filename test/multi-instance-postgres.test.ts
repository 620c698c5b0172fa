// Issue #6, "Many instances": three `mfa-gate serve` processes on one PostgreSQL (a fresh schema, dropped
// afterwards) behind no balancer: the test picks the instance of each request, so every cross-instance claim
// is exercised on purpose. Every factor guarantee must hold across processes, because it is the database's.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, dropSchema, freshSchema, postgresAvailable, sql, withSchema } from './helpers/postgres.js';
import { IN_CI, awayFromStepEdge, callApi as call, findExecutable, freePort, sleep, startServe, totpCode, waitFor, type Serve } from './helpers/serve.js';

const available = await postgresAvailable();
const NGINX = findExecutable('nginx');
const SECRET_KEY = Buffer.alloc(32, 42).toString('base64');
const POLICY = readFileSync(join(import.meta.dirname, '..', 'policies', 'default.yaml'), 'utf8');
const IP = '81.2.69.142';
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';



describe.skipIf(!available)('three instances on one PostgreSQL', () => {
  const schema = freshSchema('mfa_gate_multi');
  const dirs: string[] = [];
  let a: Serve;
  let b: Serve;
  let c: Serve;
  const user = (label: string) => `${label}-${schema.slice(-8)}`;

  beforeAll(async () => {
    const url = withSchema(PG_URL, schema);
    // Started together: the three race to migrate the fresh schema (the advisory lock makes one do it).
    const started = await Promise.all(
      [0, 1, 2].map(() => {
        const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-multi-'));
        dirs.push(dir);
        return startServe({ dir, policy: POLICY, args: ['--database-url', url], env: { MFA_GATE_SECRET_KEY: SECRET_KEY } });
      }),
    );
    [a, b, c] = started as [Serve, Serve, Serve];
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a, b, c].filter(Boolean).map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await dropSchema(schema);
  });

  /** Enrolls through `first` and confirms through `second` with the previous period's code; returns the secret and codes. */
  async function enroll(label: string, first: Serve, second: Serve) {
    const id = user(label);
    const started = await call(first, 'POST', '/v1/mfa/totp/enroll', { user_id: id });
    expect(started.status).toBe(200);
    await awayFromStepEdge();
    const confirmed = await call(second, 'POST', '/v1/mfa/totp/confirm', { user_id: id, code: totpCode(started.body.secret, -1) });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    return { id, secret: started.body.secret as string, codes: confirmed.body.backup_codes as string[] };
  }

  it('all three serve from the one schema, migrated once although they started together', async () => {
    for (const s of [a, b, c]) expect(s.output()).toMatch(/store\s+PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:5432\/test\?schema=/);
    const versions = await sql<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
    expect(versions.map((r) => r.version)).toEqual(versions.map((_, i) => i + 1));
    expect(versions.length).toBeGreaterThan(0);
    for (const s of [a, b, c]) expect((await call(s, 'GET', '/readyz')).status).toBe(200);
  });

  it('enrolled on the first and confirmed on the second, a user verifies on the third; a code used on one is refused by the others', async () => {
    const { id, secret } = await enroll('alice', a, b);
    const summary = await call(c, 'GET', `/v1/users/${id}/mfa`);
    expect(summary.body).toMatchObject({ enrolled: true, backup_codes_remaining: 10 });

    const now = totpCode(secret, 0);
    const verified = await call(c, 'POST', '/v1/mfa/verify', { user_id: id, code: now });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body).toMatchObject({ ok: true, factor: 'totp' });
    // The same code on the two other instances, and the confirming code (an older step) anywhere: replays.
    for (const [s, code] of [[a, now], [b, now], [a, totpCode(secret, -1)]] as const) {
      const replay = await call(s, 'POST', '/v1/mfa/verify', { user_id: id, code });
      expect(replay.status).toBe(401);
      expect(replay.body.error).toBe('invalid_code');
    }
  });

  it('50 concurrent uses of one backup code spread over the three instances: exactly one success', async () => {
    const { id, codes } = await enroll('bob', b, c);
    const code = codes[0] as string;
    const servers = [a, b, c];
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(servers[i % 3] as Serve, 'POST', '/v1/mfa/verify', { user_id: id, code })),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    // The others: refused as used (401), or throttled once five failures were counted (429). Never a 5xx.
    expect(statuses.every((s) => s === 200 || s === 401 || s === 429), JSON.stringify(statuses)).toBe(true);
    expect((await call(a, 'GET', `/v1/users/${id}/mfa`)).body.backup_codes_remaining).toBe(9);
  });

  it('failures counted on one instance throttle on the others', async () => {
    const { id, secret } = await enroll('carol', c, a);
    const wrong = totpCode(secret, 0) === '000000' ? '111111' : '000000';
    // backoff_after is 5 (the default): five failures through the first instance.
    for (let i = 0; i < 5; i++) {
      const r = await call(a, 'POST', '/v1/mfa/verify', { user_id: id, code: wrong });
      expect(r.status).toBe(401);
    }
    for (const s of [b, c]) {
      const r = await call(s, 'POST', '/v1/mfa/verify', { user_id: id, code: totpCode(secret, 0) });
      expect(r.status, JSON.stringify(r.body)).toBe(429);
      expect(r.body.error).toBe('too_many_attempts');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    const summary = await sql<{ consecutive: number }>(
      `SELECT consecutive FROM ${schema}.factor_failures WHERE subject = $1`,
      [`user:${id}:totp`],
    );
    expect(summary).toEqual([{ consecutive: 5 }]);
  });

  it('a device learned through one instance is known to the others', async () => {
    const { id, secret } = await enroll('dave', a, b);
    const context = { user: { id }, ip: IP, user_agent: UA, device_id: `laptop-${id}` };
    // A new device for an enrolled user: a prompt, with a challenge, on the first instance.
    const first = await call(a, 'POST', '/v1/decide', context);
    expect(first.body.decision).toBe('prompt_mfa');
    expect(first.body.risk.signals.new_device).toBe(true);
    // Completed on the second: the device becomes known there, with the MFA time.
    const done = await call(b, 'POST', '/v1/mfa/verify', { user_id: id, code: totpCode(secret, 0), challenge_id: first.body.challenge_id });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.challenge_completed).toBe(true);
    // The third knows the device and the recent MFA on it: no prompt.
    const again = await call(c, 'POST', '/v1/decide', context);
    expect(again.body.decision).toBe('allow');
    expect(again.body.risk.signals.new_device).toBe(false);
    // And a challenge completes once, whichever instance is asked second.
    const twice = await call(c, 'POST', '/v1/mfa/verify', { user_id: id, code: totpCode(secret, 1), challenge_id: first.body.challenge_id });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toBe('invalid_challenge');
  });

  describe.skipIf(NGINX === null && !IN_CI)('behind nginx (examples/postgres/nginx.conf)', () => {
    let nginx: ChildProcess | undefined;
    let site: string;
    let out = '';

    beforeAll(async () => {
      if (NGINX === null) throw new Error("nginx is not installed; CI=true requires it (.ci/run installs Debian's nginx)");
      const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-balancer-'));
      dirs.push(dir);
      chmodSync(dir, 0o755);
      const prefix = join(dir, 'nginx');
      mkdirSync(join(prefix, 'logs'), { recursive: true });
      const port = await freePort();
      site = `http://127.0.0.1:${port}`;
      const values: Record<string, string> = {
        LISTEN: `127.0.0.1:${port}`,
        INSTANCE_1: `127.0.0.1:${a.port}`,
        INSTANCE_2: `127.0.0.1:${b.port}`,
        INSTANCE_3: `127.0.0.1:${c.port}`,
        LOG_DIR: join(prefix, 'logs'),
      };
      // As envsubst would fill it: every ${NAME} placeholder, and nothing else.
      const conf = readFileSync('examples/postgres/nginx.conf', 'utf8').replace(/\$\{([A-Z_0-9]+)\}/g, (whole, name: string) => {
        const v = values[name];
        if (v === undefined) throw new Error(`examples/postgres/nginx.conf: no value for ${whole}`);
        return v;
      });
      writeFileSync(join(dir, 'nginx.conf'), conf);
      nginx = spawn(NGINX, ['-e', 'stderr', '-p', prefix, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(prefix, 'nginx.pid')}; error_log stderr warn;`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      nginx.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      nginx.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('nginx to listen', async () => {
        if (nginx?.exitCode !== null) throw new Error(`nginx exited with ${nginx?.exitCode}:\n${out}`);
        return fetch(`${site}/healthz`).then((r) => (r.ok ? true : undefined), () => undefined);
      }, 20_000);
    }, 30_000);

    afterAll(async () => {
      if (nginx && nginx.exitCode === null) {
        const exited = new Promise((r) => nginx?.once('exit', r));
        nginx.kill('SIGQUIT');
        await exited;
      }
    });

    it('spreads one user over the three instances, and every factor rule holds through it', async () => {
      const balancer = { base: site } as Serve;
      const { id, secret, codes } = await enroll('erin', balancer, balancer);
      const verified = await call(balancer, 'POST', '/v1/mfa/verify', { user_id: id, code: totpCode(secret, 0) });
      expect(verified.status).toBe(200);
      expect((await call(balancer, 'POST', '/v1/mfa/verify', { user_id: id, code: totpCode(secret, 0) })).status).toBe(401);
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => call(balancer, 'POST', '/v1/mfa/verify', { user_id: id, code: codes[1] })),
      );
      expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
      expect(answers.every((r) => [200, 401, 429].includes(r.status))).toBe(true);
      // Round robin reached every instance: each logged audit events for this user.
      await sleep(200);
      for (const s of [a, b, c]) {
        expect(existsSync(s.decisionLog)).toBe(true);
        expect(readFileSync(s.decisionLog, 'utf8')).toContain(id);
      }
    });
  });
});
