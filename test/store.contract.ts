// The Store contract: every driver (SQLite, PostgreSQL) runs this same suite from its own *.test.ts.
// Ids are unique per test, so `open` may hand back stores on a shared, non-empty database. The factor
// half (TOTP, backup codes, throttling, recovery, approvals, summaries) is in store-factors.contract.ts, the
// out-of-band factors (codes by message, rate limits, push) in store-oob.contract.ts, retention in
// store-retention.contract.ts; all are registered from here, so a driver calls describeStoreContract only.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChallengeRecord, LoginRecord, RetentionOptions, Store } from '../src/store/types.js';
import type { UserState } from '../src/types.js';
import { describeFactorContract } from './store-factors.contract.js';
import { describeOobContract } from './store-oob.contract.js';
import { MINUTE, T0 } from './store-contract-helpers.js';
import { describeRetentionContract } from './store-retention.contract.js';

/**
 * Registers the contract tests. `open` returns a ready store (a new one per test, with the given options);
 * the suite closes it after each test. `cleanup` runs once after all of them (drop a temp directory or schema).
 */
export function describeStoreContract(
  name: string,
  open: (options?: { retention?: Partial<RetentionOptions> }) => Promise<Store>,
  cleanup?: () => Promise<void> | void,
): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let uid: (label: string) => string;

    beforeEach(async () => {
      store = await open();
      const run = randomUUID().slice(0, 8);
      uid = (label) => `${label}-${run}`;
    });
    afterEach(async () => {
      await store.close();
    });
    if (cleanup) afterAll(cleanup);

    const login = (over: Partial<LoginRecord> & { user_id: string }): LoginRecord => ({
      device_key: 'dev-a',
      location_key: 'FR/IDF/Paris',
      ip: '192.0.2.1',
      time: T0,
      mfa: false,
      ...over,
    });
    const challenge = (over: Partial<ChallengeRecord> = {}): Omit<ChallengeRecord, 'completed_at'> => ({
      id: uid('ch'),
      user_id: uid('alice'),
      decision: 'prompt_mfa',
      device_key: 'dev-a',
      location_key: 'FR/IDF/Paris',
      ip: '192.0.2.1',
      enrollment_allowed: true,
      device_label: 'Firefox on Linux',
      created_at: T0,
      expires_at: T0 + 5 * MINUTE,
      ...over,
    });

    describe('getUserState', () => {
      it('registers an unknown user with first_seen = now and an otherwise empty state', async () => {
        const state = await store.getUserState(uid('alice'), 'dev-a', T0);
        expect(state).toEqual<UserState>({
          enrolled: false,
          enrolled_at: null,
          first_seen: T0,
          known_devices: [],
          known_locations: [],
          last_login: null,
          last_mfa: null,
          failed_attempts: 0,
          enrollment_deadline: null,
          recovery_due_at: null,
        });
      });

      it('keeps first_seen from the first sight (the grace period does not restart)', async () => {
        const user = uid('alice');
        await store.getUserState(user, 'dev-a', T0);
        const later = await store.getUserState(user, 'dev-b', T0 + 10 * MINUTE);
        expect(later.first_seen).toBe(T0);
        await store.recordLogin(login({ user_id: user, time: T0 + 20 * MINUTE }));
        expect((await store.getUserState(user, 'dev-a', T0 + 30 * MINUTE)).first_seen).toBe(T0);
      });

      it('keeps users apart', async () => {
        await store.recordLogin(login({ user_id: uid('alice') }));
        const bob = await store.getUserState(uid('bob'), 'dev-a', T0 + 1);
        expect(bob.known_devices).toEqual([]);
        expect(bob.last_login).toBeNull();
      });
    });

    describe('recordLogin', () => {
      it('resolves, and creates the user with first_seen = the login time', async () => {
        const user = uid('alice');
        await expect(store.recordLogin(login({ user_id: user, time: T0 }))).resolves.toBeUndefined();
        const state = await store.getUserState(user, 'dev-a', T0 + MINUTE);
        expect(state.first_seen).toBe(T0);
        expect(state.known_devices).toEqual(['dev-a']);
        expect(state.known_locations).toEqual(['FR/IDF/Paris']);
        expect(state.last_login).toEqual({ time: T0, ip: '192.0.2.1' });
        expect(state.last_mfa).toBeNull();
      });

      it('learns devices and locations, most recently seen first, without duplicates', async () => {
        const user = uid('alice');
        await store.recordLogin(login({ user_id: user, device_key: 'd1', location_key: 'FR', time: T0 }));
        await store.recordLogin(login({ user_id: user, device_key: 'd2', location_key: 'DE', time: T0 + 1000 }));
        await store.recordLogin(login({ user_id: user, device_key: 'd1', location_key: 'FR', time: T0 + 2000 }));
        const state = await store.getUserState(user, 'd1', T0 + 3000);
        expect(state.known_devices).toEqual(['d1', 'd2']);
        expect(state.known_locations).toEqual(['FR', 'DE']);
      });

      it('learns no location when the login has none, and keeps a null IP', async () => {
        const user = uid('alice');
        await store.recordLogin(login({ user_id: user, location_key: null, ip: null }));
        const state = await store.getUserState(user, 'dev-a', T0 + 1);
        expect(state.known_locations).toEqual([]);
        expect(state.known_devices).toEqual(['dev-a']);
        expect(state.last_login).toEqual({ time: T0, ip: null });
      });

      it('never moves last_login or a device last_seen backwards (late writes from another instance)', async () => {
        const user = uid('alice');
        await store.recordLogin(login({ user_id: user, device_key: 'd1', ip: '192.0.2.1', time: T0 + 100 }));
        await store.recordLogin(login({ user_id: user, device_key: 'd2', ip: '192.0.2.2', time: T0 + 200 }));
        await store.recordLogin(login({ user_id: user, device_key: 'd1', ip: '192.0.2.9', time: T0 + 50 }));
        const state = await store.getUserState(user, 'd1', T0 + 300);
        expect(state.last_login).toEqual({ time: T0 + 200, ip: '192.0.2.2' });
        expect(state.known_devices).toEqual(['d2', 'd1']);
      });

      it('records the MFA time only for the device it happened on', async () => {
        const user = uid('alice');
        await store.recordLogin(login({ user_id: user, device_key: 'd1', time: T0, mfa: true }));
        await store.recordLogin(login({ user_id: user, device_key: 'd2', time: T0 + 1000, mfa: false }));
        expect((await store.getUserState(user, 'd1', T0 + 2000)).last_mfa).toEqual({ time: T0, device: 'd1' });
        expect((await store.getUserState(user, 'd2', T0 + 2000)).last_mfa).toBeNull();
        expect((await store.getUserState(user, 'unknown', T0 + 2000)).last_mfa).toBeNull();
      });

      it('keeps the latest MFA time: a later login without MFA does not clear it, an older one does not win', async () => {
        const user = uid('alice');
        await store.recordLogin(login({ user_id: user, time: T0, mfa: true }));
        await store.recordLogin(login({ user_id: user, time: T0 + 5000, mfa: true }));
        await store.recordLogin(login({ user_id: user, time: T0 + 6000, mfa: false }));
        await store.recordLogin(login({ user_id: user, time: T0 + 1000, mfa: true }));
        expect((await store.getUserState(user, 'dev-a', T0 + 7000)).last_mfa).toEqual({
          time: T0 + 5000,
          device: 'dev-a',
        });
      });

      it('is seen by a read issued right after it, without awaiting it', async () => {
        const user = uid('alice');
        const written = store.recordLogin(login({ user_id: user, time: T0, mfa: true }));
        const state = await store.getUserState(user, 'dev-a', T0 + 1);
        expect(state.known_devices).toEqual(['dev-a']);
        expect(state.last_mfa).toEqual({ time: T0, device: 'dev-a' });
        await written;
      });

      it('settles every one of many writes issued at once', async () => {
        const users = Array.from({ length: 300 }, (_, i) => uid(`u${i}`));
        await Promise.all(users.map((u, i) => store.recordLogin(login({ user_id: u, time: T0 + i }))));
        const states = await Promise.all(users.map((u) => store.getUserState(u, 'dev-a', T0 + 1000)));
        expect(states.every((s, i) => s.last_login?.time === T0 + i)).toBe(true);
      });
    });

    describe('challenges', () => {
      it('creates and reads back a challenge with every field', async () => {
        const c = challenge({ location_key: null, ip: null, enrollment_allowed: false, decision: 'require_mfa' });
        await expect(store.createChallenge(c)).resolves.toBeUndefined();
        expect(await store.getChallenge(c.id)).toEqual({ ...c, completed_at: null });
        const d = challenge({ id: uid('ch2') });
        await store.createChallenge(d);
        expect(await store.getChallenge(d.id)).toEqual({ ...d, completed_at: null });
        // Without a device label (callers before issue #7): read back as null.
        const { device_label: _label, ...unlabelled } = challenge({ id: uid('ch3') });
        await store.createChallenge(unlabelled);
        expect(await store.getChallenge(unlabelled.id)).toEqual({ ...unlabelled, device_label: null, completed_at: null });
        expect((await store.completeChallenge(d.id, T0 + 1))?.device_label).toBe('Firefox on Linux');
      });

      it('returns null for an unknown challenge', async () => {
        expect(await store.getChallenge(uid('nope'))).toBeNull();
        expect(await store.completeChallenge(uid('nope'), T0)).toBeNull();
      });

      it('completes an open challenge once: the second completion gets null', async () => {
        const c = challenge();
        await store.createChallenge(c);
        const done = await store.completeChallenge(c.id, T0 + MINUTE);
        expect(done).toEqual({ ...c, completed_at: T0 + MINUTE });
        expect(await store.completeChallenge(c.id, T0 + 2 * MINUTE)).toBeNull();
        expect(await store.getChallenge(c.id)).toEqual({ ...c, completed_at: T0 + MINUTE });
      });

      it('does not complete an expired challenge (expires_at is exclusive)', async () => {
        const c = challenge();
        await store.createChallenge(c);
        expect(await store.completeChallenge(c.id, c.expires_at)).toBeNull();
        expect(await store.completeChallenge(c.id, c.expires_at + 1)).toBeNull();
        expect((await store.getChallenge(c.id))?.completed_at).toBeNull();
        expect(await store.completeChallenge(c.id, c.expires_at - 1)).not.toBeNull();
      });

      it('gives the record to exactly one of 50 concurrent completions', async () => {
        const c = challenge();
        await store.createChallenge(c);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.completeChallenge(c.id, T0 + 1000 + i)),
        );
        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        expect((await store.getChallenge(c.id))?.completed_at).toBe(winners[0]?.completed_at);
      });

      it('sees a challenge created just before, without awaiting the creation', async () => {
        const c = challenge();
        const created = store.createChallenge(c);
        expect(await store.getChallenge(c.id)).toEqual({ ...c, completed_at: null });
        const d = challenge({ id: uid('ch2') });
        const createdD = store.createChallenge(d);
        expect((await store.completeChallenge(d.id, T0 + 1))?.id).toBe(d.id);
        await Promise.all([created, createdD]);
      });

      it('rejects a duplicate id alone: writes issued beside it still land', async () => {
        const c = challenge();
        await store.createChallenge(c);
        const user = uid('bob');
        const results = await Promise.allSettled([
          store.recordLogin(login({ user_id: user })),
          store.createChallenge({ ...c, device_key: 'other' }),
          store.createChallenge(challenge({ id: uid('ch3') })),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect((await store.getChallenge(c.id))?.device_key).toBe('dev-a');
        expect(await store.getChallenge(uid('ch3'))).not.toBeNull();
        expect((await store.getUserState(user, 'dev-a', T0 + 1)).known_devices).toEqual(['dev-a']);
      });
    });

    describe('setEnrolled', () => {
      it('marks a user enrolled, then not enrolled', async () => {
        const user = uid('alice');
        await store.getUserState(user, 'dev-a', T0);
        await store.setEnrolled(user, T0 + MINUTE);
        let state = await store.getUserState(user, 'dev-a', T0 + 2 * MINUTE);
        expect(state.enrolled).toBe(true);
        expect(state.enrolled_at).toBe(T0 + MINUTE);
        expect(state.first_seen).toBe(T0);
        await store.setEnrolled(user, null);
        state = await store.getUserState(user, 'dev-a', T0 + 3 * MINUTE);
        expect(state.enrolled).toBe(false);
        expect(state.enrolled_at).toBeNull();
      });

      it('creates an unknown user when enrolling it', async () => {
        const user = uid('alice');
        await store.setEnrolled(user, T0);
        const state = await store.getUserState(user, 'dev-a', T0 + MINUTE);
        expect(state.enrolled).toBe(true);
        expect(state.first_seen).toBe(T0);
      });

      it('leaves an unknown user not enrolled when un-enrolling it', async () => {
        const user = uid('alice');
        await store.setEnrolled(user, null);
        expect((await store.getUserState(user, 'dev-a', T0)).enrolled).toBe(false);
      });

      it('keeps the first_seen of a login issued just before it', async () => {
        const user = uid('alice');
        const written = store.recordLogin(login({ user_id: user, time: T0 }));
        await store.setEnrolled(user, T0 + MINUTE);
        await written;
        expect((await store.getUserState(user, 'dev-a', T0 + 2 * MINUTE)).first_seen).toBe(T0);
      });
    });

    describeFactorContract({ store: () => store, uid: (label) => uid(label) });
    describeOobContract({ store: () => store, uid: (label) => uid(label) });
    describeRetentionContract({ open, uid: (label) => uid(label) });

    describe('lifecycle', () => {
      it('ping resolves while open', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('closing twice is harmless (shutdown paths may race)', async () => {
        await store.close();
        await expect(store.close()).resolves.toBeUndefined();
      });

      it('close commits writes still queued', async () => {
        const written = store.recordLogin(login({ user_id: uid('alice') }));
        const created = store.createChallenge(challenge());
        await store.close();
        await expect(written).resolves.toBeUndefined();
        await expect(created).resolves.toBeUndefined();
      });

      it('after close, every method rejects (a promise, never a synchronous throw) with a clear error', async () => {
        await store.close();
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['getUserState', () => store.getUserState(uid('alice'), 'dev-a', T0)],
          ['recordLogin', () => store.recordLogin(login({ user_id: uid('alice') }))],
          ['createChallenge', () => store.createChallenge(challenge())],
          ['getChallenge', () => store.getChallenge(uid('ch'))],
          ['completeChallenge', () => store.completeChallenge(uid('ch'), T0)],
          ['setEnrolled', () => store.setEnrolled(uid('alice'), T0)],
          ['getUserSummary', () => store.getUserSummary(uid('alice'))],
          ['listUsers', () => store.listUsers()],
          ['forgetDevice', () => store.forgetDevice(uid('alice'), 'dev-a')],
          ['savePendingTotp', () => store.savePendingTotp({ user_id: uid('alice'), secret: 'ct', created_at: T0 })],
          ['getPendingTotp', () => store.getPendingTotp(uid('alice'))],
          ['getActiveTotp', () => store.getActiveTotp(uid('alice'))],
          ['activateTotp', () => store.activateTotp(uid('alice'), 1, ['h'], T0)],
          ['acceptTotpStep', () => store.acceptTotpStep(uid('alice'), 1)],
          ['removeFactors', () => store.removeFactors(uid('alice'))],
          ['replaceBackupCodes', () => store.replaceBackupCodes(uid('alice'), ['h'], T0)],
          ['consumeBackupCode', () => store.consumeBackupCode(uid('alice'), ['h'], T0)],
          ['countBackupCodes', () => store.countBackupCodes(uid('alice'))],
          ['getFailures', () => store.getFailures('ip:192.0.2.1')],
          ['recordFailure', () => store.recordFailure('ip:192.0.2.1', T0, 10)],
          ['resetFailures', () => store.resetFailures('ip:192.0.2.1')],
          ['unlock', () => store.unlock('ip:')],
          ['openRecovery', () => store.openRecovery({ id: uid('r'), user_id: uid('alice'), verified_by: 'a', verification: 'v', opened_at: T0, effective_at: T0 })],
          ['getRecovery', () => store.getRecovery(uid('r'))],
          ['cancelRecovery', () => store.cancelRecovery(uid('r'), T0)],
          ['applyDueRecoveries', () => store.applyDueRecoveries(uid('alice'), T0)],
          ['approveEnrollment', () => store.approveEnrollment({ user_id: uid('alice'), approved_by: 'a', approved_at: T0, expires_at: T0 + 1 })],
          ['getEnrollmentApproval', () => store.getEnrollmentApproval(uid('alice'), T0)],
          ['savePendingMessageDestination', () => store.savePendingMessageDestination({ user_id: uid('alice'), channel: 'sms', address: 'ct', created_at: T0 })],
          ['getMessageDestination', () => store.getMessageDestination(uid('alice'))],
          ['getPendingMessageDestination', () => store.getPendingMessageDestination(uid('alice'))],
          ['confirmMessageDestination', () => store.confirmMessageDestination(uid('alice'), T0)],
          ['removeMessageDestination', () => store.removeMessageDestination(uid('alice'))],
          ['createMessageCode', () => store.createMessageCode({ id: uid('mc'), user_id: uid('alice'), purpose: 'verify', challenge_id: null, code_hash: 'h', created_at: T0, expires_at: T0 + 1 })],
          ['consumeMessageCode', () => store.consumeMessageCode(uid('alice'), ['h'], 'verify', null, T0)],
          ['hitRateLimit', () => store.hitRateLimit(`send:${uid('alice')}`, T0, MINUTE, 3)],
          ['releaseRateLimit', () => store.releaseRateLimit(`send:${uid('alice')}`, T0)],
          ['savePushDevice', () => store.savePushDevice({ user_id: uid('alice'), device_id: 'd', public_key: 'k', name: 'n', created_at: T0 })],
          ['getPushDevice', () => store.getPushDevice(uid('alice'), 'd')],
          ['listPushDevices', () => store.listPushDevices(uid('alice'))],
          ['removePushDevice', () => store.removePushDevice(uid('alice'), 'd')],
          ['createPushChallenge', () => store.createPushChallenge({ id: uid('p'), user_id: uid('alice'), device_id: 'd', challenge_id: null, number: 42, created_at: T0, expires_at: T0 + 1 })],
          ['getPushChallenge', () => store.getPushChallenge(uid('p'))],
          ['respondPushChallenge', () => store.respondPushChallenge(uid('p'), 'approved', T0)],
          ['purgeExpired', () => store.purgeExpired(T0)],
          ['ping', () => store.ping()],
        ];
        for (const [method, call] of calls) {
          let pending: Promise<unknown> | undefined;
          expect(() => {
            pending = call();
          }, method).not.toThrow();
          await expect(pending, method).rejects.toThrow(/closed/i);
        }
      });
    });
  });
}
