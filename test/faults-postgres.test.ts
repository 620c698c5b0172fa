// Issue #6, "Faults": the database goes away under a running server. A TCP proxy stands between the server
// and PostgreSQL, so the test can make the database unreachable for this server alone (refused connections,
// sockets dropped) and bring it back, and can terminate exactly this server's backends with
// pg_terminate_backend. An outage must never open the door: decisions take the policy's fail mode,
// verification answers 503 (never a success), /readyz 503; and service resumes by itself afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, PostgresProxy, dropSchema, freshSchema, postgresAvailable, sql, withSchema } from './helpers/postgres.js';
import { API_KEY, awayFromStepEdge as awayFromEdge, callApi as call, freePort, startServe, totpCode, waitFor, type Serve } from './helpers/serve.js';

const available = await postgresAvailable();
const SECRET_KEY = Buffer.alloc(32, 43).toString('base64');
const POLICY = readFileSync(join(import.meta.dirname, '..', 'policies', 'default.yaml'), 'utf8');
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';



describe.skipIf(!available)('PostgreSQL faults under a running server', () => {
  const schema = freshSchema('mfa_gate_faults');
  const proxy = new PostgresProxy();
  let dir: string;
  let server: Serve;
  const id = `erin-${schema.slice(-8)}`;
  let secret: string;
  let backupCodes: string[];
  const context = { user: { id }, ip: '81.2.69.142', user_agent: UA, device_id: 'erin-laptop' };

  beforeAll(async () => {
    await proxy.start();
    dir = mkdtempSync(join(tmpdir(), 'mfa-gate-faults-'));
    server = await startServe({
      dir,
      policy: POLICY,
      args: ['--database-url', withSchema(PG_URL, schema, { port: proxy.port })],
      env: { MFA_GATE_SECRET_KEY: SECRET_KEY },
    });
    // An enrolled user whose laptop is known with a recent MFA: normally `allow`.
    const started = await call(server, 'POST', '/v1/mfa/totp/enroll', { user_id: id });
    secret = started.body.secret;
    await awayFromEdge(8000);
    const confirmed = await call(server, 'POST', '/v1/mfa/totp/confirm', { user_id: id, code: totpCode(secret, -1) });
    expect(confirmed.status).toBe(200);
    backupCodes = confirmed.body.backup_codes;
    const prompt = await call(server, 'POST', '/v1/decide', context);
    expect(prompt.body.decision).toBe('prompt_mfa');
    const done = await call(server, 'POST', '/v1/mfa/verify', { user_id: id, code: backupCodes[0], challenge_id: prompt.body.challenge_id });
    expect(done.status).toBe(200);
    expect((await call(server, 'POST', '/v1/decide', context)).body.decision).toBe('allow');
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await proxy.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('unreachable: decisions take the fail mode, verification is 503 and never a success, /readyz is 503; all resume when it is back', async () => {
    await proxy.cut();

    const decided = await call(server, 'POST', '/v1/decide', context);
    expect(decided.status).toBe(200);
    expect(decided.body.decision).toBe('require_mfa');
    expect(decided.body.reasons).toEqual([expect.objectContaining({ rule: 'store_unavailable', decision: 'require_mfa', enforced: true })]);
    expect(decided.body.challenge_id).toBeUndefined();

    await awayFromEdge(8000);
    const good = totpCode(secret, 0);
    for (const code of [good, backupCodes[1]]) {
      const verified = await call(server, 'POST', '/v1/mfa/verify', { user_id: id, code });
      expect(verified.status).toBe(503);
      expect(verified.body.error).toBe('store_unavailable');
    }
    const enroll = await call(server, 'POST', '/v1/mfa/totp/enroll', { user_id: `${id}-other` });
    expect(enroll.status).toBe(503);

    const ready = await call(server, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.store.ok).toBe(false);

    await proxy.restore();
    await waitFor('/readyz to answer 200 again', async () => ((await call(server, 'GET', '/readyz')).status === 200 ? true : undefined), 15_000);
    expect((await call(server, 'POST', '/v1/decide', context)).body.decision).toBe('allow');
    // The codes refused during the outage were never consumed: they work now.
    const verified = await call(server, 'POST', '/v1/mfa/verify', { user_id: id, code: good });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect((await call(server, 'POST', '/v1/mfa/verify', { user_id: id, code: backupCodes[1] })).status).toBe(200);
  }, 60_000);

  it("follows the policy's fail mode: deny when the policy says so", async () => {
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, POLICY.replace('mfa_enforcement:\n', 'mfa_enforcement:\n  fail_mode: deny\n'));
    const before = (await call(server, 'GET', '/healthz')).body.policy.version;
    await waitFor('the edited policy to load', async () => ((await call(server, 'GET', '/healthz')).body.policy.version !== before ? true : undefined));
    try {
      await proxy.cut();
      const decided = await call(server, 'POST', '/v1/decide', context);
      expect(decided.body.decision).toBe('deny');
      expect(decided.body.reasons[0]).toMatchObject({ rule: 'store_unavailable', decision: 'deny' });
    } finally {
      await proxy.restore();
      writeFileSync(policyFile, POLICY);
    }
    await waitFor('/readyz to answer 200 again', async () => ((await call(server, 'GET', '/readyz')).status === 200 ? true : undefined), 15_000);
  }, 30_000);

  it("terminated backends (pg_terminate_backend): no answer is a 500 or a wrong success, and service resumes by itself", async () => {
    // Warm the pool: several connections in use.
    await Promise.all(Array.from({ length: 10 }, () => call(server, 'POST', '/v1/decide', context)));
    const ports = proxy.upstreamPorts();
    expect(ports.length).toBeGreaterThan(0);
    const killed = await sql<{ pid: number }>(
      `SELECT pg_terminate_backend(pid) AS ok, pid FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND datname = 'test'`,
      [ports],
    );
    expect(killed.length).toBeGreaterThan(0);

    const answers = await Promise.all([
      ...Array.from({ length: 20 }, () => call(server, 'POST', '/v1/decide', context)),
      call(server, 'POST', '/v1/mfa/verify', { user_id: id, code: '000000' }),
      call(server, 'GET', '/readyz'),
    ]);
    for (const r of answers.slice(0, 20)) {
      expect(r.status).toBe(200);
      // Either the real answer (a fresh connection got it) or the fail mode: never anything more permissive.
      if (r.body.decision !== 'allow') expect(r.body.reasons[0].rule).toBe('store_unavailable');
    }
    expect([401, 503]).toContain(answers[20]!.status);
    expect([200, 503]).toContain(answers[21]!.status);

    await waitFor('decisions to be served from the database again', async () => {
      const r = await call(server, 'POST', '/v1/decide', context);
      return r.body.decision === 'allow' ? true : undefined;
    }, 15_000);
    expect((await call(server, 'GET', '/readyz')).status).toBe(200);
  }, 30_000);

  it('a database that does not answer at start is a clear start-up error (exit 1), not a server that answers wrongly', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['bin/mfa-gate.js', 'serve', '--port', '0', '--data-dir', join(dir, 'other'), '--database-url', `postgres://postgres@127.0.0.1:${port}/test`], {
      env: { ...process.env, MFA_GATE_SECRET_KEY: SECRET_KEY, MFA_GATE_API_KEYS: API_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(out).toMatch(/mfa-gate serve: .*PostgreSQL/i);
    expect(out).not.toMatch(/listening on/);
  }, 30_000);
});
