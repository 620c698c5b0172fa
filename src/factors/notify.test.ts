// Security notifications from audit events, on a real SQLite store and keyring; the sender records what it
// is handed (the webhook itself is tested against a real receiver in test/senders-webhook.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../policy/index.js';
import type { OutboundMessage, Sender } from '../senders/types.js';
import { openSqliteStore } from '../store/index.js';
import { loadKeyring } from './crypto.js';
import { Notifier, destinationAad } from './notify.js';

const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-notify-'));
const store = openSqliteStore({ path: join(dir, 'store.db') });
const keyring = loadKeyring({ env: {}, dataDir: dir, log: () => {} });
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.parse('2026-06-01T12:00:00Z');
const policy = (notifications: string) =>
  parsePolicy(`mfa_enforcement:\n  all_users: true\nnotifications:\n${notifications}`, 'notify.yaml');

function recorder(fail = false): Sender & { sent: OutboundMessage[] } {
  const sent: OutboundMessage[] = [];
  return {
    kind: 'webhook',
    sent,
    async send(m) {
      sent.push(m);
      if (fail) throw Object.assign(new Error('receiver down'), { code: 'sender_unavailable' });
    },
    async close() {},
  };
}

describe('Notifier', () => {
  it('turns audit events into the notifications the policy asks for, to the user and the security team', async () => {
    const sender = recorder();
    const p = policy('  user: [factor_enrolled, factor_removed, factors_reset, backup_codes_low, recovery_opened, new_device_login, new_location_login]\n  security_team: [factors_reset, recovery_opened]\n');
    const n = new Notifier({ sender, store, keyring, policy: () => p, clock: () => T0 });
    const events = [
      { event: 'totp.enrolled', user_id: 'u1' },
      { event: 'message.enrolled', user_id: 'u1' },
      { event: 'push.device_registered', user_id: 'u1' },
      { event: 'factors.removed', user_id: 'u1' },
      { event: 'recovery.applied', user_id: 'u1', recovery_id: 'r1' },
      { event: 'recovery.opened', user_id: 'u1', recovery_id: 'r2', effective_at: '2026-06-02T12:00:00.000Z' },
      { event: 'factor.verified', user_id: 'u1', factor: 'backup_code', backup_codes_remaining: 2 },
      { event: 'factor.verified', user_id: 'u1', factor: 'backup_code', backup_codes_remaining: 3 },
      { event: 'factor.verified', user_id: 'u1', factor: 'totp', backup_codes_remaining: 0 },
      { event: 'login.completed', user_id: 'u1', device: 'laptop', browser: 'Firefox on Linux', location: 'FR/IDF/Paris', ip: '81.2.69.142', new_device: true, new_location: true },
      { event: 'login.completed', user_id: 'u1', device: 'laptop', location: 'FR/IDF/Paris', ip: '81.2.69.142', new_device: false, new_location: false },
      { event: 'totp.failed', user_id: 'u1' },
    ];
    for (const e of events) n.onAudit(e);
    await n.drain();
    const got = sender.sent.map((m) => `${m.audience}:${String(m.data.event)}`);
    expect(got.sort()).toEqual(
      [
        'user:factor_enrolled', 'user:factor_enrolled', 'user:factor_enrolled',
        'user:factor_removed',
        'user:factors_reset', 'security_team:factors_reset',
        'user:recovery_opened', 'security_team:recovery_opened',
        'user:backup_codes_low',
        'user:new_device_login', 'user:new_location_login',
      ].sort(),
    );
    for (const m of sender.sent) {
      expect(m.kind).toBe('security_notice');
      expect(m.user_id).toBe('u1');
      expect(m.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(m.created_at).toBe('2026-06-01T12:00:00.000Z');
    }
    const recovery = sender.sent.find((m) => m.data.event === 'recovery_opened' && m.audience === 'user')!;
    // When it takes effect, and how to cancel it.
    expect(recovery.text).toContain('2026-06-02T12:00:00.000Z');
    expect(recovery.text).toMatch(/cancel it before then/);
    expect(recovery.data).toMatchObject({ recovery_id: 'r2', effective_at: Date.parse('2026-06-02T12:00:00Z') });
    const login = sender.sent.find((m) => m.data.event === 'new_device_login')!;
    // Time, browser and place (issue #7).
    expect(login.text).toContain('2026-06-01T12:00:00.000Z');
    expect(login.text).toContain('Firefox on Linux');
    expect(login.text).toContain('FR/IDF/Paris');
    expect(login.data).toMatchObject({ browser: 'Firefox on Linux', place: 'FR/IDF/Paris' });
    expect(sender.sent.find((m) => m.data.event === 'backup_codes_low')!.text).toContain('Only 2 backup codes left');
  });

  it("sends to the user's confirmed message destination, decrypted; the security team's copy carries none", async () => {
    const sender = recorder();
    const p = policy('  user: [factor_removed]\n  security_team: [factor_removed]\n');
    await store.savePendingMessageDestination({ user_id: 'u2', channel: 'sms', address: keyring.encrypt('+33612345678', destinationAad('u2')), created_at: T0 });
    expect(await store.confirmMessageDestination('u2', T0)).toBe(true);
    const n = new Notifier({ sender, store, keyring, policy: () => p });
    n.onAudit({ event: 'factors.removed', user_id: 'u2' });
    await n.drain();
    expect(sender.sent.find((m) => m.audience === 'user')?.to).toEqual({ channel: 'sms', address: '+33612345678' });
    expect(sender.sent.find((m) => m.audience === 'security_team')).not.toHaveProperty('to');
  });

  it('sends nothing the policy leaves out, nor with no sender', async () => {
    const sender = recorder();
    const quiet = new Notifier({ sender, store, keyring, policy: () => policy('  user: []\n') });
    quiet.onAudit({ event: 'totp.enrolled', user_id: 'u3' });
    const none = new Notifier({ sender: { ...recorder(), kind: 'none' }, store, keyring, policy: () => policy('  user: [factor_enrolled]\n') });
    expect(none.wants('factor_enrolled')).toBe(false);
    none.onAudit({ event: 'totp.enrolled', user_id: 'u3' });
    await quiet.drain();
    await none.drain();
    expect(sender.sent).toEqual([]);
  });

  it('never waits for the sender and never throws: a failure is reported with its code only', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const errors: unknown[] = [];
    const slow: Sender = { kind: 'webhook', send: () => gate.then(() => Promise.reject(Object.assign(new Error('x'), { code: 'sender_unavailable' }))), close: async () => {} };
    const n = new Notifier({ sender: slow, store, keyring, policy: () => policy('  user: [factor_enrolled]\n'), onError: (e) => errors.push(e) });
    expect(() => n.onAudit({ event: 'totp.enrolled', user_id: 'u4' })).not.toThrow();
    expect(errors).toEqual([]);
    release();
    await n.drain();
    expect(errors).toEqual([{ event: 'factor_enrolled', user_id: 'u4', audience: 'user', error: 'sender_unavailable' }]);
  });
});
