// POST /v1/decide and GET /healthz through Hono in-process, on a real SQLite store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../src/http/body.js';
import { KEYS, startService, type TestService } from './helpers/app.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
let service: TestService;
let app: TestService['app'];

beforeAll(() => {
  service = startService();
  app = service.app;
});

afterAll(async () => {
  // None of the bad inputs below may reach the 500 handler.
  expect(service.unexpected).toEqual([]);
  await service.close();
});

const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  app.request('/v1/decide', { method: 'POST', body, headers: { authorization: `Bearer ${KEYS.decide}`, ...headers } });

describe('POST /v1/decide', () => {
  it('answers a decision with reasons, risk, enrollment, policy version and ids', async () => {
    const res = await post(JSON.stringify({ user: { id: 'alice' }, ip: '81.2.69.142', user_agent: CHROME, action: 'payment.refund' }));
    expect(res.status).toBe(200);
    const d = (await res.json()) as any;
    expect(d).toMatchObject({
      decision: 'require_mfa',
      enrollment: { enrolled: false, allowed_now: true },
      policy: { version: expect.stringMatching(/^[0-9a-f]{64}$/) },
      decision_id: expect.any(String),
      challenge_id: expect.any(String),
    });
    expect(d.reasons.map((r: { rule: string }) => r.rule)).toEqual(['new_device', 'new_location', 'sensitive_action']);
    expect(d.risk.signals.first_login).toBe(true);
  });

  it('accepts IPv6 and a null IP', async () => {
    expect((await post(JSON.stringify({ user: { id: 'v6' }, ip: '2a00:1450:4001:81b::200e' }))).status).toBe(200);
    expect((await post(JSON.stringify({ user: { id: 'noip' }, ip: null }))).status).toBe(200);
  });

  const bad: Array<[string, string, Record<string, string> | undefined, number, string]> = [
    ['malformed JSON', '{"user":', undefined, 400, 'malformed_json'],
    ['a wrong content type', JSON.stringify({ user: { id: 'a' } }), { 'content-type': 'text/plain' }, 415, 'unsupported_media_type'],
    ['no content type', JSON.stringify({ user: { id: 'a' } }), {}, 415, 'unsupported_media_type'],
    ['a missing user', JSON.stringify({ ip: '1.2.3.4' }), undefined, 400, 'validation_failed'],
    ['an unknown key', JSON.stringify({ user: { id: 'a' }, usr: 1 }), undefined, 400, 'validation_failed'],
    ['an empty user id', JSON.stringify({ user: { id: '' } }), undefined, 400, 'validation_failed'],
    ['a malformed IP', JSON.stringify({ user: { id: 'a' }, ip: '999.1.1.1' }), undefined, 400, 'validation_failed'],
    ['a wrong type', JSON.stringify({ user: { id: 'a' }, sensitive: 'yes' }), undefined, 400, 'validation_failed'],
    ['an array body', '[]', undefined, 400, 'validation_failed'],
    ['a JSON null body', 'null', undefined, 400, 'validation_failed'],
    ['an over-long user agent', JSON.stringify({ user: { id: 'a' }, user_agent: 'x'.repeat(5000) }), undefined, 400, 'validation_failed'],
    ['a body over 16 KiB', JSON.stringify({ user: { id: 'a' }, attributes: { pad: 'x'.repeat(MAX_BODY_BYTES) } }), undefined, 413, 'payload_too_large'],
  ];
  for (const [name, body, headers, status, code] of bad) {
    it(`refuses ${name} with ${status} ${code}`, async () => {
      const res = await post(body, headers);
      expect(res.status).toBe(status);
      const err = (await res.json()) as any;
      expect(err).toMatchObject({ error: code, message: expect.any(String), details: expect.any(Array) });
    });
  }

  it('lists each schema violation in details', async () => {
    const res = await post(JSON.stringify({ user: { id: '', type: 'robot' }, ip: 'nope', extra: true }));
    const err = (await res.json()) as any;
    expect(err.details.map((d: { path: string }) => d.path).sort()).toEqual(['/extra', '/ip', '/user/id', '/user/type']);
  });

  it('answers 404 JSON for an unknown route', async () => {
    const res = await app.request('/v1/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found' });
  });
});

describe('GET /healthz', () => {
  it('is ok and names the policy version', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', policy: { version: expect.any(String) } });
  });
});
