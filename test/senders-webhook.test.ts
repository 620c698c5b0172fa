// The webhook sender against a real HTTP receiver on 127.0.0.1 (no fetch mock): what arrives on the wire is
// what a receiver verifies with verifyWebhookSignature, on the raw bytes it got.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createWebhookSender,
  signWebhook,
  verifyWebhookSignature,
  webhookUrlProblem,
  type WebhookSenderOptions,
} from '../src/senders/webhook.js';
import { SenderError, type OutboundMessage, type Sender } from '../src/senders/types.js';

const SECRET = 'whsec-test-0123456789abcdef0123456789abcdef'; // 43 bytes
const CODE = '493817';

function otpMessage(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    id: '0d7c3f5e-8a51-4f0e-9a77-3b2c8f1d6e42',
    kind: 'otp_code',
    user_id: 'alice',
    audience: 'user',
    to: { channel: 'sms', address: '+15555550100' },
    created_at: '2025-01-01T12:00:00.000Z',
    text: `Your mfa-gate code is ${CODE}. It expires in 5 minutes. Ünïcödé ✓`,
    data: { code: CODE, expires_at: '2025-01-01T12:05:00.000Z' },
    ...overrides,
  };
}

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  at: number;
}
type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

const servers: Server[] = [];
const senders: Sender[] = [];
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

