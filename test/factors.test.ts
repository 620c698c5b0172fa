// The factor module end to end on a real SQLite file, a real keyring and real crypto: enrollment,
// verification, single use under concurrency, throttling that survives a restart, recovery, and no
// secret in the database or the logs.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as OTPAuth from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecisionEngine } from '../src/engine.js';
import { loadKeyring, type Keyring } from '../src/factors/crypto.js';
import { FactorService } from '../src/factors/service.js';
import { auditTo, createLogger } from '../src/log.js';
import { parsePolicy } from '../src/policy/index.js';
import type { CompiledPolicy } from '../src/policy/types.js';
import { openSqliteStore, type SqliteStore } from '../src/store/index.js';
import { readDatabaseBytes } from './store-sqlite-helpers.js';

const T0 = Date.parse('2026-06-01T12:00:10Z');
const STEP = 30_000;
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const LONDON = '81.2.69.142';

// The seed policy: 30 days of grace, prompts on a new device or location, step-up on sensitive actions.
const POLICY = readFileSync('policies/default.yaml', 'utf8');

let dir: string;
let dbPath: string;
let store: SqliteStore;
let keyring: Keyring;
let now: number;
let logText: string;
let policy: CompiledPolicy;
let engine: DecisionEngine;
let factors: FactorService;

function build(p: CompiledPolicy = policy) {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  const audit = auditTo(createLogger(sink, 'debug'));
  engine = new DecisionEngine({ store, policy: p, clock: () => now, audit });
  factors = new FactorService({ store, keyring, policy: p, clock: () => now, audit, completeChallenge: (id) => engine.completeChallenge(id) });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mfa-gate-factors-'));
  dbPath = join(dir, 'store.db');
  store = openSqliteStore({ path: dbPath });
  logText = '';
  const messages: string[] = [];
  keyring = loadKeyring({ env: {}, dataDir: dir, log: (m: string) => messages.push(m) });
  expect(messages.join('\n')).toMatch(/generated a new secret key/);
  now = T0;
  policy = parsePolicy(POLICY, 'test.yaml');
  build();
});

afterEach(async () => {
  await store.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const codeAt = (secret: string, t: number) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: t });

async function enrolled(user = 'alice') {
  const started = await factors.enrollTotp({ user_id: user });
  if (!started.ok) throw new Error(started.message);
  const confirmed = await factors.confirmTotp({ user_id: user, code: codeAt(started.secret, now) });
  if (!confirmed.ok) throw new Error(confirmed.message);
  return { secret: started.secret, uri: started.otpauth_uri, backup: confirmed.backup_codes };
}

