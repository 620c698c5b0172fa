// Issue #7 through the HTTP API: codes by message and push approval, on the real SQLite store, with a REAL local
// webhook receiver as the operator's sender. The receiver checks every delivery's signature the way the sender's
// documentation tells receivers to (verifyWebhookSignature over the raw body) and records the messages; the tests
// read codes and push ids from what was delivered, never from the store. Every answer is checked against its
// schema (the files the OpenAPI document is built from).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildOpenApi } from '../src/http/openapi.js';
import { validator } from '../src/schemas.js';
import { createSender, HEADER_SIGNATURE, HEADER_TIMESTAMP, verifyWebhookSignature, type OutboundMessage } from '../src/senders/index.js';
import { userSubject } from '../src/store/subjects.js';
import { call, startService, type TestService } from './helpers/app.js';

const SECRET = 'receiver-secret-0123456789abcdef-0123456789';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const IP = '81.2.69.142';
const CODE_TTL = 5 * 60_000;
const PUSH_TTL = 2 * 60_000;

const POLICY = `
mfa_enforcement:
  all_users: true
  grace_period: 30_days
  exclude_service_accounts: true
  risk_based_prompting:
    - new_device: prompt_mfa
    - new_location: prompt_mfa
    - sensitive_action: require_mfa
recovery:
  backup_codes: 10
  admin_recovery: "verify_with_id"
  recovery_timeout: 24_hours
factors:
  message:
    enabled: true
    code_ttl: 5_minutes
    satisfies: [prompt_mfa]
    max_sends: 3
    send_window: 15_minutes
  push:
    enabled: true
    ttl: 2_minutes
    max_unanswered: 3
    unanswered_window: 15_minutes
notifications:
  user: [factor_enrolled, new_device_login]
  security_team: []
`;

// --- the webhook receiver ---

interface Receiver {
  url: string;
  messages: OutboundMessage[];
  /** Deliveries refused because their signature did not verify (none expected). */
  forged: number;
  /** While set, every delivery is answered with this status (the receiver is "down"). */
  failWith: number | null;
  server: Server;
}

