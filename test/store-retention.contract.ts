// The Store contract, retention half: bounded known devices and locations, their expiry, and purgeExpired
// (out-of-band rows included).
// Registered by describeStoreContract (test/store.contract.ts), so every driver runs it. Each test opens its
// own store with small retention options; ids are unique per test (the database may be shared).
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION } from '../src/store/retention.js';
import { ipSubject, userSubject } from '../src/store/subjects.js';
import type { LoginRecord, RetentionOptions, Store } from '../src/store/types.js';
import { DAY, HOUR, MINUTE, T0 } from './store-contract-helpers.js';

export interface RetentionContractContext {
  open: (options?: { retention?: Partial<RetentionOptions> }) => Promise<Store>;
  uid: (label: string) => string;
}

export function describeRetentionContract({ open, uid }: RetentionContractContext): void {
  describe('retention', () => {
    const stores: Store[] = [];
    const openWith = async (retention: Partial<RetentionOptions>) => {
      const store = await open({ retention });
      stores.push(store);
      return store;
    };
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
    });
    const login = (over: Partial<LoginRecord> & { user_id: string }): LoginRecord => ({
      device_key: 'dev-a',
      location_key: 'FR/IDF/Paris',
      ip: '192.0.2.1',
      time: T0,
      mfa: false,
      ...over,
    });

    it('the defaults are 50 devices and locations per user, forgotten after 180 days', () => {
      expect(DEFAULT_RETENTION).toMatchObject({ knownDevices: 50, knownLocations: 50, knownMaxAgeMs: 180 * DAY });
    });

    it('keeps at most knownDevices devices per user, dropping the least recently seen', async () => {
      const store = await openWith({ knownDevices: 3 });
      const user = uid('alice');
      for (let i = 0; i < 5; i++) await store.recordLogin(login({ user_id: user, device_key: `dev-${i}`, time: T0 + i * MINUTE }));
      // dev-0 seen again last: it is now the most recent, so dev-1 and dev-2 were the ones dropped.
      await store.recordLogin(login({ user_id: user, device_key: 'dev-0', time: T0 + 10 * MINUTE }));
      const state = await store.getUserState(user, 'dev-0', T0 + 11 * MINUTE);
      expect(state.known_devices).toEqual(['dev-0', 'dev-4', 'dev-3']);
      const summary = await store.getUserSummary(user);
      expect(summary?.known_devices.map((d) => d.key)).toEqual(['dev-0', 'dev-4', 'dev-3']);
      // Another user's devices are not counted against this one's.
      const bob = uid('bob');
      await store.recordLogin(login({ user_id: bob, device_key: 'dev-b' }));
      expect((await store.getUserState(bob, 'dev-b', T0 + MINUTE)).known_devices).toEqual(['dev-b']);
      expect((await store.getUserState(user, 'dev-0', T0 + 12 * MINUTE)).known_devices).toHaveLength(3);
    });

    it('keeps at most knownLocations locations per user, dropping the least recently seen', async () => {
      const store = await openWith({ knownLocations: 2 });
      const user = uid('alice');
      for (const [i, place] of ['FR/IDF/Paris', 'DE/BE/Berlin', 'IT/RM/Rome'].entries()) {
        await store.recordLogin(login({ user_id: user, location_key: place, time: T0 + i * MINUTE }));
      }
      const state = await store.getUserState(user, 'dev-a', T0 + HOUR);
      expect(state.known_locations).toEqual(['IT/RM/Rome', 'DE/BE/Berlin']);
      expect(state.known_devices).toEqual(['dev-a']);
    });

    it('a device or location not seen for knownMaxAgeMs is no longer known, and its MFA no longer counts', async () => {
      const store = await openWith({ knownMaxAgeMs: 30 * DAY });
      const user = uid('alice');
      await store.recordLogin(login({ user_id: user, device_key: 'old', location_key: 'DE/BE/Berlin', time: T0, mfa: true }));
      await store.recordLogin(login({ user_id: user, device_key: 'new', location_key: 'FR/IDF/Paris', time: T0 + 20 * DAY }));
      const before = await store.getUserState(user, 'old', T0 + 30 * DAY - 1);
      expect(before.known_devices).toEqual(['new', 'old']);
      expect(before.last_mfa).toEqual({ time: T0, device: 'old' });
      const after = await store.getUserState(user, 'old', T0 + 30 * DAY + 1);
      expect(after.known_devices).toEqual(['new']);
      expect(after.known_locations).toEqual(['FR/IDF/Paris']);
      expect(after.last_mfa).toBeNull();
      // The user itself and its last login are kept.
      expect(after.first_seen).toBe(T0);
      expect(after.last_login?.time).toBe(T0 + 20 * DAY);
    });

    it('purgeExpired deletes expired devices, locations, challenges, approvals, closed recoveries and stale counters, and only those', async () => {
      const store = await openWith({
        knownMaxAgeMs: 30 * DAY,
        challengesMs: DAY,
        recoveriesMs: 10 * DAY,
        failuresMs: 7 * DAY,
      });
      const user = uid('alice');
      const now = T0 + 40 * DAY;
      await store.recordLogin(login({ user_id: user, device_key: 'old', location_key: 'DE/BE/Berlin', time: T0 }));
      await store.recordLogin(login({ user_id: user, device_key: 'new', location_key: 'FR/IDF/Paris', time: now - DAY }));
      const challenge = (id: string, expires_at: number) => ({
        id, user_id: user, decision: 'prompt_mfa' as const, device_key: 'new', location_key: null, ip: null,
        enrollment_allowed: false, created_at: expires_at - 5 * MINUTE, expires_at,
      });
      await store.createChallenge(challenge(uid('ch-old'), now - DAY - 1));
      await store.createChallenge(challenge(uid('ch-recent'), now - DAY + 1));
      const recovery = (id: string, effective_at: number) => ({
        id, user_id: user, verified_by: 'admin', verification: 'id checked', opened_at: effective_at - DAY, effective_at,
      });
      // Closed long ago, closed recently, and still open although old: only the first goes.
      await store.openRecovery(recovery(uid('rec-old'), T0 + DAY));
      expect(await store.cancelRecovery(uid('rec-old'), T0 + 2 * HOUR)).not.toBeNull();
      await store.openRecovery(recovery(uid('rec-recent'), now));
      expect(await store.cancelRecovery(uid('rec-recent'), now - DAY)).not.toBeNull();
      await store.openRecovery(recovery(uid('rec-open'), now + DAY));
      await store.approveEnrollment({ user_id: user, approved_by: 'admin', approved_at: T0, expires_at: T0 + HOUR });
      const other = uid('bob');
      await store.approveEnrollment({ user_id: other, approved_by: 'admin', approved_at: now, expires_at: now + HOUR });
      // Counters: stale and unlocked (goes), back to zero (goes), stale but locked (kept), recent (kept).
      const stale = ipSubject(`198.51.100.${Math.floor(Math.random() * 250)}-${uid('x')}`);
      await store.recordFailure(stale, now - 8 * DAY, 100);
      const zero = userSubject(uid('carol'), 'totp');
      await store.recordFailure(zero, now - HOUR, 100);
      await store.resetFailures(zero);
      const locked = userSubject(uid('dave'), 'totp');
      await store.recordFailure(locked, now - 8 * DAY, 1);
      const recent = userSubject(uid('erin'), 'totp');
      await store.recordFailure(recent, now - HOUR, 100);

      const purged = await store.purgeExpired(now);
      // The database may be shared with other tests: at least ours went, and ours that must stay stayed.
      expect(purged.devices).toBeGreaterThanOrEqual(1);
      expect(purged.locations).toBeGreaterThanOrEqual(1);
      expect(purged.challenges).toBeGreaterThanOrEqual(1);
      expect(purged.recoveries).toBeGreaterThanOrEqual(1);
      expect(purged.approvals).toBeGreaterThanOrEqual(1);
      expect(purged.failures).toBeGreaterThanOrEqual(2);

      const summary = await store.getUserSummary(user);
      expect(summary?.known_devices.map((d) => d.key)).toEqual(['new']);
      expect(summary?.known_locations.map((l) => l.key)).toEqual(['FR/IDF/Paris']);
      expect(await store.getChallenge(uid('ch-old'))).toBeNull();
      expect(await store.getChallenge(uid('ch-recent'))).not.toBeNull();
      expect(await store.getRecovery(uid('rec-old'))).toBeNull();
      expect(await store.getRecovery(uid('rec-recent'))).not.toBeNull();
      expect(await store.getRecovery(uid('rec-open'))).not.toBeNull();
      expect(await store.getEnrollmentApproval(other, now)).not.toBeNull();
      expect((await store.getFailures(stale)).consecutive).toBe(0);
      expect((await store.getFailures(zero)).last_failure_at).toBeNull();
      expect((await store.getFailures(locked)).locked_at).toBe(now - 8 * DAY);
      expect((await store.getFailures(recent)).consecutive).toBe(1);

      // A second purge at the same time finds nothing of ours left (idempotent, as concurrent instances need).
      await store.purgeExpired(now);
      expect(await store.getChallenge(uid('ch-recent'))).not.toBeNull();
    });

    it('purgeExpired deletes message codes and push challenges expired longer ago than challengesMs, and ended rate windows', async () => {
      const store = await openWith({ challengesMs: DAY });
      // Far after every other test's rows: a first purge clears whatever the (possibly shared) database holds
      // from them, so the second one counts exactly ours.
      const now = T0 + 1000 * DAY;
      const first = await store.purgeExpired(now);
      expect(Object.keys(first).sort()).toEqual([
        'approvals', 'challenges', 'devices', 'failures', 'locations', 'message_codes', 'push_challenges',
        'rate_limits', 'recoveries',
      ]);
      const user = uid('alice');
      const code = (id: string, expires_at: number, hash: string) => ({
        id, user_id: user, purpose: 'verify' as const, challenge_id: null, code_hash: hash,
        created_at: expires_at - 5 * MINUTE, expires_at,
      });
      // Expired longer ago than a day (unused, and used): go. Expired recently, or still open: stay.
      await store.createMessageCode(code(uid('mc-old'), now - DAY - 1, 'h-old'));
      await store.createMessageCode(code(uid('mc-used'), now - DAY - 1, 'h-used'));
      expect(await store.consumeMessageCode(user, ['h-used'], 'verify', null, now - DAY - 2)).not.toBeNull();
      await store.createMessageCode(code(uid('mc-recent'), now - DAY + 1, 'h-recent'));
      await store.createMessageCode(code(uid('mc-open'), now + MINUTE, 'h-open'));
      const push = (id: string, expires_at: number) => ({
        id, user_id: user, device_id: 'dev-1', challenge_id: null, number: 42,
        created_at: expires_at - 2 * MINUTE, expires_at,
      });
      await store.createPushChallenge(push(uid('push-old'), now - DAY - 1));
      await store.createPushChallenge(push(uid('push-recent'), now - DAY + 1));
      await store.createPushChallenge(push(uid('push-open'), now + MINUTE));
      // Windows: ended before now, ending exactly at now (ended), still running.
      const ended = `send:${uid('ended')}`;
      const endsNow = `send:${uid('ends-now')}`;
      const running = `send:${uid('running')}`;
      await store.hitRateLimit(ended, now - 2 * HOUR, HOUR, 3);
      await store.hitRateLimit(endsNow, now - HOUR, HOUR, 3);
      await store.hitRateLimit(running, now - HOUR + 1, HOUR, 3);

      expect(await store.purgeExpired(now)).toEqual({
        challenges: 0, devices: 0, locations: 0, recoveries: 0, failures: 0, approvals: 0,
        message_codes: 2, push_challenges: 1, rate_limits: 2,
      });
      expect(await store.getPushChallenge(uid('push-old'))).toBeNull();
      expect(await store.getPushChallenge(uid('push-recent'))).not.toBeNull();
      expect(await store.getPushChallenge(uid('push-open'))).not.toBeNull();
      expect(await store.consumeMessageCode(user, ['h-open'], 'verify', null, now)).not.toBeNull();
      // The running window kept its count.
      expect(await store.hitRateLimit(running, now, HOUR, 3)).toEqual({ allowed: true, count: 2, reset_at: now + 1 });
      // A second purge at the same time finds nothing more (idempotent, as concurrent instances need).
      expect(await store.purgeExpired(now)).toMatchObject({ message_codes: 0, push_challenges: 0, rate_limits: 0 });
    });

    it('rejects invalid retention options at construction', async () => {
      await expect(open({ retention: { knownDevices: 0 } })).rejects.toThrow(/knownDevices/);
      await expect(open({ retention: { knownMaxAgeMs: -1 } })).rejects.toThrow(/knownMaxAgeMs/);
      await expect(open({ retention: { challengesMs: Number.NaN } })).rejects.toThrow(/challengesMs/);
    });
  });
}