describe('key management', () => {
  it('generates the secret key into the data directory with mode 0600, and reuses it', () => {
    const file = join(dir, 'secret.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadKeyring({ env: {}, dataDir: dir, log: () => {} });
    expect(again.decrypt(keyring.encrypt('x', 'a'), 'a')).toBe('x');
  });
});

describe('TOTP enrollment', () => {
  it('stays pending until confirmed, then never returns the secret again', async () => {
    const started = await factors.enrollTotp({ user_id: 'alice', account_name: 'alice@example.com' });
    if (!started.ok) throw new Error(started.message);
    expect(started.otpauth_uri).toBe(
      `otpauth://totp/mfa-gate:alice@example.com?secret=${started.secret}&issuer=mfa-gate&algorithm=SHA1&digits=6&period=30`,
    );
    expect(started.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(started.qr.png_data_url).toMatch(/^data:image\/png;base64,/);
    expect((await store.getUserSummary('alice'))?.enrolled_at ?? null).toBeNull();
    expect(await factors.verify({ user_id: 'alice', code: codeAt(started.secret, now) })).toMatchObject({ ok: false, error: 'not_enrolled' });

    const wrong = await factors.confirmTotp({ user_id: 'alice', code: '000000' === codeAt(started.secret, now) ? '111111' : '000000' });
    expect(wrong).toMatchObject({ ok: false, error: 'invalid_code' });
    const ok = await factors.confirmTotp({ user_id: 'alice', code: codeAt(started.secret, now) });
    expect(ok).toMatchObject({ ok: true, enrolled: true });
    if (!ok.ok) return;
    expect(ok.backup_codes).toHaveLength(10);
    for (const c of ok.backup_codes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect((await store.getUserSummary('alice'))?.enrolled_at).toBe(now);
    expect(await factors.confirmTotp({ user_id: 'alice', code: codeAt(started.secret, now + STEP) })).toMatchObject({ ok: false, error: 'no_pending_enrollment' });
  });

  it('rejects the code that confirmed enrollment when it is replayed', async () => {
    const { secret } = await enrolled();
    const r = await factors.verify({ user_id: 'alice', code: codeAt(secret, now) });
    expect(r).toMatchObject({ ok: false, error: 'invalid_code' });
    expect(logText).toContain('totp.replay_rejected');
  });

  it('refuses a first enrollment from a risky context unless an admin approved it', async () => {
    // Bob logged in before from London on his laptop, never enrolled; now a new device asks.
    await store.recordLogin({ user_id: 'bob', device_key: 'bob-laptop', location_key: 'GB/ENG/St Albans', ip: LONDON, time: now - 86_400_000, mfa: false });
    const d = await engine.decide({ user: { id: 'bob' }, ip: LONDON, user_agent: CHROME, device_id: 'attacker-pc', action: 'mfa.enroll' });
    expect(d.enrollment.allowed_now).toBe(false);
    expect(d.challenge_id).toBeDefined();
    expect(await factors.enrollTotp({ user_id: 'bob', challenge_id: d.challenge_id as string })).toMatchObject({ ok: false, error: 'enrollment_not_allowed' });
    expect(await factors.enrollTotp({ user_id: 'bob' })).toMatchObject({ ok: false, error: 'enrollment_not_allowed' });
    expect(logText).toContain('totp.enrollment_refused');

    await factors.approveEnrollment({ user_id: 'bob', approved_by: 'helpdesk-7' });
    expect(await factors.enrollTotp({ user_id: 'bob', challenge_id: d.challenge_id as string })).toMatchObject({ ok: true });
  });

  it('allows a first enrollment from a known context', async () => {
    await store.recordLogin({ user_id: 'bob', device_key: 'bob-laptop', location_key: 'GB/ENG/St Albans', ip: LONDON, time: now - 86_400_000, mfa: false });
    const d = await engine.decide({ user: { id: 'bob' }, ip: LONDON, user_agent: CHROME, device_id: 'bob-laptop', action: 'mfa.enroll' });
    expect(d.enrollment.allowed_now).toBe(true);
    expect(await factors.enrollTotp({ user_id: 'bob', challenge_id: d.challenge_id as string })).toMatchObject({ ok: true });
  });

  it('replaces an active factor only with a current code', async () => {
    const { secret } = await enrolled();
    expect(await factors.enrollTotp({ user_id: 'alice' })).toMatchObject({ ok: false, error: 'factor_required' });
    now += STEP;
    const replaced = await factors.enrollTotp({ user_id: 'alice', code: codeAt(secret, now) });
    expect(replaced).toMatchObject({ ok: true });
  });
});

describe('TOTP verification', () => {
  it('accepts the current step and one step each way, not two', async () => {
    const { secret } = await enrolled();
    const base = Math.floor(now / STEP) * STEP + 10 * STEP;
    now = base;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, base - STEP) })).toMatchObject({ ok: true, factor: 'totp' });
    now = base + 2 * STEP;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, base) })).toMatchObject({ ok: false, error: 'invalid_code' });
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now + STEP) })).toMatchObject({ ok: true });
  });

  it('rejects a replay across two challenges', async () => {
    const { secret } = await enrolled();
    now += 5 * STEP;
    const a = await engine.decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'd1' });
    const b = await engine.decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'd2' });
    const code = codeAt(secret, now);
    expect(await factors.verify({ user_id: 'alice', code, challenge_id: a.challenge_id as string })).toMatchObject({ ok: true, challenge_completed: true });
    expect(await factors.verify({ user_id: 'alice', code, challenge_id: b.challenge_id as string })).toMatchObject({ ok: false, error: 'invalid_code' });
    // The completed challenge taught the device; the other did not.
    const state = await store.getUserState('alice', 'd1', now);
    expect(state.known_devices).toContain('d1');
    expect(state.known_devices).not.toContain('d2');
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now + STEP), challenge_id: a.challenge_id as string })).toMatchObject({
      ok: false,
      error: 'invalid_challenge',
    });
  });

  it('refuses a challenge of another user without consuming the code', async () => {
    const { secret } = await enrolled();
    now += 5 * STEP;
    const other = await engine.decide({ user: { id: 'mallory' }, ip: LONDON, user_agent: CHROME, action: 'admin.x' });
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now), challenge_id: other.challenge_id as string })).toMatchObject({ ok: false, error: 'invalid_challenge' });
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true });
  });

  it('lets exactly one of 50 concurrent submissions of one valid code succeed', async () => {
    const { secret } = await enrolled();
    now += 5 * STEP;
    const code = codeAt(secret, now);
    const results = await Promise.all(Array.from({ length: 50 }, () => factors.verify({ user_id: 'alice', code })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it('rejects a replay from another process (a second store on the same file)', async () => {
    const { secret } = await enrolled();
    now += 5 * STEP;
    const code = codeAt(secret, now);
    const second = openSqliteStore({ path: dbPath });
    try {
      const other = new FactorService({ store: second, keyring, policy, clock: () => now, completeChallenge: async () => null });
      expect(await factors.verify({ user_id: 'alice', code })).toMatchObject({ ok: true });
      expect(await other.verify({ user_id: 'alice', code })).toMatchObject({ ok: false, error: 'invalid_code' });
    } finally {
      await second.close();
    }
  });
});

describe('backup codes', () => {
  it('work once each, case- and dash-insensitively', async () => {
    const { backup } = await enrolled();
    const [first, second] = backup as [string, string];
    expect(await factors.verify({ user_id: 'alice', code: first.toLowerCase().replace(/-/g, '') })).toMatchObject({ ok: true, factor: 'backup_code', backup_codes_remaining: 9 });
    expect(await factors.verify({ user_id: 'alice', code: first })).toMatchObject({ ok: false, error: 'invalid_code' });
    expect(await factors.verify({ user_id: 'alice', code: ` ${second.replace(/-/g, ' ')} ` })).toMatchObject({ ok: true, backup_codes_remaining: 8 });
  });

  it('let exactly one of 50 concurrent uses of one code succeed', async () => {
    const { backup } = await enrolled();
    const results = await Promise.all(Array.from({ length: 50 }, () => factors.verify({ user_id: 'alice', code: backup[0] as string })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await store.countBackupCodes('alice')).toBe(9);
  });

  it('regenerate only with a valid factor, and void the old codes', async () => {
    const { secret, backup } = await enrolled();
    expect(await factors.regenerateBackupCodes({ user_id: 'alice', code: 'WRNG-WRNG-WRNG' })).toMatchObject({ ok: false, error: 'invalid_code' });
    now += STEP;
    const fresh = await factors.regenerateBackupCodes({ user_id: 'alice', code: codeAt(secret, now) });
    expect(fresh).toMatchObject({ ok: true });
    expect(await factors.verify({ user_id: 'alice', code: backup[3] as string })).toMatchObject({ ok: false, error: 'invalid_code' });
    if (fresh.ok) expect(await factors.verify({ user_id: 'alice', code: fresh.backup_codes[0] as string })).toMatchObject({ ok: true });
  });

  it('count failures in their own budget, so guessing them cannot lock out TOTP', async () => {
    const { secret } = await enrolled();
    for (let i = 0; i < 5; i++) await factors.verify({ user_id: 'alice', code: `ZZZZ-ZZZZ-ZZZ${i}` });
    expect(await factors.verify({ user_id: 'alice', code: 'ZZZZ-ZZZZ-ZZZZ' })).toMatchObject({ ok: false, error: 'too_many_attempts' });
    now += STEP;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true, factor: 'totp' });
  });
});

describe('throttling', () => {
  it('backs off exponentially after 5 failures, resets on success, and survives a store reopen', async () => {
    const { secret } = await enrolled();
    now += 5 * STEP; // past the step that confirmed the enrollment
    const bad = (t: number) => String((Number(codeAt(secret, t)) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++) expect(await factors.verify({ user_id: 'alice', code: bad(now) })).toMatchObject({ ok: false, error: 'invalid_code' });
    const waiting = await factors.verify({ user_id: 'alice', code: codeAt(secret, now) });
    expect(waiting).toMatchObject({ ok: false, error: 'too_many_attempts', retry_after_s: 1 });

    // A restart (a new store on the same file) does not reset the counter.
    await store.close();
    store = openSqliteStore({ path: dbPath });
    build();
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: false, error: 'too_many_attempts' });

    now += 1000;
    expect(await factors.verify({ user_id: 'alice', code: bad(now) })).toMatchObject({ ok: false, error: 'invalid_code' });
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: false, error: 'too_many_attempts', retry_after_s: 2 });
    now += 2000;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true });
    expect((await store.getFailures('user:alice:totp')).consecutive).toBe(0);
  });

  it('locks the factor after 100 consecutive failures until an admin unlocks it, across a reopen', async () => {
    const { secret } = await enrolled();
    for (let i = 0; i < 100; i++) {
      now += 16 * 60 * 1000; // past the longest backoff each time
      const r = await factors.verify({ user_id: 'alice', code: String(i).padStart(6, '9') === codeAt(secret, now) ? '000001' : String(i).padStart(6, '9') });
      expect(r.ok).toBe(false);
    }
    now += 60 * 60 * 1000;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: false, error: 'factor_locked' });
    expect(logText).toContain('factor.locked');
    await store.close();
    store = openSqliteStore({ path: dbPath });
    build();
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: false, error: 'factor_locked' });
    await factors.unlock('alice', 'admin-1');
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true });
  }, 60_000);

  it('counts failures per IP across users as a second limit', async () => {
    await enrolled('u1');
    for (let v = 0; v < 5; v++) await enrolled(`victim-${v}`);
    // 4 failures each for 5 users: below every user's limit, but 20 from one address.
    for (let i = 0; i < 20; i++) {
      expect(await factors.verify({ user_id: `victim-${i % 5}`, code: 'AAAA-AAAA-AAAA', ip: '203.0.113.9' })).toMatchObject({ error: 'invalid_code' });
    }
    expect(await factors.verify({ user_id: 'u1', code: '123456', ip: '203.0.113.9' })).toMatchObject({ ok: false, error: 'too_many_attempts' });
    expect(await factors.verify({ user_id: 'u1', code: '123456', ip: '203.0.113.10' })).toMatchObject({ ok: false, error: 'invalid_code' });
  });
});