/** A receiver answering the n-th request (0-based) with `answer(n)`. */
async function receiver(answer: (n: number, r: Received) => Answer): Promise<Receiver> {
  const requests: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { headers: req.headers, raw: Buffer.concat(chunks), at: Date.now() };
      const a = answer(requests.length, r);
      requests.push(r);
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(a.status, a.headers);
      res.end(a.body ?? '');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/mfa`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sender(options: Partial<WebhookSenderOptions> & { url: string }): { sender: Sender; sleeps: number[]; logs: { level: string; obj: object; msg: string }[] } {
  const sleeps: number[] = [];
  const logs: { level: string; obj: object; msg: string }[] = [];
  const s = createWebhookSender({
    secret: SECRET,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    log: {
      info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
      warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    },
    ...options,
  });
  senders.push(s);
  return { sender: s, sleeps, logs };
}

function verifies(r: Received, secret = SECRET): boolean {
  return verifyWebhookSignature({
    secret,
    timestamp: r.headers['x-mfa-gate-timestamp'] as string | undefined,
    signature: r.headers['x-mfa-gate-signature'] as string | undefined,
    body: r.raw,
  });
}

async function rejection(p: Promise<unknown>): Promise<SenderError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SenderError);
  return err as SenderError;
}

describe('webhook sender: delivery', () => {
  it('POSTs the message as signed JSON that the receiver verifies on the raw body', async () => {
    const rx = await receiver(() => ({ status: 204 }));
    const { sender: s, sleeps } = sender({ url: rx.url });
    const message = otpMessage();
    await s.send(message);

    expect(rx.requests).toHaveLength(1);
    const [r] = rx.requests;
    expect(r!.headers['content-type']).toBe('application/json');
    expect(r!.headers['user-agent']).toBe('mfa-gate');
    expect(r!.headers['x-mfa-gate-message-id']).toBe(message.id);
    expect(r!.headers['x-mfa-gate-timestamp']).toMatch(/^\d+$/);
    expect(Math.abs(Number(r!.headers['x-mfa-gate-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(r!.headers['x-mfa-gate-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifies(r!)).toBe(true);
    // The exact value, recomputed independently of the sender.
    expect(r!.headers['x-mfa-gate-signature']).toBe(signWebhook(SECRET, r!.headers['x-mfa-gate-timestamp'] as string, r!.raw));
    expect(JSON.parse(r!.raw.toString('utf8'))).toEqual(message);
    expect(sleeps).toEqual([]);
    expect(s.kind).toBe('webhook');
  });

  it('retries 503 twice then 200: three attempts, the same message id, each signature valid', async () => {
    const rx = await receiver((n) => (n < 2 ? { status: 503, body: 'down' } : { status: 200, body: 'ok' }));
    const { sender: s, sleeps, logs } = sender({ url: rx.url, backoffMs: 40, retries: 3 });
    await s.send(otpMessage());

    expect(rx.requests).toHaveLength(3);
    const ids = rx.requests.map((r) => r.headers['x-mfa-gate-message-id']);
    expect(new Set(ids)).toEqual(new Set([otpMessage().id]));
    expect(rx.requests.map((r) => JSON.parse(r.raw.toString()).id)).toEqual([ids[0], ids[0], ids[0]]);
    for (const r of rx.requests) expect(verifies(r)).toBe(true);
    // Full jitter with random() = 0.5: half of 40, then half of 80.
    expect(sleeps).toEqual([20, 40]);
    expect(logs.map((l) => [l.level, (l.obj as { event: string }).event, (l.obj as { attempt: number }).attempt])).toEqual([
      ['warn', 'webhook_retry', 1],
      ['warn', 'webhook_retry', 2],
      ['info', 'webhook_delivered', 3],
    ]);
  });

  it('the backoff doubles up to maxBackoffMs, with full jitter in [0, ceiling)', async () => {
    const rx = await receiver(() => ({ status: 500 }));
    const { sender: s, sleeps } = sender({ url: rx.url, backoffMs: 100, maxBackoffMs: 300, retries: 4, random: () => 0.999 });
    const err = await rejection(s.send(otpMessage()));
    expect(err.code).toBe('sender_unavailable');
    expect(sleeps).toEqual([99, 199, 299, 299]);
    expect(rx.requests).toHaveLength(5);
  });

  it('honours a 429 Retry-After in seconds', async () => {
    const rx = await receiver((n) => (n === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 }));
    const { sender: s, sleeps } = sender({ url: rx.url });
    await s.send(otpMessage());
    expect(rx.requests).toHaveLength(2);
    expect(sleeps).toEqual([2000]);
  });

  it('caps a Retry-After by maxBackoffMs, and retries 408', async () => {
    const rx = await receiver((n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '3600' } } : n === 1 ? { status: 408 } : { status: 202 },
    );
    const { sender: s, sleeps } = sender({ url: rx.url, maxBackoffMs: 1500, backoffMs: 100 });
    await s.send(otpMessage());
    expect(rx.requests).toHaveLength(3);
    expect(sleeps).toEqual([1500, 100]); // the second failure: half of 2 × 100
  });

  it('a 400 is final: no retry, rejects sender_rejected', async () => {
    const rx = await receiver(() => ({ status: 400, body: 'unknown user' }));
    const { sender: s, sleeps } = sender({ url: rx.url });
    const err = await rejection(s.send(otpMessage()));
    expect(err.code).toBe('sender_rejected');
    expect(err.status).toBe(400);
    expect(err.attempts).toBe(1);
    expect(rx.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('does not follow a redirect (it would carry the code elsewhere): sender_rejected', async () => {
    const elsewhere = await receiver(() => ({ status: 200 }));
    const rx = await receiver(() => ({ status: 307, headers: { location: elsewhere.url } }));
    const { sender: s } = sender({ url: rx.url });
    const err = await rejection(s.send(otpMessage()));
    expect(err.code).toBe('sender_rejected');
    expect(err.status).toBe(307);
    expect(err.message).toMatch(/redirect/);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('5xx on every attempt: sender_unavailable after 1 + retries attempts', async () => {
    const rx = await receiver(() => ({ status: 502 }));
    const { sender: s, sleeps } = sender({ url: rx.url, retries: 2, backoffMs: 10 });
    const err = await rejection(s.send(otpMessage()));
    expect(err.code).toBe('sender_unavailable');
    expect(err.status).toBe(502);
    expect(err.attempts).toBe(3);
    expect(rx.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('a receiver that never answers: each attempt times out, then sender_unavailable', async () => {
    const rx = await receiver(() => 'hang');
    const { sender: s, logs } = sender({ url: rx.url, timeoutMs: 150, retries: 2 });
    const started = Date.now();
    const err = await rejection(s.send(otpMessage()));
    const elapsed = Date.now() - started;
    expect(err.code).toBe('sender_unavailable');
    expect(err.message).toMatch(/no answer within 150 ms/);
    expect(err.status).toBeUndefined();
    expect(rx.requests).toHaveLength(3);
    expect(elapsed).toBeGreaterThanOrEqual(3 * 150 - 20);
    expect(elapsed).toBeLessThan(3000);
    expect(logs.filter((l) => (l.obj as { error?: string }).error === 'timeout')).toHaveLength(3);
  });

  it('a refused connection (nothing listening) is retried, then sender_unavailable', async () => {
    const rx = await receiver(() => ({ status: 200 }));
    await rx.close();
    const { sender: s, sleeps } = sender({ url: rx.url, retries: 1 });
    const err = await rejection(s.send(otpMessage()));
    expect(err.code).toBe('sender_unavailable');
    expect(err.message).toMatch(/network error/);
    expect(sleeps).toHaveLength(1);
  });

  it('an id that cannot go into a header is refused before any request', async () => {
    const rx = await receiver(() => ({ status: 200 }));
    const { sender: s } = sender({ url: rx.url });
    const err = await rejection(s.send(otpMessage({ id: 'abc\r\nX-Injected: 1' })));
    expect(err.code).toBe('sender_invalid_message');
    expect(rx.requests).toHaveLength(0);
  });

  it('logs message id, kind, attempt and status only: never the secret, the body or the code', async () => {
    const rx = await receiver((n) => (n === 0 ? { status: 503 } : n === 1 ? { status: 200 } : { status: 400 }));
    const { sender: s, logs } = sender({ url: rx.url });
    await s.send(otpMessage());
    await rejection(s.send(otpMessage({ id: 'second' })));
    expect(logs.length).toBe(3);
    const text = JSON.stringify(logs);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(CODE);
    expect(text).not.toContain('+15555550100');
    expect(text).not.toContain('hooks/mfa');
    for (const l of logs) {
      expect(Object.keys(l.obj).filter((k) => (l.obj as Record<string, unknown>)[k] !== undefined).sort()).toEqual(
        expect.arrayContaining(['attempt', 'event', 'kind', 'message_id', 'status']),
      );
      for (const k of Object.keys(l.obj)) expect(['event', 'message_id', 'kind', 'attempt', 'status', 'error', 'retry_in_ms']).toContain(k);
    }
  });

  it('close(): a retry waiting for its backoff is cut short (sender_closed); later sends are refused', async () => {
    const rx = await receiver(() => ({ status: 503 }));
    // A sleep that never ends by itself: only close() can end the wait.
    const s = createWebhookSender({ url: rx.url, secret: SECRET, sleep: () => new Promise(() => {}) });
    const pending = s.send(otpMessage());
    const caught = rejection(pending);
    await new Promise((r) => setTimeout(r, 100));
    expect(rx.requests).toHaveLength(1);
    await s.close();
    const err = await caught;
    expect(err.code).toBe('sender_closed');
    expect(rx.requests).toHaveLength(1);
    expect((await rejection(s.send(otpMessage()))).code).toBe('sender_closed');
    await s.close(); // idempotent
  });
  it('the default sleep really waits, and close() ends a long wait at once', async () => {
    const rx = await receiver((n) => (n === 0 ? { status: 503 } : { status: 200 }));
    const quick = createWebhookSender({ url: rx.url, secret: SECRET, backoffMs: 60, random: () => 0.999 });
    senders.push(quick);
    const t0 = Date.now();
    await quick.send(otpMessage());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);

    const rx2 = await receiver(() => ({ status: 503 }));
    const slow = createWebhookSender({ url: rx2.url, secret: SECRET, backoffMs: 5000, random: () => 0.999 });
    const caught = rejection(slow.send(otpMessage()));
    await new Promise((r) => setTimeout(r, 100));
    const t1 = Date.now();
    await slow.close();
    expect((await caught).code).toBe('sender_closed');
    expect(Date.now() - t1).toBeLessThan(1000);
  });
});

describe('webhook signature verification', () => {
  const body = JSON.stringify(otpMessage());
  const now = 1_735_732_800_000; // 2025-01-01T12:00:00Z
  const ts = String(now / 1000);
  const sig = signWebhook(SECRET, ts, body);
  const base = { secret: SECRET, timestamp: ts, body, signature: sig, now: () => now };

  it('accepts the genuine request (string or bytes body)', () => {
    expect(verifyWebhookSignature(base)).toBe(true);
    expect(verifyWebhookSignature({ ...base, body: Buffer.from(body) })).toBe(true);
    expect(verifyWebhookSignature({ ...base, timestamp: Number(ts) })).toBe(true);
  });

  it('rejects a tampered body', () => {
    expect(verifyWebhookSignature({ ...base, body: body.replace(CODE, '000000') })).toBe(false);
    expect(verifyWebhookSignature({ ...base, body: `${body} ` })).toBe(false);
  });

  it('rejects the wrong secret', () => {
    expect(verifyWebhookSignature({ ...base, secret: `${SECRET}x` })).toBe(false);
  });

  it('rejects a stale or far-future timestamp, and one re-signed into the body is not enough', () => {
    expect(verifyWebhookSignature({ ...base, now: () => now + 301_000 })).toBe(false);
    expect(verifyWebhookSignature({ ...base, now: () => now - 301_000 })).toBe(false);
    expect(verifyWebhookSignature({ ...base, now: () => now + 300_000 })).toBe(true);
    expect(verifyWebhookSignature({ ...base, now: () => now + 60_000, toleranceS: 30 })).toBe(false);
    // A replay with a fresh timestamp header but the captured signature fails: the timestamp is signed.
    expect(verifyWebhookSignature({ ...base, timestamp: String(Number(ts) + 600), now: () => now + 600_000 })).toBe(false);
  });

  it('rejects missing or malformed headers without throwing', () => {
    for (const signature of [undefined, null, '', sig.slice(3), `v2=${sig.slice(3)}`, `${sig}0`, 'v1=zz', sig.toUpperCase().replace('V1', 'v0')]) {
      expect(verifyWebhookSignature({ ...base, signature })).toBe(false);
    }
    for (const timestamp of [undefined, null, '', 'abc', `${ts}.5`, `-${ts}`, ` ${ts}`]) {
      expect(verifyWebhookSignature({ ...base, timestamp })).toBe(false);
    }
    expect(verifyWebhookSignature({ ...base, secret: '' })).toBe(false);
  });

  it('accepts any one of several space-separated v1 signatures (rotation)', () => {
    const other = signWebhook('another-secret-0123456789abcdef0123456789', ts, body);
    expect(verifyWebhookSignature({ ...base, signature: `${other} ${sig}` })).toBe(true);
    expect(verifyWebhookSignature({ ...base, signature: `${other} ${other}` })).toBe(false);
  });

  it('signs "<timestamp>.<raw body>" with HMAC-SHA256 (a known vector)', async () => {
    const { createHmac } = await import('node:crypto');
    const expected = createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex');
    expect(sig).toBe(`v1=${expected}`);
  });
});

describe('webhook sender: options are checked at construction', () => {
  const make = (o: Partial<WebhookSenderOptions>) => () => createWebhookSender({ url: 'https://hooks.example.com/mfa', secret: SECRET, ...o });
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as SenderError).code;
    }
  };

  it('requires https for a non-loopback host', () => {
    expect(make({ url: 'http://hooks.example.com/mfa' })).toThrow(/https/);
    expect(code(make({ url: 'http://hooks.example.com/mfa' }))).toBe('sender_config_invalid');
    expect(make({ url: 'http://10.0.0.5:8080/mfa' })).toThrow(/https/);
    expect(make({ url: 'http://[::ffff:7f00:1]/' })).toThrow(/https/);
    expect(make({ url: 'http://localhost.example.com/' })).toThrow(/https/);
    expect(make({ url: 'https://hooks.example.com/mfa' })).not.toThrow();
  });

  it('allows plain http on loopback only: 127.0.0.0/8, ::1, localhost', () => {
    for (const url of ['http://127.0.0.1:8080/x', 'http://127.5.6.7/x', 'http://127.1/x', 'http://[::1]:9000/x', 'http://localhost/x', 'http://LOCALHOST:1/x']) {
      expect(webhookUrlProblem(url), url).toBeNull();
    }
  });

  it('refuses URLs that are not http(s), malformed, or carry credentials', () => {
    expect(make({ url: 'ftp://hooks.example.com/' })).toThrow(/http\(s\)/);
    expect(make({ url: 'not a url' })).toThrow(/valid URL/);
    expect(make({ url: '' })).toThrow(/required/);
    expect(make({ url: 'https://user:pw@hooks.example.com/' })).toThrow(/credentials/);
  });

  it('refuses a short secret (under 32 bytes) without echoing it', () => {
    const short = 'only-31-bytes-long-secret-value';
    expect(Buffer.byteLength(short)).toBe(31);
    let message = '';
    try {
      make({ secret: short })();
    } catch (e) {
      message = (e as Error).message;
      expect((e as SenderError).code).toBe('sender_config_invalid');
    }
    expect(message).toMatch(/at least 32 bytes \(got 31\)/);
    expect(message).not.toContain(short);
    expect(make({ secret: 'x'.repeat(32) })).not.toThrow();
    expect(make({ secret: `${'x'.repeat(40)}\n` })).toThrow(/whitespace/);
    expect(make({ secret: '' })).toThrow(/required/);
  });

  it('refuses out-of-range numbers', () => {
    expect(make({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(make({ timeoutMs: 5000.5 })).toThrow(/timeoutMs/);
    expect(make({ retries: -1 })).toThrow(/retries/);
    expect(make({ retries: 11 })).toThrow(/retries/);
    expect(make({ backoffMs: Number.NaN })).toThrow(/backoffMs/);
    expect(make({ maxBackoffMs: 600_000 })).toThrow(/maxBackoffMs/);
    expect(make({ retries: 0, backoffMs: 0 })).not.toThrow();
  });
});
