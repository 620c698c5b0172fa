// The sender factory, the log and none senders, and the sender configuration from the environment.
import { describe, expect, it } from 'vitest';
import {
  createLogSender,
  createSender,
  senderConfigFromEnv,
  SenderError,
  type OutboundMessage,
} from '../src/senders/index.js';

const SECRET = 'a'.repeat(16) + 'b'.repeat(16) + 'c'.repeat(8); // 40 bytes
const message: OutboundMessage = {
  id: '6f1b8c2e-2a0d-4d55-9d0e-5f4f1d0c9a11',
  kind: 'otp_code',
  user_id: 'bob',
  audience: 'user',
  to: { channel: 'email', address: 'bob@example.com' },
  created_at: '2025-01-01T12:00:00.000Z',
  text: 'Your code is 271828.\nIt expires in 5 minutes.',
  data: { code: '271828', expires_at: '2025-01-01T12:05:00.000Z' },
};

function thrown(f: () => unknown): SenderError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SenderError);
    return e as SenderError;
  }
  throw new Error('expected a throw');
}

describe('log sender (development only)', () => {
  it('writes the whole message, the code included, on one line', async () => {
    const lines: string[] = [];
    const s = createLogSender({ log: (l) => lines.push(l), env: { NODE_ENV: 'development' } });
    expect(s.kind).toBe('log');
    await s.send(message);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatch(/^mfa-gate log sender \(development only/);
    expect(line).toContain('271828');
    expect(line).toContain('email:bob@example.com');
    expect(line).not.toContain('\n');
    const json = JSON.parse(line!.slice(line!.indexOf('{"id"')));
    expect(json).toEqual(message);
    await s.close();
    await expect(s.send(message)).rejects.toMatchObject({ code: 'sender_closed' });
  });

  it('refuses NODE_ENV=production at construction, with a clear message', () => {
    const err = thrown(() => createLogSender({ log: () => {}, env: { NODE_ENV: 'production' } }));
    expect(err.code).toBe('sender_config_invalid');
    expect(err.message).toMatch(/development only/);
    expect(err.message).toMatch(/NODE_ENV=production/);
    expect(err.message).toMatch(/MFA_GATE_SENDER=webhook/);
    // Through the factory too, whichever env is passed.
    expect(thrown(() => createSender({ kind: 'log' }, { env: { NODE_ENV: 'production' } })).code).toBe('sender_config_invalid');
    expect(() => createLogSender({ log: () => {}, env: {} })).not.toThrow();
  });
});

describe('createSender', () => {
  it('none: every send rejects sender_not_configured', async () => {
    const s = createSender({ kind: 'none' });
    expect(s.kind).toBe('none');
    const err = await s.send(message).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SenderError);
    expect((err as SenderError).code).toBe('sender_not_configured');
    expect((err as SenderError).message).toMatch(/out-of-band factors/);
    await s.close();
  });

  it('log: writes through the given logger at warn when the config has no log function', async () => {
    const seen: { obj: object; msg: string }[] = [];
    const logger = { info: () => {}, warn: (obj: object, msg: string) => seen.push({ obj, msg }) };
    const s = createSender({ kind: 'log' }, { logger, env: {} });
    await s.send(message);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.msg).toContain('271828');
  });

  it('webhook: validated at construction, logs through the given logger', () => {
    const s = createSender({ kind: 'webhook', url: 'https://hooks.example.com/mfa', secret: SECRET });
    expect(s.kind).toBe('webhook');
    expect(thrown(() => createSender({ kind: 'webhook', url: 'http://hooks.example.com/mfa', secret: SECRET })).message).toMatch(/https/);
    expect(thrown(() => createSender({ kind: 'webhook', url: 'https://hooks.example.com/mfa', secret: 'short' })).message).toMatch(/32 bytes/);
  });

  it('an unknown kind is a config error', () => {
    expect(thrown(() => createSender({ kind: 'sms' } as never)).code).toBe('sender_config_invalid');
  });

  it('senderConfigFromEnv feeds createSender', () => {
    const cfg = senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', MFA_GATE_WEBHOOK_URL: 'http://127.0.0.1:9999/x', MFA_GATE_WEBHOOK_SECRET: SECRET });
    expect(createSender(cfg).kind).toBe('webhook');
  });
});