describe('recovery', () => {
  it('takes effect only after recovery_timeout, then the user must enroll again at once', async () => {
    const { secret } = await enrolled();
    const opened = await factors.openRecovery({ user_id: 'alice', verified_by: 'admin-1', verification: 'passport seen at the front desk' });
    expect(opened).toMatchObject({ ok: true });
    if (!opened.ok) return;
    expect(opened.recovery.effective_at).toBe(now + 24 * 3600 * 1000);
    expect((await store.getUserSummary('alice'))?.pending_recoveries).toHaveLength(1);

    now += 23 * 3600 * 1000;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true });

    now += 3600 * 1000;
    const d = await engine.decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME });
    expect(d.decision).toBe('require_mfa');
    expect(d.reasons.map((r) => r.rule)).toContain('enrollment_required');
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: false, error: 'not_enrolled' });
    expect(logText).toContain('recovery.applied');
  });

  it('is applied by verification too, before an old factor could be used', async () => {
    const { secret } = await enrolled();
    await factors.openRecovery({ user_id: 'alice', verified_by: 'admin-1', verification: 'id card' });
    now += 24 * 3600 * 1000;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: false, error: 'not_enrolled' });
  });

  it('can be cancelled by the user with a current factor, and then never applies', async () => {
    const { secret, backup } = await enrolled();
    const opened = await factors.openRecovery({ user_id: 'alice', verified_by: 'admin-1', verification: 'id card' });
    if (!opened.ok) throw new Error(opened.message);
    expect(await factors.cancelRecovery({ id: opened.recovery.id, code: 'nope' })).toMatchObject({ ok: false, error: 'invalid_code' });
    expect(await factors.cancelRecovery({ id: opened.recovery.id, code: backup[0] as string })).toMatchObject({ ok: true });
    expect(await factors.cancelRecovery({ id: opened.recovery.id, code: backup[1] as string })).toMatchObject({ ok: false, error: 'recovery_not_found' });
    now += 48 * 3600 * 1000;
    expect(await factors.verify({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true });
    expect(logText).toContain('recovery.cancelled');
  });

  it('is refused when the policy disables it', async () => {
    build(parsePolicy(POLICY.replace('"verify_with_id"', 'disabled'), 'off.yaml'));
    await enrolled();
    expect(await factors.openRecovery({ user_id: 'alice', verified_by: 'a', verification: 'b' })).toMatchObject({ ok: false, error: 'recovery_disabled' });
  });
});

