// Every endpoint through Hono in-process on a real SQLite store: success, each documented error, API-key
// scopes, and metrics moving. Responses are checked against their schemas in the OpenAPI document.
import * as OTPAuth from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildOpenApi } from '../src/http/openapi.js';
import { honoPath, ROUTES } from '../src/http/route-table.js';
import { validator } from '../src/schemas.js';
import { call, KEYS, startService, type TestService } from './helpers/app.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const STEP = 30_000;
let s: TestService;

beforeEach(() => {
  s = startService();
});
afterEach(async () => {
  expect(s.unexpected).toEqual([]);
  await s.close();
});

const codeAt = (secret: string, t: number) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: t });

// Each response body is validated against its schema file, the one the OpenAPI document is built from.
function expectSchema(name: string, value: unknown) {
  const v = validator(name);
  expect(v(value), `${name}: ${JSON.stringify(v.errors)}`).toBe(true);
}

async function json(res: Response, status: number, schema?: string) {
  const body = (await res.json()) as Record<string, any>;
  expect(res.status, JSON.stringify(body)).toBe(status);
  if (schema) expectSchema(schema, body);
  else if (status >= 400) expectSchema('error', body);
  return body;
}

async function enroll(user = 'alice') {
  const started = await json(await call(s, 'POST', '/v1/mfa/totp/enroll', { user_id: user }), 200, 'enroll-response');
  const confirmed = await json(await call(s, 'POST', '/v1/mfa/totp/confirm', { user_id: user, code: codeAt(started.secret, s.clock.now) }), 200, 'confirm-response');
  return { secret: started.secret as string, backup: confirmed.backup_codes as string[] };
}

describe('API keys and scopes', () => {
  it('answers 401 without a key or with an unknown one, and 403 for a key without the scope', async () => {
    const noKey = await s.app.request('/v1/decide', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('www-authenticate')).toMatch(/^Bearer realm="mfa-gate"/);
    await json(noKey, 401);
    await json(await call(s, 'POST', '/v1/decide', { user: { id: 'a' } }, 'test-key-unknown-00000000000000'), 401);
    await json(await call(s, 'POST', '/v1/decide', { user: { id: 'a' } }, KEYS.mfa), 403);
    await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'a', code: '123456' }, KEYS.decide), 403);
    await json(await call(s, 'POST', '/v1/recovery', { user_id: 'a', verified_by: 'x', verification: 'y' }, KEYS.mfa), 403);
    await json(await call(s, 'POST', '/v1/admin/users/a/unlock', undefined, KEYS.mfa), 403);
    await json(await call(s, 'GET', '/v1/users/a/mfa', undefined, KEYS.decide), 403);
  });

  it('lets every route that needs a key refuse a request without one', async () => {
    for (const r of ROUTES.filter((route) => route.scope !== null)) {
      const path = r.path.replace(/\{[^}]+\}/g, 'x');
      const res = await s.app.request(path, { method: r.method.toUpperCase(), body: r.method === 'get' ? undefined : '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
    }
  });

  it('the API document lists every route the app serves, the MFA page included, and nothing else', () => {
    const served = new Set<string>();
    for (const { method, path } of s.app.routes) {
      // ALL entries are middleware, except the gateway hooks: they take any method and are documented as GET
      // (ext-authz with its path appended as {path}).
      if (method === 'ALL' && !path.startsWith('/v1/authz/')) continue;
      served.add(method === 'ALL' ? `get ${path.replace(/\/\*$/, '/:path')}` : `${method.toLowerCase()} ${path}`);
    }
    const documented = Object.entries(buildOpenApi().paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${honoPath(path)}`),
    );
    expect([...served].sort()).toEqual(documented.sort());
    expect(documented).toEqual(expect.arrayContaining(['get /mfa', 'post /mfa']));
  });

  it('serves health, metrics and the API document without a key', async () => {
    await json(await s.app.request('/healthz'), 200, 'health-response');
    await json(await s.app.request('/readyz'), 200, 'ready-response');
    expect((await s.app.request('/metrics')).status).toBe(200);
    expect((await s.app.request('/openapi.json')).status).toBe(200);
  });
});

describe('POST /v1/decide', () => {
  it('answers a decision that matches its schema and logs it', async () => {
    const d = await json(await call(s, 'POST', '/v1/decide', { user: { id: 'alice' }, ip: '81.2.69.142', user_agent: CHROME, action: 'payment.refund' }, KEYS.decide), 200, 'decision');
    expect(d.decision).toBe('require_mfa');
    expect(s.decisions).toHaveLength(1);
    expect(s.decisions[0]?.decision.decision_id).toBe(d.decision_id);
  });

  it('never takes the IP from X-Forwarded-For without a trusted proxy', async () => {
    const res = await s.app.request('/v1/decide', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.all}`, 'content-type': 'application/json', 'x-forwarded-for': '81.2.69.142' },
      body: JSON.stringify({ user: { id: 'alice' } }),
    });
    expect(res.status).toBe(200);
    expect(s.decisions[0]?.context.ip).toBeNull();
  });
});