async function startReceiver(): Promise<Receiver> {
  const r: Receiver = { url: '', messages: [], forged: 0, failWith: null, server: createServer() };
  const seen = new Set<string>();
  r.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const genuine = verifyWebhookSignature({
        secret: SECRET,
        timestamp: req.headers[HEADER_TIMESTAMP.toLowerCase()] as string | undefined,
        signature: req.headers[HEADER_SIGNATURE.toLowerCase()] as string | undefined,
        body: raw,
      });
      if (!genuine) {
        r.forged++;
        res.writeHead(401).end();
        return;
      }
      if (r.failWith !== null) {
        res.writeHead(r.failWith).end();
        return;
      }
      const message = JSON.parse(raw.toString('utf8')) as OutboundMessage;
      if (!seen.has(message.id)) {
        seen.add(message.id);
        r.messages.push(message);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hook`;
  return r;
}

let receiver: Receiver;
let s: TestService;

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await new Promise<void>((resolve) => receiver.server.close(() => resolve()));
});

function service(policy: string = POLICY): TestService {
  return startService({ policy, sender: createSender({ kind: 'webhook', url: receiver.url, secret: SECRET, retries: 0, timeoutMs: 2000 }) });
}

beforeEach(() => {
  receiver.messages.length = 0;
  receiver.failWith = null;
  s = service();
});
afterEach(async () => {
  await s.notifier.drain();
  expect(s.unexpected).toEqual([]);
  expect(receiver.forged).toBe(0);
  await s.close();
});

// --- helpers ---

async function json(res: Response, status: number, schema?: string) {
  const body = (await res.json()) as Record<string, any>;
  expect(res.status, JSON.stringify(body)).toBe(status);
  const name = schema ?? 'error';
  const v = validator(name);
  expect(v(body), `${name}: ${JSON.stringify(v.errors)}`).toBe(true);
  return body;
}

const delivered = (kind: OutboundMessage['kind'], user = 'alice') => receiver.messages.filter((m) => m.kind === kind && m.user_id === user);
/** The code of the last otp_code delivered to the user (read off the delivery, as the user would). */
function lastCode(user = 'alice'): string {
  const m = delivered('otp_code', user).at(-1);
  expect(m, 'no code was delivered').toBeDefined();
  return m!.data.code as string;
}
const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

async function decide(user: string, device: string, extra: Record<string, unknown> = {}) {
  return json(await call(s, 'POST', '/v1/decide', { user: { id: user }, ip: IP, user_agent: CHROME, device_id: device, ...extra }), 200, 'decision');
}

/** Binds and confirms `address` (email) for a user without a factor: the first factor, with backup codes. */
async function enrollMessage(user = 'alice', address = 'alice@example.com') {
  await json(await call(s, 'POST', '/v1/mfa/message/enroll', { user_id: user, channel: 'email', address, ip: IP }), 200, 'message-enroll-response');
  const confirmed = await json(await call(s, 'POST', '/v1/mfa/message/confirm', { user_id: user, code: lastCode(user), ip: IP }), 200, 'message-confirm-response');
  return confirmed.backup_codes as string[];
}

interface Device {
  id: string;
  privateKey: KeyObject;
  publicKey: string;
  /** Signs an answer as a device must: over `mfa-gate/push/v1\n<id>\n<decision>\n<number>`. */
  sign(pushId: string, decision: 'approve' | 'deny', number: number): string;
}

function device(id: string, kind: 'ed25519' | 'p256' | 'p256-raw' = 'ed25519'): Device {
  const pair = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    id,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    sign(pushId, decision, number) {
      const payload = Buffer.from(`mfa-gate/push/v1\n${pushId}\n${decision}\n${number}`, 'utf8');
      if (kind === 'ed25519') return sign(null, payload, pair.privateKey).toString('base64');
      if (kind === 'p256') return sign('sha256', payload, pair.privateKey).toString('base64');
      return sign('sha256', payload, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    },
  };
}

async function register(d: Device, user = 'alice', extra: Record<string, unknown> = {}) {
  return json(
    await call(s, 'POST', '/v1/mfa/push-devices', { user_id: user, device_id: d.id, public_key: d.publicKey, name: `${d.id} (test)`, ...extra }),
    200,
    'push-device-response',
  );
}

/** Sends a push; answers the API's answer and the push id as delivered to the device. */
async function push(body: Record<string, unknown> = {}, user = 'alice') {
  const started = await json(await call(s, 'POST', '/v1/mfa/push', { user_id: user, ...body }), 200, 'push-start-response');
  const m = delivered('push_request', user).at(-1)!;
  expect(m.data.push_id).toBe(started.id);
  return { started, id: m.data.push_id as string, number: started.number as number, message: m };
}

const respond = (id: string, body: Record<string, unknown>) => call(s, 'POST', `/v1/mfa/push/${id}/respond`, body);
const answer = (d: Device, id: string, decision: 'approve' | 'deny', number: number) =>
  respond(id, { device_id: d.id, decision, number, signature: d.sign(id, decision, number) });

// --- codes by message ---

describe('codes by message', () => {
  it('enroll, confirm (backup codes for a first factor), send for a challenge, verify with factor message completes it', async () => {
    const started = await json(
      await call(s, 'POST', '/v1/mfa/message/enroll', { user_id: 'alice', channel: 'email', address: 'Alice@Example.COM', ip: IP }),
      200,
      'message-enroll-response',
    );
    expect(started).toEqual({ pending: true, channel: 'email', to: 'A•••@example.com', expires_at: new Date(s.clock.now + CODE_TTL).toISOString() });
    const sent = delivered('otp_code');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ audience: 'user', to: { channel: 'email', address: 'Alice@example.com' }, data: { purpose: 'enroll' } });
    expect(sent[0]!.data.code).toMatch(/^\d{6}$/);
    expect(sent[0]!.text).toContain(sent[0]!.data.code as string);

    const confirmed = await json(await call(s, 'POST', '/v1/mfa/message/confirm', { user_id: 'alice', code: lastCode(), ip: IP }), 200, 'message-confirm-response');
    expect(confirmed).toMatchObject({ enrolled: true, channel: 'email', to: 'A•••@example.com' });
    expect(confirmed.backup_codes).toHaveLength(10);

    // The summary shows the destination masked: never the address, never its ciphertext.
    const res = await call(s, 'GET', '/v1/users/alice/mfa');
    const text = await res.clone().text();
    const state = await json(res, 200, 'user-mfa-response');
    expect(state).toMatchObject({
      enrolled: true,
      message_destination: { channel: 'email', to: 'A•••@example.com', confirmed_at: new Date(s.clock.now).toISOString() },
      push_devices: [],
      backup_codes_remaining: 10,
    });
    const stored = await s.store.getMessageDestination('alice');
    expect(stored?.address).toBeTruthy();
    expect(text).not.toContain(stored!.address);
    expect(text).not.toContain('Alice@');

    const d = await decide('alice', 'alice-laptop');
    expect(d.decision).toBe('prompt_mfa');
    expect(d.factors).toContain('message');
    const code = await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice', challenge_id: d.challenge_id, ip: IP }), 200, 'message-send-response');
    expect(code).toEqual({ sent: true, channel: 'email', to: 'A•••@example.com', expires_at: new Date(s.clock.now + CODE_TTL).toISOString() });
    expect(delivered('otp_code').at(-1)).toMatchObject({ to: { channel: 'email', address: 'Alice@example.com' }, data: { purpose: 'verify' } });

    const v = await json(
      await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: lastCode(), factor: 'message', challenge_id: d.challenge_id, ip: IP }),
      200,
      'verify-response',
    );
    expect(v).toEqual({ ok: true, factor: 'message', backup_codes_remaining: 10, challenge_completed: true });
    expect((await decide('alice', 'alice-laptop')).decision).toBe('allow');
  });

  it('a code works only for the challenge it was sent for, once, and not after it expires', async () => {
    await enrollMessage();
    const c1 = (await decide('alice', 'phone-1')).challenge_id as string;
    const c2 = (await decide('alice', 'phone-2')).challenge_id as string;
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice', challenge_id: c1 }), 200, 'message-send-response');
    const code = lastCode();
    const verify = (body: Record<string, unknown>) => call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', factor: 'message', ...body });
    expect(await json(await verify({ code, challenge_id: c2 }), 401)).toMatchObject({ error: 'invalid_code' });
    expect(await json(await verify({ code }), 401)).toMatchObject({ error: 'invalid_code' });
    // without `factor`, a 6-digit code is a TOTP code: this user has none
    expect(await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code, challenge_id: c1 }), 409)).toMatchObject({ error: 'not_enrolled' });
    await json(await verify({ code, challenge_id: c1 }), 200, 'verify-response');

    // without a challenge: works without one only, and once
    s.clock.now += 1000;
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
    const plain = lastCode();
    expect(await json(await verify({ code: plain, challenge_id: c2 }), 401)).toMatchObject({ error: 'invalid_code' });
    expect(await json(await verify({ code: plain }), 200, 'verify-response')).toMatchObject({ factor: 'message', challenge_completed: false });
    expect(await json(await verify({ code: plain }), 401)).toMatchObject({ error: 'invalid_code' });

    // expiry (the policy's code_ttl, on the service's clock)
    s.clock.now += 15 * 60_000; // past the send window too
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
    const late = lastCode();
    s.clock.now += CODE_TTL;
    expect(await json(await verify({ code: late }), 401)).toMatchObject({ error: 'invalid_code' });
  });

  it('limits sends: the 4th code within the window is 429 too_many_sends with Retry-After, the next window sends again', async () => {
    await enrollMessage(); // the enrollment's code is the first send
    s.clock.now += 10_000;
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
    const before = receiver.messages.length;
    const refused = await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' });
    const body = await json(refused, 429);
    expect(body).toMatchObject({ error: 'too_many_sends' });
    expect(body.retry_after_s).toBe(15 * 60 - 10);
    expect(refused.headers.get('retry-after')).toBe(String(body.retry_after_s));
    expect(receiver.messages.length, 'nothing was sent').toBe(before);
    s.clock.now += body.retry_after_s * 1000;
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
  });

  it('throttles verification: after 5 wrong codes the next attempt is 429, the right code included', async () => {
    await enrollMessage();
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
    const code = lastCode();
    for (let i = 0; i < 5; i++) {
      const wrong = await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: otherCode(code), factor: 'message', ip: IP }), 401);
      expect(wrong).toMatchObject({ error: 'invalid_code', attempts_remaining: 99 - i });
    }
    const throttled = await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code, factor: 'message', ip: IP });
    expect(await json(throttled, 429)).toMatchObject({ error: 'too_many_attempts' });
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await s.store.getFailures(userSubject('alice', 'message'))).consecutive).toBe(5);
    // the other budgets are untouched
    expect((await s.store.getFailures(userSubject('alice', 'backup_code'))).consecutive).toBe(0);
  });

  it("refuses a code by message for a require_mfa decision's challenge (403 factor_not_allowed); decisions list message for prompt_mfa only", async () => {
    await enrollMessage();
    const prompt = await decide('alice', 'alice-laptop');
    expect(prompt.decision).toBe('prompt_mfa');
    expect(prompt.factors).toEqual(['totp', 'backup_code', 'push', 'message']);
    const stepUp = await decide('alice', 'alice-laptop', { action: 'payment.refund' });
    expect(stepUp.decision).toBe('require_mfa');
    expect(stepUp.factors).toEqual(['totp', 'backup_code', 'push']);

    const sent = receiver.messages.length;
    const refused = await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice', challenge_id: stepUp.challenge_id }), 403);
    expect(refused).toMatchObject({ error: 'factor_not_allowed' });
    expect(receiver.messages.length).toBe(sent);
    // a code sent without a challenge cannot be used for it either
    await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 200, 'message-send-response');
    const v = await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: lastCode(), factor: 'message', challenge_id: stepUp.challenge_id }), 403);
    expect(v).toMatchObject({ error: 'factor_not_allowed' });
    // the refusal used nothing up: the code still works where it may
    await json(await call(s, 'POST', '/v1/mfa/verify', { user_id: 'alice', code: lastCode(), factor: 'message' }), 200, 'verify-response');
  });

  it('changing the destination needs a current code: 403 factor_required without, works with a backup code or a TOTP code', async () => {
    const backup = await enrollMessage();
    const change = (body: Record<string, unknown>) =>
      call(s, 'POST', '/v1/mfa/message/enroll', { user_id: 'alice', channel: 'sms', address: '+33 6 12 34 56 78', ...body });
    const sent = receiver.messages.length;
    expect(await json(await change({}), 403)).toMatchObject({ error: 'factor_required' });
    expect(await json(await change({ code: 'AAAA-AAAA-AAAA' }), 401)).toMatchObject({ error: 'invalid_code' });
    expect(receiver.messages.length, 'no code went to the new address').toBe(sent);
    const pending = await json(await change({ code: backup[0] }), 200, 'message-enroll-response');
    expect(pending).toMatchObject({ channel: 'sms', to: '+•••••••••78' });
    expect(delivered('otp_code').at(-1)!.to).toEqual({ channel: 'sms', address: '+33612345678' });
    const confirmed = await json(await call(s, 'POST', '/v1/mfa/message/confirm', { user_id: 'alice', code: lastCode() }), 200, 'message-confirm-response');
    expect(confirmed.backup_codes, 'not a first factor: no new backup codes').toBeUndefined();
    expect((await json(await call(s, 'GET', '/v1/users/alice/mfa'), 200, 'user-mfa-response')).message_destination).toMatchObject({ channel: 'sms', to: '+•••••••••78' });

    // a TOTP user
    const enrolled = await json(await call(s, 'POST', '/v1/mfa/totp/enroll', { user_id: 'bob' }), 200, 'enroll-response');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), algorithm: 'SHA1', digits: 6, period: 30 });
    await json(await call(s, 'POST', '/v1/mfa/totp/confirm', { user_id: 'bob', code: totp.generate({ timestamp: s.clock.now }) }), 200, 'confirm-response');
    s.clock.now += 30_000;
    const bob = { user_id: 'bob', channel: 'chat', address: '@bob' };
    expect(await json(await call(s, 'POST', '/v1/mfa/message/enroll', bob), 403)).toMatchObject({ error: 'factor_required' });
    await json(await call(s, 'POST', '/v1/mfa/message/enroll', { ...bob, code: totp.generate({ timestamp: s.clock.now }) }), 200, 'message-enroll-response');
    // A second factor for an enrolled user, even one whose backup codes are all used: the enrollment time
    // stays, and no codes are issued behind the user's back.
    const before = await json(await call(s, 'GET', '/v1/users/bob/mfa'), 200, 'user-mfa-response');
    await s.store.replaceBackupCodes('bob', [], s.clock.now);
    s.clock.now += 30_000;
    const phone = device('bob-phone');
    const registered = await register(phone, 'bob', { code: totp.generate({ timestamp: s.clock.now }) });
    expect(registered.backup_codes).toBeUndefined();
    const after = await json(await call(s, 'GET', '/v1/users/bob/mfa'), 200, 'user-mfa-response');
    expect(before.enrolled_at).toEqual(expect.any(String));
    expect(after.enrolled_at).toBe(before.enrolled_at);
    expect(after.backup_codes_remaining).toBe(0);
  });

  it('answers 400 invalid_destination, 409 no_pending_enrollment and not_enrolled, 503 when the receiver is down', async () => {
    expect(await json(await call(s, 'POST', '/v1/mfa/message/enroll', { user_id: 'alice', channel: 'sms', address: '0612' }), 400)).toMatchObject({ error: 'invalid_destination' });
    expect(await json(await call(s, 'POST', '/v1/mfa/message/confirm', { user_id: 'alice', code: '123456' }), 409)).toMatchObject({ error: 'no_pending_enrollment' });
    expect(await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 409)).toMatchObject({ error: 'not_enrolled' });
    receiver.failWith = 503;
    expect(await json(await call(s, 'POST', '/v1/mfa/message/enroll', { user_id: 'alice', channel: 'email', address: 'alice@example.com' }), 503)).toMatchObject({
      error: 'sender_unavailable',
    });
  });
});

describe('the factors off, or no sender', () => {
  it('answers 403 factor_disabled when the policy does not enable them', async () => {
    await s.close();
    s = service(POLICY.replace(/enabled: true/g, 'enabled: false'));
    const d = device('phone');
    expect(await json(await call(s, 'POST', '/v1/mfa/message/enroll', { user_id: 'alice', channel: 'email', address: 'a@example.com' }), 403)).toMatchObject({
      error: 'factor_disabled',
    });
    expect(await json(await call(s, 'POST', '/v1/mfa/message/send', { user_id: 'alice' }), 403)).toMatchObject({ error: 'factor_disabled' });
    expect(await json(await call(s, 'POST', '/v1/mfa/push-devices', { user_id: 'alice', device_id: d.id, public_key: d.publicKey, name: 'x' }), 403)).toMatchObject({
      error: 'factor_disabled',
    });
    expect(await json(await call(s, 'POST', '/v1/mfa/push', { user_id: 'alice' }), 403)).toMatchObject({ error: 'factor_disabled' });
    expect(receiver.messages).toEqual([]);
  });

  it('answers 503 sender_unavailable without a sender', async () => {
    await s.close();
    s = startService({ policy: POLICY }); // the helper's default sender: none
    expect(await json(await call(s, 'POST', '/v1/mfa/message/enroll', { user_id: 'alice', channel: 'email', address: 'a@example.com' }), 503)).toMatchObject({
      error: 'sender_unavailable',
    });
  });
});

// --- push approval ---

describe('push approval', () => {
  it('registers Ed25519 and P-256 devices; approving with the right number approves and completes the challenge', async () => {
    const ed = device('alice-phone');
    const p256 = device('alice-tablet', 'p256');
    const raw = device('alice-watch', 'p256-raw');
    const first = await register(ed);
    expect(first).toMatchObject({ registered: true, device_id: 'alice-phone' });
    expect(first.backup_codes, 'a first factor comes with backup codes').toHaveLength(10);
    expect(await json(await call(s, 'POST', '/v1/mfa/push-devices', { user_id: 'alice', device_id: p256.id, public_key: p256.publicKey, name: 't' }), 403)).toMatchObject({
      error: 'factor_required',
    });
    expect((await register(p256, 'alice', { code: first.backup_codes[0] })).backup_codes).toBeUndefined();
    await register(raw, 'alice', { code: first.backup_codes[1] });
    const bad = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    expect(
      await json(await call(s, 'POST', '/v1/mfa/push-devices', { user_id: 'alice', device_id: 'x', public_key: bad, name: 'x', code: first.backup_codes[2] }), 400),
    ).toMatchObject({ error: 'invalid_public_key' });

    const state = await json(await call(s, 'GET', '/v1/users/alice/mfa'), 200, 'user-mfa-response');
    expect(state.push_devices).toEqual([
      { device_id: 'alice-phone', name: 'alice-phone (test)', created_at: new Date(s.clock.now).toISOString() },
      { device_id: 'alice-tablet', name: 'alice-tablet (test)', created_at: new Date(s.clock.now).toISOString() },
      { device_id: 'alice-watch', name: 'alice-watch (test)', created_at: new Date(s.clock.now).toISOString() },
    ]);
    expect(state.message_destination).toBeNull();

    const d = await decide('alice', 'alice-laptop');
    expect(d.decision).toBe('prompt_mfa');
    expect(d.factors).toContain('push');
    const p = await push({ challenge_id: d.challenge_id, device_id: ed.id });
    expect(p.started).toEqual({
      id: p.id,
      number: p.number,
      expires_at: new Date(s.clock.now + PUSH_TTL).toISOString(),
      device: { device_id: 'alice-phone', name: 'alice-phone (test)' },
    });
    expect(p.number).toBeGreaterThanOrEqual(10);
    // The device is told which push, never the number: the person approving reads it off the sign-in screen.
    expect(p.message).toMatchObject({ kind: 'push_request', audience: 'user', device_id: 'alice-phone' });
    expect(Object.keys(p.message.data).sort()).toEqual(['answer', 'expires_at', 'push_id']);
    expect(p.message.text).not.toMatch(new RegExp(`\\b${p.number}\\b`));

    expect(await json(await answer(ed, p.id, 'approve', p.number), 200, 'push-respond-response')).toEqual({ status: 'approved', challenge_completed: true });
    expect(await json(await call(s, 'GET', `/v1/mfa/push/${p.id}`), 200, 'push-status-response')).toEqual({
      id: p.id,
      status: 'approved',
      expires_at: p.started.expires_at,
      challenge_completed: true,
    });

    // P-256, DER and raw (r||s, base64url) signatures
    for (const dev of [p256, raw]) {
      const q = await push({ device_id: dev.id });
      expect(q.message.device_id).toBe(dev.id);
      expect(await json(await answer(dev, q.id, 'approve', q.number), 200, 'push-respond-response')).toEqual({ status: 'approved', challenge_completed: false });
    }
  });

  it('a wrong number is a denial (a failure counted), deny denies, a bad signature is 401 and leaves it pending, a second answer is 409', async () => {
    const ed = device('alice-phone');
    const other = device('alice-tablet');
    const { backup_codes } = await register(ed);
    await register(other, 'alice', { code: backup_codes[0] });

    const p = await push({ device_id: ed.id });
    const wrong = (p.number + 1) % 100;
    expect(await json(await answer(ed, p.id, 'approve', wrong), 200, 'push-respond-response')).toEqual({ status: 'denied', challenge_completed: false });
    expect(s.audit.map((e) => e.event)).toContain('push.number_mismatch');
    expect((await s.store.getFailures(userSubject('alice', 'push'))).consecutive).toBe(1);
    expect(await json(await answer(ed, p.id, 'approve', p.number), 409)).toMatchObject({ error: 'push_not_pending' });
    expect((await json(await call(s, 'GET', `/v1/mfa/push/${p.id}`), 200, 'push-status-response')).status).toBe('denied');

    const q = await push({ device_id: ed.id });
    expect(await json(await answer(ed, q.id, 'deny', q.number), 200, 'push-respond-response')).toEqual({ status: 'denied', challenge_completed: false });
    expect((await s.store.getFailures(userSubject('alice', 'push'))).consecutive).toBe(2);

    const r = await push({ device_id: ed.id });
    // signed by another key; by another registered device; over another number than the one sent
    const forged = { device_id: ed.id, decision: 'approve', number: r.number, signature: other.sign(r.id, 'approve', r.number) };
    expect(await json(await respond(r.id, forged), 401)).toMatchObject({ error: 'invalid_signature' });
    expect(await json(await answer(other, r.id, 'approve', r.number), 401)).toMatchObject({ error: 'invalid_signature' });
    const replayed = { device_id: ed.id, decision: 'approve', number: r.number, signature: ed.sign(q.id, 'approve', r.number) };
    expect(await json(await respond(r.id, replayed), 401)).toMatchObject({ error: 'invalid_signature' });
    expect((await json(await call(s, 'GET', `/v1/mfa/push/${r.id}`), 200, 'push-status-response')).status).toBe('pending');
    expect(await json(await answer(ed, r.id, 'approve', r.number), 200, 'push-respond-response')).toMatchObject({ status: 'approved' });
    expect((await s.store.getFailures(userSubject('alice', 'push'))).consecutive).toBe(0);

    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await json(await answer(ed, unknown, 'approve', 10), 404)).toMatchObject({ error: 'push_not_found' });
    expect(await json(await call(s, 'GET', `/v1/mfa/push/${unknown}`), 404)).toMatchObject({ error: 'push_not_found' });
    expect(await json(await call(s, 'GET', '/v1/mfa/push/not-a-push-id'), 400)).toMatchObject({ error: 'validation_failed' });
    expect(await json(await call(s, 'POST', '/v1/mfa/push', { user_id: 'alice', device_id: 'nope' }), 404)).toMatchObject({ error: 'push_device_not_found' });
    expect(await json(await call(s, 'POST', '/v1/mfa/push', { user_id: 'bob' }), 409)).toMatchObject({ error: 'not_enrolled' });
  });

  it('expires: GET shows expired and an answer is 409', async () => {
    const ed = device('alice-phone');
    await register(ed);
    const p = await push();
    s.clock.now += PUSH_TTL;
    expect((await json(await call(s, 'GET', `/v1/mfa/push/${p.id}`), 200, 'push-status-response')).status).toBe('expired');
    expect(await json(await answer(ed, p.id, 'approve', p.number), 409)).toMatchObject({ error: 'push_not_pending' });
  });

  it('long polling: GET with wait=2 answers as soon as the device approves meanwhile; a bad wait is 400', async () => {
    const ed = device('alice-phone');
    await register(ed);
    const p = await push();
    const started = performance.now();
    const polled = call(s, 'GET', `/v1/mfa/push/${p.id}?wait=2`);
    await new Promise((r) => setTimeout(r, 300));
    await json(await answer(ed, p.id, 'approve', p.number), 200, 'push-respond-response');
    expect(await json(await polled, 200, 'push-status-response')).toMatchObject({ id: p.id, status: 'approved' });
    expect(performance.now() - started).toBeLessThan(1500);

    // Unanswered: the wait ends with the push still pending (the service's clock decides; moved on here).
    const q = await push();
    const pending = call(s, 'GET', `/v1/mfa/push/${q.id}?wait=1`);
    setTimeout(() => (s.clock.now += 1000), 200);
    expect((await json(await pending, 200, 'push-status-response')).status).toBe('pending');

    for (const bad of ['26', '-1', '1.5', 'abc', '', '1&wait=2', '9'.repeat(40)]) {
      const res = await call(s, 'GET', `/v1/mfa/push/${q.id}?wait=${bad}`);
      expect(await json(res, 400), bad).toMatchObject({ error: 'validation_failed', details: [{ path: '/wait' }] });
    }
    await json(await call(s, 'GET', `/v1/mfa/push/${q.id}?wait=0`), 200, 'push-status-response');
  });

  it('an approved push no longer counts against max_unanswered; denied and unanswered ones do', async () => {
    const phone = device('alice-phone');
    await register(phone);
    // Six sign-ins approved in a row: never refused (3 is the limit of unanswered ones).
    for (let i = 0; i < 6; i++) {
      const p = await push();
      expect(await json(await answer(phone, p.id, 'approve', p.number), 200, 'push-respond-response')).toMatchObject({ status: 'approved' });
    }
    // Denied and unanswered ones keep counting: the window's first push stays counted, so two more go out.
    const denied = await push();
    await json(await answer(phone, denied.id, 'deny', denied.number), 200, 'push-respond-response');
    await push();
    await json(await call(s, 'POST', '/v1/mfa/push', { user_id: 'alice' }), 429);
  });

  it('limits pushes per window (push fatigue): the 4th is 429 too_many_sends with Retry-After', async () => {
    await register(device('alice-phone'));
    for (let i = 0; i < 3; i++) await push();
    const before = receiver.messages.length;
    const refused = await call(s, 'POST', '/v1/mfa/push', { user_id: 'alice' });
    const body = await json(refused, 429);
    expect(body).toMatchObject({ error: 'too_many_sends', retry_after_s: 15 * 60 });
    expect(refused.headers.get('retry-after')).toBe('900');
    expect(receiver.messages.length).toBe(before);
  });
});

describe('end to end, with notifications', () => {
  it('a new device of an enrolled user: prompt_mfa, a push for the challenge, approved on the phone, then allowed; the user is notified', async () => {
    // Enrolled: a message destination (the first factor), then a phone for push approval (step-up with a backup code).
    const backup = await enrollMessage('alice', 'alice@example.com');
    const phone = device('alice-phone');
    await register(phone, 'alice', { code: backup[0] });
    await s.notifier.drain();
    const enrolledNotices = delivered('security_notice');
    expect(enrolledNotices.map((m) => [m.audience, m.data.event, m.data.factor]).sort()).toEqual([
      ['user', 'factor_enrolled', 'message'],
      ['user', 'factor_enrolled', 'push'],
    ]);
    for (const m of enrolledNotices) expect(m.to).toEqual({ channel: 'email', address: 'alice@example.com' });

    const d = await decide('alice', 'alice-new-laptop');
    expect(d).toMatchObject({ decision: 'prompt_mfa', factors: ['totp', 'backup_code', 'push', 'message'] });
    const started = await json(await call(s, 'POST', '/v1/mfa/push', { user_id: 'alice', challenge_id: d.challenge_id }), 200, 'push-start-response');
    // The phone: the push id from what it was sent, the number from the screen (`started.number`).
    const sent = delivered('push_request').at(-1)!;
    expect(sent.device_id).toBe('alice-phone');
    const id = sent.data.push_id as string;
    await json(await answer(phone, id, 'approve', started.number), 200, 'push-respond-response');
    expect(await json(await call(s, 'GET', `/v1/mfa/push/${started.id}?wait=1`), 200, 'push-status-response')).toMatchObject({
      status: 'approved',
      challenge_completed: true,
    });
    expect((await decide('alice', 'alice-new-laptop')).decision).toBe('allow');

    await s.notifier.drain();
    const login = delivered('security_notice').filter((m) => m.data.event === 'new_device_login');
    expect(login).toHaveLength(1);
    expect(login[0]).toMatchObject({ audience: 'user', to: { channel: 'email', address: 'alice@example.com' }, data: { device: 'alice-new-laptop', ip: IP } });
  });

  it('notifies a user without a destination by user_id only (no `to`)', async () => {
    await register(device('bob-phone'), 'bob');
    await s.notifier.drain();
    const [notice] = delivered('security_notice', 'bob');
    expect(notice).toMatchObject({ audience: 'user', data: { event: 'factor_enrolled', factor: 'push' } });
    expect(notice!.to).toBeUndefined();
  });
});

describe('the API document', () => {
  it('documents the query parameter of GET /v1/mfa/push/{id} with its schema', () => {
    const doc = buildOpenApi() as Record<string, any>;
    const get = doc.paths['/v1/mfa/push/{id}'].get;
    expect(get.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true, schema: { $ref: '#/components/schemas/out-of-band/$defs/push_id' } }),
      expect.objectContaining({ name: 'wait', in: 'query', required: false, schema: { $ref: '#/components/schemas/out-of-band/$defs/push_wait' } }),
    ]);
    expect(doc.components.schemas['out-of-band'].$defs.push_wait).toMatchObject({ type: 'integer', minimum: 0, maximum: 25 });
    expect(Object.keys(doc.paths['/v1/mfa/push/{id}/respond'].post.responses)).toEqual(['200', '400', '401', '403', '404', '409', '413', '415', '500']);
  });
});