describe('removing factors', () => {
  it('needs a current factor', async () => {
    const { secret } = await enrolled();
    expect(await factors.removeFactors({ user_id: 'alice', code: '000000' === codeAt(secret, now + STEP) ? '111111' : '000000' })).toMatchObject({ ok: false });
    now += STEP;
    expect(await factors.removeFactors({ user_id: 'alice', code: codeAt(secret, now) })).toMatchObject({ ok: true });
    expect(await store.getActiveTotp('alice')).toBeNull();
  });
});

describe('secrets at rest and in logs', () => {
  it('keeps the TOTP secret and every code out of the database file and the logs', async () => {
    const { secret, backup } = await enrolled();
    now += STEP;
    await factors.verify({ user_id: 'alice', code: codeAt(secret, now) });
    await factors.verify({ user_id: 'alice', code: backup[0] as string });
    await factors.verify({ user_id: 'alice', code: 'WRNG-WRNG-WRNG' });
    await store.ping();
    const bytes = readDatabaseBytes(dbPath).toString('latin1');
    const logs = logText;
    expect(logs).toContain('factor.verified');
    const secretBytes = Buffer.from(OTPAuth.Secret.fromBase32(secret).bytes).toString('latin1');
    for (const needle of [secret, secretBytes, ...backup, ...backup.map((c) => c.replace(/-/g, ''))]) {
      expect(bytes.includes(needle), `database contains ${needle}`).toBe(false);
      expect(logs.includes(needle), `logs contain ${needle}`).toBe(false);
    }
    expect(readFileSync(join(dir, 'secret.key'), 'utf8')).not.toContain(secret);
  });
});