describe('the factor API', () => {
  it('enrolls, confirms, verifies for a challenge and completes it', async () => {
    const { secret, backup } = await enroll();
    expect(backup).toHaveLength(10);
    s.clock.now += 2 * STEP;
    const d = await json(await call(s, 'POST', '/v1/decide', { user: { id: 'alice' }, ip: '81.2.69.142', user_agent: CHROME, device_id: 'laptop' }), 200, 'decision');
    expect(d.decision).toBe('prompt_mfa');
    const v = await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: codeAt(secret, s.clock.now), challenge_id: d.challenge_id }), 200, 'verify-response');
    expect(v).toEqual({ ok: true, factor: 'totp', backup_codes_remaining: 10, challenge_completed: true });
    const again = await json(await call(s, 'POST', '/v1/decide', { user: { id: 'alice' }, ip: '81.2.69.142', user_agent: CHROME, device_id: 'laptop' }), 200, 'decision');
    expect(again.decision).toBe('allow');
  });

  it('answers 401 invalid_code with attempts left, then 429 with Retry-After, then 423 when locked', async () => {
    const { secret } = await enroll();
    const wrong = String((Number(codeAt(secret, s.clock.now)) + 1) % 1_000_000).padStart(6, '0');
    const first = await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: wrong }), 401);
    expect(first).toMatchObject({ error: 'invalid_code', attempts_remaining: 99 });
    for (let i = 0; i < 4; i++) await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: wrong });
    const throttled = await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: wrong });
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(await json(throttled, 429)).toMatchObject({ error: 'too_many_attempts', retry_after_s: 1 });
    for (let i = 0; i < 95; i++) {
      s.clock.now += 16 * 60 * 1000;
      await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: wrong });
    }
    s.clock.now += 16 * 60 * 1000;
    expect(await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: codeAt(secret, s.clock.now) }), 423)).toMatchObject({ error: 'factor_locked' });
    await json(await call(s, 'POST', '/v1/admin/users/alice/unlock', undefined, KEYS.admin), 200, 'unlock-response');
    await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: codeAt(secret, s.clock.now) }), 200, 'verify-response');
    const text = await (await s.app.request('/metrics')).text();
    expect(text).toMatch(/mfa_gate_lockouts_total\{factor="totp"\} 1/);
    expect(text).toMatch(/mfa_gate_verifications_total\{factor="totp",result="invalid"\} [1-9]/);
  }, 30_000);

  it('answers the documented errors of enroll, confirm and verify', async () => {
    await json(await call(s, 'POST', '/v1/mfa/totp/confirm', { user_id: 'nobody', code: '123456' }), 409);
    await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'nobody', code: '123456' }), 409);
    await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'nobody', code: '123456', challenge_id: 'nope' }), 400);
    await json(await call(s, 'POST', '/v1/mfa/totp/enroll', { user_id: 'alice', issuer: 'bad:issuer' }), 400);
    await enroll();
    expect(await json(await call(s, 'POST', '/v1/mfa/totp/enroll', { user_id: 'alice' }), 403)).toMatchObject({ error: 'factor_required' });
  });

  it('regenerates backup codes with a current factor only', async () => {
    const { secret, backup } = await enroll();
    await json(await call(s, 'POST', '/v1/mfa/backup-codes/regenerate', { user_id: 'alice', code: 'AAAA-AAAA-AAAA' }), 401);
    s.clock.now += STEP;
    const fresh = await json(await call(s, 'POST', '/v1/mfa/backup-codes/regenerate', { user_id: 'alice', code: codeAt(secret, s.clock.now) }), 200, 'backup-codes-response');
    expect(fresh.backup_codes).toHaveLength(10);
    await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: backup[0] }), 401);
  });
});

