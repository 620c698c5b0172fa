// The DecisionEngine end to end on a real SQLite file: state from the store, signals, evaluation,
// challenges, and what a completed (or abandoned) login teaches.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecisionEngine, LOGIN_REFRESH_MS } from '../src/engine.js';
import { loadPolicy, parsePolicy } from '../src/policy/index.js';
import { openSqliteStore, type SqliteStore } from '../src/store/index.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const LONDON = '81.2.69.142';
const DORTMUND = '194.25.134.8';
const BRISBANE = '202.12.29.205';
const T0 = Date.parse('2026-06-01T12:00:00Z');
const MIN = 60_000;

const seed = loadPolicy('policies/default.yaml');
let dir: string;
let store: SqliteStore;
let now: number;
let ids: number;

function engine(policy = seed) {
  return new DecisionEngine({ store, policy, clock: () => now, newId: () => `id-${++ids}` });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mfa-gate-engine-'));
  store = openSqliteStore({ path: join(dir, 'store.db') });
  now = T0;
  ids = 0;
});

afterEach(async () => {
  await store.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('DecisionEngine', () => {
  it('registers a new user at first sight and starts the grace period there', async () => {
    const e = engine();
    const first = await e.decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME });
    expect(first.decision).toBe('allow');
    expect(first.reasons.map((r) => r.rule)).toEqual(['new_device', 'new_location', 'grace_period']);
    expect(first.enrollment.required_by).toBe(new Date(T0 + 30 * 24 * 60 * MIN).toISOString());
    expect(first.decision_id).toBe('id-1');
    expect(first.challenge_id).toBeUndefined();
    expect(first.policy.version).toBe(seed.version);

    now = T0 + 31 * 24 * 60 * MIN;
    const later = await e.decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME });
    expect(later.decision).toBe('require_mfa');
    expect(later.reasons.map((r) => r.rule)).toEqual(['enrollment_required']);
    expect(later.enrollment.required_by).toBe(first.enrollment.required_by);
  });

  it('learns device and location at once from an allow', async () => {
    const e = engine();
    await e.decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME });
    const state = await store.getUserState('carol', 'x', now);
    expect(state.known_devices).toHaveLength(1);
    expect(state.known_locations).toEqual(['GB/ENG/St Albans']);
    expect(state.last_login).toEqual({ time: T0, ip: LONDON });
    const again = await e.decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME });
    expect(again.risk.signals).toMatchObject({ new_device: false, new_location: false, first_login: false });
  });

  describe('an enrolled user', () => {
    beforeEach(async () => {
      await store.setEnrolled('alice', T0 - 100 * 24 * 60 * MIN);
      await store.recordLogin({ user_id: 'alice', device_key: 'alice-laptop', location_key: 'GB/ENG/St Albans', ip: LONDON, time: T0 - 60 * MIN, mfa: true });
    });

    it('is allowed on a known device and location', async () => {
      const d = await engine().decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-laptop' });
      expect(d.decision).toBe('allow');
      expect(d.reasons).toEqual([]);
    });

    it('gets a challenge for a new device, and only completing it teaches the device', async () => {
      const e = engine();
      const ctx = { user: { id: 'alice' }, ip: LONDON, user_agent: IPHONE, device_id: 'alice-phone' };
      const d = await e.decide(ctx);
      expect(d.decision).toBe('prompt_mfa');
      expect(d.challenge_id).toBe('id-2');

      // An abandoned challenge teaches nothing: the device is still new.
      expect((await e.decide(ctx)).decision).toBe('prompt_mfa');
      expect((await store.getUserState('alice', 'alice-phone', now)).known_devices).not.toContain('alice-phone');

      now += MIN;
      const done = await e.completeChallenge(d.challenge_id as string);
      expect(done).toMatchObject({ id: d.challenge_id, user_id: 'alice', device_key: 'alice-phone', decision: 'prompt_mfa' });
      const state = await store.getUserState('alice', 'alice-phone', now);
      expect(state.known_devices).toContain('alice-phone');
      expect(state.last_mfa).toEqual({ time: now, device: 'alice-phone' });

      const after = await e.decide(ctx);
      expect(after.decision).toBe('allow');
      expect(after.risk.signals.mfa_age_seconds).toBe(0);
    });

    it('completes a challenge once only, and not after it expired', async () => {
      const e = engine();
      const ctx = { user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-tablet' };
      const a = await e.decide(ctx);
      const b = await e.decide(ctx);
      expect(a.decision).toBe('prompt_mfa');
      expect(await e.completeChallenge(a.challenge_id as string)).not.toBeNull();
      expect(await e.completeChallenge(a.challenge_id as string)).toBeNull();
      now += seed.factors.challenge_ttl_s * 1000;
      expect(await e.completeChallenge(b.challenge_id as string)).toBeNull();
      expect(await e.completeChallenge('no-such-challenge')).toBeNull();
    });

    it('completes one challenge exactly once under 50 concurrent attempts', async () => {
      const e = engine();
      const d = await e.decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-tablet' });
      expect(d.challenge_id).toBeDefined();
      const results = await Promise.all(Array.from({ length: 50 }, () => e.completeChallenge(d.challenge_id as string)));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });

    it('requires a step-up for a sensitive action and honours step_up_max_age', async () => {
      const e = engine();
      const ctx = { user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-laptop', action: 'admin.users.delete' };
      const d = await e.decide(ctx);
      expect(d.decision).toBe('require_mfa');
      await e.completeChallenge(d.challenge_id as string);
      now += 5 * MIN;
      expect((await e.decide(ctx)).decision).toBe('allow');
      now += 1000;
      expect((await e.decide(ctx)).decision).toBe('require_mfa');
    });

    it('flags impossible travel from the last completed login', async () => {
      const policy = parsePolicy(
        'mfa_enforcement:\n  risk_based_prompting:\n    - impossible_travel: require_mfa\n',
        'travel.yaml',
      );
      const d = await engine(policy).decide({ user: { id: 'alice' }, ip: BRISBANE, user_agent: CHROME, device_id: 'alice-laptop' });
      expect(d.decision).toBe('require_mfa');
      expect(d.reasons[0]).toMatchObject({ rule: 'impossible_travel' });
      expect(d.reasons[0]?.detail).toMatch(/km since the last login/);
    });
  });

  it('skips re-recording the same known login within LOGIN_REFRESH_MS, and records it after', async () => {
    const e = engine();
    const ctx = { user: { id: 'dave' }, ip: LONDON, user_agent: CHROME, device_id: 'd1' };
    await e.decide(ctx);
    now += LOGIN_REFRESH_MS - 1;
    await e.decide(ctx);
    expect((await store.getUserState('dave', 'd1', now)).last_login?.time).toBe(T0);
    now += 1;
    await e.decide(ctx);
    expect((await store.getUserState('dave', 'd1', now)).last_login?.time).toBe(T0 + LOGIN_REFRESH_MS);
    await e.decide({ ...ctx, ip: DORTMUND });
    expect((await store.getUserState('dave', 'd1', now)).last_login?.ip).toBe(DORTMUND);
  });

  it('answers the fail mode when the store cannot be read, and never creates a challenge', async () => {
    const errors: unknown[] = [];
    const e = new DecisionEngine({ store, policy: seed, clock: () => now, onBackgroundError: (err) => errors.push(err) });
    await store.close();
    const d = await e.decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME });
    expect(d.decision).toBe('require_mfa');
    expect(d.reasons).toEqual([expect.objectContaining({ rule: 'store_unavailable', decision: 'require_mfa' })]);
    expect(d.challenge_id).toBeUndefined();
    expect(errors).toHaveLength(1);

    const open = parsePolicy('mfa_enforcement:\n  fail_mode: deny\n', 'deny.yaml');
    expect((await new DecisionEngine({ store, policy: open }).decide({ user: { id: 'a' } })).decision).toBe('deny');
  });

  it('reads the current policy on every decision (hot reload swaps it)', async () => {
    let current = seed;
    const e = new DecisionEngine({ store, policy: () => current, clock: () => now });
    const strict = loadPolicy('policies/strict.yaml');
    expect((await e.decide({ user: { id: 'x' } })).policy.version).toBe(seed.version);
    current = strict;
    expect((await e.decide({ user: { id: 'x' } })).policy.version).toBe(strict.version);
  });

  it('refuses an invalid challenge lifetime at construction', () => {
    expect(() => new DecisionEngine({ store, policy: seed, challengeTtlMs: 0 })).toThrow(RangeError);
  });
});

describe('DecisionEngine.recordMfa', () => {
  it('learns the device and location with an MFA time, as a completed challenge does', async () => {
    const e = engine();
    await store.setEnrolled('erin', T0 - 1000);
    await e.recordMfa({ user_id: 'erin', device_key: 'erin-browser', ip: LONDON });
    const d = await e.decide({ user: { id: 'erin' }, ip: LONDON, user_agent: CHROME, device_id: 'erin-browser', action: 'admin.x' });
    expect(d.risk.signals).toMatchObject({ new_device: false, new_location: false, mfa_age_seconds: 0 });
    expect(d.decision).toBe('allow');
  });
});