describe('senderConfigFromEnv', () => {
  const ok = { MFA_GATE_WEBHOOK_URL: 'https://hooks.example.com/mfa', MFA_GATE_WEBHOOK_SECRET: SECRET };

  it('defaults to none; an empty variable counts as unset', () => {
    expect(senderConfigFromEnv({})).toEqual({ kind: 'none' });
    expect(senderConfigFromEnv({ MFA_GATE_SENDER: '' })).toEqual({ kind: 'none' });
    expect(senderConfigFromEnv({ MFA_GATE_SENDER: 'none' })).toEqual({ kind: 'none' });
    expect(senderConfigFromEnv({ MFA_GATE_SENDER: 'log' })).toEqual({ kind: 'log' });
  });

  it('reads a webhook', () => {
    expect(senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', ...ok })).toEqual({ kind: 'webhook', url: ok.MFA_GATE_WEBHOOK_URL, secret: SECRET });
  });

  it('names MFA_GATE_SENDER when its value is unknown', () => {
    const err = thrown(() => senderConfigFromEnv({ MFA_GATE_SENDER: 'sms' }));
    expect(err.code).toBe('sender_config_invalid');
    expect(err.message).toMatch(/^MFA_GATE_SENDER must be one of webhook, log, none \(got "sms"\)/);
  });

  it('names the missing webhook variable', () => {
    expect(thrown(() => senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', MFA_GATE_WEBHOOK_SECRET: SECRET })).message).toMatch(
      /^MFA_GATE_WEBHOOK_URL is required when MFA_GATE_SENDER=webhook/,
    );
    expect(thrown(() => senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', MFA_GATE_WEBHOOK_URL: ok.MFA_GATE_WEBHOOK_URL })).message).toMatch(
      /^MFA_GATE_WEBHOOK_SECRET is required when MFA_GATE_SENDER=webhook/,
    );
    expect(
      thrown(() => senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', MFA_GATE_WEBHOOK_URL: '', MFA_GATE_WEBHOOK_SECRET: SECRET })).message,
    ).toMatch(/^MFA_GATE_WEBHOOK_URL is required/);
  });

  it('names the invalid webhook variable, without repeating the secret or a query string', () => {
    const http = thrown(() =>
      senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', ...ok, MFA_GATE_WEBHOOK_URL: 'http://hooks.example.com/mfa?token=s3cr3t' }),
    );
    expect(http.message).toMatch(/^MFA_GATE_WEBHOOK_URL must use https/);
    expect(http.message).not.toContain('s3cr3t');
    expect(thrown(() => senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', ...ok, MFA_GATE_WEBHOOK_URL: 'nope' })).message).toMatch(
      /^MFA_GATE_WEBHOOK_URL is not a valid URL/,
    );
    const short = 'too-short-secret';
    const err = thrown(() => senderConfigFromEnv({ MFA_GATE_SENDER: 'webhook', ...ok, MFA_GATE_WEBHOOK_SECRET: short }));
    expect(err.message).toMatch(/^MFA_GATE_WEBHOOK_SECRET must be at least 32 bytes \(got 16\)/);
    expect(err.message).not.toContain(short);
  });

  it('refuses webhook variables set without MFA_GATE_SENDER (a forgotten variable, not a wish to send nothing)', () => {
    expect(thrown(() => senderConfigFromEnv(ok)).message).toMatch(/MFA_GATE_SENDER is not set but MFA_GATE_WEBHOOK_URL is/);
    // An explicit choice is respected.
    expect(senderConfigFromEnv({ MFA_GATE_SENDER: 'none', ...ok })).toEqual({ kind: 'none' });
  });
});