describe('users, devices, recovery, admin', () => {
  it('shows a user\'s MFA state, forgets a device, 404s an unknown user or device', async () => {
    await enroll();
    await s.store.recordLogin({ user_id: 'alice', device_key: 'laptop/1', location_key: 'GB', ip: '81.2.69.142', time: s.clock.now, mfa: true });
    const state = await json(await call(s, 'GET', '/v1/users/alice/mfa'), 200, 'user-mfa-response');
    expect(state).toMatchObject({ user_id: 'alice', enrolled: true, totp: { active: true, pending: false }, backup_codes_remaining: 10, locked: { totp: false, backup_code: false } });
    await json(await call(s, 'GET', '/v1/users/nobody/mfa'), 404);
    expect(await json(await call(s, 'DELETE', '/v1/users/alice/devices/nope'), 404)).toMatchObject({ error: 'device_not_found' });
    const key = (state.known_devices as { key: string }[])[0]?.key as string;
    expect(key).toBe('laptop/1');
    await json(await call(s, 'DELETE', `/v1/users/alice/devices/${encodeURIComponent(key)}`), 200, 'device-deleted-response');
    expect((await json(await call(s, 'GET', '/v1/users/alice/mfa'), 200, 'user-mfa-response')).known_devices).toEqual([]);
    expect(await json(await call(s, 'GET', `/v1/users/${'x'.repeat(300)}/mfa`), 400)).toMatchObject({ error: 'validation_failed' });
  });

  it('opens a recovery (admin), lets the user cancel it with a factor, 404s it afterwards', async () => {
    const { backup } = await enroll();
    const opened = await json(await call(s, 'POST', '/v1/recovery', { user_id: 'alice', verified_by: 'admin-1', verification: 'passport' }, KEYS.admin), 201, 'recovery');
    expect(Date.parse(opened.effective_at) - s.clock.now).toBe(24 * 3600 * 1000);
    await json(await call(s, 'DELETE', `/v1/recovery/${opened.id}`, { code: 'AAAA-AAAA-AAAA' }), 401);
    const cancelled = await json(await call(s, 'DELETE', `/v1/recovery/${opened.id}`, { code: backup[0] }), 200, 'recovery');
    expect(cancelled.cancelled_at).not.toBeNull();
    await json(await call(s, 'DELETE', `/v1/recovery/${opened.id}`, { code: backup[1] }), 404);
    await json(await call(s, 'POST', '/v1/recovery', { user_id: 'nobody', verified_by: 'a', verification: 'b' }, KEYS.admin), 404);
  });

  it('approves a first enrollment that a risky context refused', async () => {
    await s.store.recordLogin({ user_id: 'bob', device_key: 'bob-laptop', location_key: 'GB', ip: '81.2.69.142', time: s.clock.now - 86_400_000, mfa: false });
    await json(await call(s, 'POST', '/v1/mfa/totp/enroll', { user_id: 'bob' }), 403);
    await json(await call(s, 'POST', '/v1/admin/users/bob/approve-enrollment', { approved_by: 'helpdesk' }, KEYS.admin), 200, 'approve-enrollment-response');
    await json(await call(s, 'POST', '/v1/mfa/totp/enroll', { user_id: 'bob' }), 200, 'enroll-response');
  });
});

describe('POST /v1/admin/users/{id}/unlock takes no body', () => {
  const unlock = (init: { body?: string; headers?: Record<string, string> } = {}) =>
    s.app.request('/v1/admin/users/alice/unlock', { method: 'POST', ...init, headers: { authorization: `Bearer ${KEYS.admin}`, ...init.headers } });
  const unlocked = () => s.audit.filter((e) => e.event === 'factor.unlocked').length;

  it('accepts no body, an empty one whatever its type, and an empty JSON object', async () => {
    await json(await unlock(), 200, 'unlock-response');
    await json(await unlock({ body: '', headers: { 'content-type': 'application/json' } }), 200, 'unlock-response');
    await json(await unlock({ body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 200, 'unlock-response');
    await json(await unlock({ body: '{}', headers: { 'content-type': 'application/json' } }), 200, 'unlock-response');
    await json(await unlock({ body: ' { } ', headers: { 'content-type': 'application/json; charset=utf-8' } }), 200, 'unlock-response');
    expect(unlocked()).toBe(5);
  });

  it('refuses any other body with the error envelope, and unlocks nothing', async () => {
    const ct = { 'content-type': 'application/json' };
    const field = await json(await unlock({ body: '{"factor":"totp"}', headers: ct }), 400);
    expect(field).toMatchObject({ error: 'validation_failed', details: [{ path: '/factor' }] });
    expect(await json(await unlock({ body: '[]', headers: ct }), 400)).toMatchObject({ error: 'validation_failed' });
    expect(await json(await unlock({ body: 'null', headers: ct }), 400)).toMatchObject({ error: 'validation_failed' });
    expect(await json(await unlock({ body: '{', headers: ct }), 400)).toMatchObject({ error: 'malformed_json' });
    expect(await json(await unlock({ body: ' ', headers: ct }), 400)).toMatchObject({ error: 'malformed_json' });
    expect(await json(await unlock({ body: 'factor=totp', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415)).toMatchObject({
      error: 'unsupported_media_type',
    });
    expect(await json(await unlock({ body: '{}' }), 415)).toMatchObject({ error: 'unsupported_media_type' });
    expect(await json(await unlock({ body: `{"pad":"${'x'.repeat(17_000)}"}`, headers: ct }), 413)).toMatchObject({ error: 'payload_too_large' });
    expect(unlocked()).toBe(0);
  });
});

describe('readiness', () => {
  it('reports 503 when the store is closed, and factor calls answer 503, never a success', async () => {
    await s.store.close();
    const ready = await json(await s.app.request('/readyz'), 503, 'ready-response');
    expect(ready.checks.store.ok).toBe(false);
    const res = await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: '123456' });
    expect(res.status).toBe(503);
    const d = await json(await call(s, 'POST', '/v1/decide', { user: { id: 'alice' } }), 200, 'decision');
    expect(d.reasons[0].rule).toBe('store_unavailable');
  });
});
