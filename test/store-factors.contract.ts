// The Store contract, factor half: TOTP, backup codes, throttling, recovery, enrollment approvals, user
// summaries. Registered by describeStoreContract (test/store.contract.ts), so every driver runs it. Ids are
// unique per test (the database may be shared). "Concurrent" calls are issued together without awaiting in
// between: a driver with a connection pool really races them, and every single-use rule must still hold.
import { describe, expect, it } from 'vitest';
import { ipSubject, userSubject, userSubjectPrefix } from '../src/store/subjects.js';
import { CONCURRENCY, HOUR, MINUTE, T0, count, recoveryRecords, times, type ContractContext } from './store-contract-helpers.js';

export type FactorContractContext = ContractContext;

export function describeFactorContract({ store: s, uid }: FactorContractContext): void {
  /** A user with an active factor (last_step 1000) and backup codes h1..h3, enrolled at T0. */
  async function enrolledUser(label = 'alice', codes = ['h1', 'h2', 'h3']) {
    const user = uid(label);
    await s().savePendingTotp({ user_id: user, secret: 'ct-1', created_at: T0 - MINUTE });
    expect(await s().activateTotp(user, 1000, codes, T0)).toBe(true);
    return user;
  }
  const recovery = recoveryRecords(uid);

  describe('TOTP', () => {
    it('stores and replaces a pending enrollment; an active factor stays active until confirmation', async () => {
      const user = await enrolledUser();
      expect(await s().getPendingTotp(user)).toBeNull();
      await s().savePendingTotp({ user_id: user, secret: 'ct-2', created_at: T0 + 1 });
      await s().savePendingTotp({ user_id: user, secret: 'ct-3', created_at: T0 + 2 });
      expect(await s().getPendingTotp(user)).toEqual({ user_id: user, secret: 'ct-3', created_at: T0 + 2 });
      expect((await s().getActiveTotp(user))?.secret).toBe('ct-1');
      expect(await s().getPendingTotp(uid('nobody'))).toBeNull();
      expect(await s().getActiveTotp(uid('nobody'))).toBeNull();
    });

    it('activateTotp without a pending enrollment returns false and changes nothing', async () => {
      const user = uid('alice');
      expect(await s().activateTotp(user, 5, ['h1'], T0)).toBe(false);
      expect(await s().getActiveTotp(user)).toBeNull();
      expect(await s().countBackupCodes(user)).toBe(0);
      expect(await s().getUserSummary(user)).toBeNull();
    });

    it('activateTotp moves the pending secret to the active factor, sets last_step, enrolls, stores the codes', async () => {
      const user = uid('alice');
      await s().approveEnrollment({ user_id: user, approved_by: 'admin', approved_at: T0, expires_at: T0 + HOUR });
      await s().savePendingTotp({ user_id: user, secret: 'ct-1', created_at: T0 - MINUTE });
      expect(await s().activateTotp(user, 1000, ['h1', 'h2'], T0)).toBe(true);
      expect(await s().getActiveTotp(user)).toEqual({
        user_id: user,
        secret: 'ct-1',
        created_at: T0 - MINUTE,
        confirmed_at: T0,
        last_step: 1000,
      });
      expect(await s().getPendingTotp(user)).toBeNull();
      expect(await s().countBackupCodes(user)).toBe(2);
      expect(await s().getEnrollmentApproval(user, T0 + 1)).toBeNull(); // consumed
      const state = await s().getUserState(user, 'dev-a', T0 + 1);
      expect(state).toMatchObject({ enrolled: true, enrolled_at: T0, first_seen: T0, enrollment_deadline: null });
      // The confirming code cannot be replayed.
      expect(await s().acceptTotpStep(user, 1000)).toBe(false);
      expect(await s().acceptTotpStep(user, 1001)).toBe(true);
    });

    it('keeps the first_seen of a login issued just before activation', async () => {
      const user = uid('alice');
      const written = s().recordLogin({ user_id: user, device_key: 'd', location_key: null, ip: null, time: T0 - HOUR, mfa: false });
      await s().savePendingTotp({ user_id: user, secret: 'ct', created_at: T0 });
      expect(await s().activateTotp(user, 1, [], T0)).toBe(true);
      await written;
      expect((await s().getUserState(user, 'd', T0 + 1)).first_seen).toBe(T0 - HOUR);
    });

    it('a new activation replaces the old factor and voids every old backup code, used or not', async () => {
      const user = await enrolledUser('alice', ['old-1', 'old-2']);
      expect(await s().consumeBackupCode(user, ['old-1'], T0 + 1)).toBe(true);
      await s().savePendingTotp({ user_id: user, secret: 'ct-new', created_at: T0 + 2 });
      expect(await s().activateTotp(user, 7, ['new-1', 'new-2', 'new-3'], T0 + 3)).toBe(true);
      expect(await s().getActiveTotp(user)).toMatchObject({ secret: 'ct-new', last_step: 7, confirmed_at: T0 + 3 });
      expect(await s().countBackupCodes(user)).toBe(3);
      expect(await s().consumeBackupCode(user, ['old-2'], T0 + 4)).toBe(false);
      expect(await s().consumeBackupCode(user, ['new-2'], T0 + 4)).toBe(true);
    });

    it('of two concurrent activations exactly one succeeds', async () => {
      const user = uid('alice');
      await s().savePendingTotp({ user_id: user, secret: 'ct', created_at: T0 });
      const results = await Promise.all(times(2, (i) => s().activateTotp(user, 10 + i, [`h${i}-a`, `h${i}-b`], T0 + i)));
      expect(count(results)).toBe(1);
      const winner = results.indexOf(true);
      expect((await s().getActiveTotp(user))?.last_step).toBe(10 + winner);
      expect(await s().countBackupCodes(user)).toBe(2);
      expect(await s().consumeBackupCode(user, [`h${winner}-a`], T0 + 5)).toBe(true);
      expect(await s().consumeBackupCode(user, [`h${1 - winner}-a`], T0 + 5)).toBe(false);
    });

    it('rejects a replayed or older step, accepts a newer one', async () => {
      const user = await enrolledUser();
      expect(await s().acceptTotpStep(user, 1001)).toBe(true);
      expect(await s().acceptTotpStep(user, 1001)).toBe(false);
      expect(await s().acceptTotpStep(user, 1000)).toBe(false);
      expect(await s().acceptTotpStep(user, 1003)).toBe(true);
      expect(await s().acceptTotpStep(user, 1002)).toBe(false);
      expect((await s().getActiveTotp(user))?.last_step).toBe(1003);
      expect(await s().acceptTotpStep(uid('nobody'), 1)).toBe(false);
    });

    it(`accepts one step exactly once among ${CONCURRENCY} concurrent attempts`, async () => {
      const user = await enrolledUser();
      expect(count(await Promise.all(times(CONCURRENCY, () => s().acceptTotpStep(user, 1001))))).toBe(1);
      // Mixed steps at once: the highest is accepted at least, and last_step ends there.
      const mixed = await Promise.all(times(CONCURRENCY, (i) => s().acceptTotpStep(user, 1002 + (i % 5))));
      expect(count(mixed)).toBeGreaterThanOrEqual(1);
      expect(count(mixed)).toBeLessThanOrEqual(5);
      expect((await s().getActiveTotp(user))?.last_step).toBe(1006);
    });

    it('removeFactors removes the active and pending factor and the codes; the user is no longer enrolled', async () => {
      const user = await enrolledUser();
      await s().savePendingTotp({ user_id: user, secret: 'ct-2', created_at: T0 + 1 });
      await s().removeFactors(user);
      expect(await s().getActiveTotp(user)).toBeNull();
      expect(await s().getPendingTotp(user)).toBeNull();
      expect(await s().countBackupCodes(user)).toBe(0);
      expect(await s().getUserState(user, 'dev-a', T0 + 2)).toMatchObject({ enrolled: false, enrolled_at: null, first_seen: T0 });
      await expect(s().removeFactors(uid('nobody'))).resolves.toBeUndefined();
    });
  });

  describe('backup codes', () => {
    it('counts unused codes; each code is usable once; codes are per user', async () => {
      const user = await enrolledUser('alice', ['h1', 'h2', 'h3']);
      const other = await enrolledUser('bob', ['h9']);
      expect(await s().countBackupCodes(user)).toBe(3);
      expect(await s().consumeBackupCode(user, ['h2'], T0 + 1)).toBe(true);
      expect(await s().countBackupCodes(user)).toBe(2);
      expect(await s().consumeBackupCode(user, ['h2'], T0 + 2)).toBe(false);
      expect(await s().consumeBackupCode(user, ['nope'], T0 + 2)).toBe(false);
      expect(await s().consumeBackupCode(user, [], T0 + 2)).toBe(false);
      expect(await s().consumeBackupCode(user, ['h9'], T0 + 2)).toBe(false); // bob's
      expect(await s().consumeBackupCode(other, ['h1'], T0 + 2)).toBe(false); // alice's
      expect(await s().countBackupCodes(uid('nobody'))).toBe(0);
    });

    it('accepts a code given among candidates (one per key of the keyring)', async () => {
      const user = await enrolledUser('alice', ['h1', 'h2']);
      expect(await s().consumeBackupCode(user, ['under-new-key', 'h1'], T0 + 1)).toBe(true);
      expect(await s().countBackupCodes(user)).toBe(1);
    });

    it('consumes at most one code per call even when two candidates match', async () => {
      const user = await enrolledUser('alice', ['h1', 'h2', 'h3']);
      expect(await s().consumeBackupCode(user, ['h1', 'h2'], T0 + 1)).toBe(true);
      expect(await s().countBackupCodes(user)).toBe(2);
      expect(await s().consumeBackupCode(user, ['h1', 'h2'], T0 + 2)).toBe(true);
      expect(await s().countBackupCodes(user)).toBe(1);
      expect(await s().consumeBackupCode(user, ['h1', 'h2'], T0 + 3)).toBe(false);
    });

    it(`gives one code to exactly one of ${CONCURRENCY} concurrent uses`, async () => {
      const user = await enrolledUser('alice', ['h1', 'h2']);
      const results = await Promise.all(times(CONCURRENCY, (i) => s().consumeBackupCode(user, ['h1'], T0 + i)));
      expect(count(results)).toBe(1);
      expect(await s().countBackupCodes(user)).toBe(1);
    });

    it('replaceBackupCodes voids the old codes', async () => {
      const user = await enrolledUser('alice', ['h1', 'h2']);
      await s().replaceBackupCodes(user, ['n1', 'n2', 'n3'], T0 + 1);
      expect(await s().countBackupCodes(user)).toBe(3);
      expect(await s().consumeBackupCode(user, ['h1'], T0 + 2)).toBe(false);
      expect(await s().consumeBackupCode(user, ['n3'], T0 + 2)).toBe(true);
    });

    it('a replacement with a duplicate hash fails whole: the old codes stay', async () => {
      const user = await enrolledUser('alice', ['h1', 'h2']);
      await expect(s().replaceBackupCodes(user, ['n1', 'n1'], T0 + 1)).rejects.toThrow();
      expect(await s().countBackupCodes(user)).toBe(2);
      expect(await s().consumeBackupCode(user, ['h1'], T0 + 2)).toBe(true);
    });
  });

  describe('throttling', () => {
    it('an unknown subject has no failures', async () => {
      expect(await s().getFailures(userSubject(uid('alice'), 'totp'))).toEqual({
        consecutive: 0,
        last_failure_at: null,
        locked_at: null,
      });
    });

    it('counts consecutive failures and locks exactly when the threshold is reached', async () => {
      const subject = userSubject(uid('alice'), 'totp');
      expect(await s().recordFailure(subject, T0 + 1, 3)).toEqual({ consecutive: 1, last_failure_at: T0 + 1, locked_at: null });
      expect(await s().recordFailure(subject, T0 + 2, 3)).toEqual({ consecutive: 2, last_failure_at: T0 + 2, locked_at: null });
      expect(await s().recordFailure(subject, T0 + 3, 3)).toEqual({ consecutive: 3, last_failure_at: T0 + 3, locked_at: T0 + 3 });
      expect(await s().recordFailure(subject, T0 + 4, 3)).toEqual({ consecutive: 4, last_failure_at: T0 + 4, locked_at: T0 + 3 });
      expect(await s().getFailures(subject)).toEqual({ consecutive: 4, last_failure_at: T0 + 4, locked_at: T0 + 3 });
      expect((await s().recordFailure(userSubject(uid('bob'), 'totp'), T0, 1)).locked_at).toBe(T0);
    });

    it('never moves last_failure_at backwards', async () => {
      const subject = ipSubject(`198.51.100.7-${uid('x')}`);
      await s().recordFailure(subject, T0 + 10, 100);
      expect(await s().recordFailure(subject, T0 + 5, 100)).toMatchObject({ consecutive: 2, last_failure_at: T0 + 10 });
    });

    it(`counts ${CONCURRENCY} concurrent failures, and sets the lock once, when the threshold is crossed`, async () => {
      const subject = userSubject(uid('alice'), 'backup_code');
      const LOCK = 20;
      const counters = await Promise.all(times(CONCURRENCY, (i) => s().recordFailure(subject, T0 + i, LOCK)));
      expect(counters.map((c) => c.consecutive).sort((a, b) => a - b)).toEqual(times(CONCURRENCY, (i) => i + 1));
      for (const c of counters) expect(c.locked_at === null, `consecutive ${c.consecutive}`).toBe(c.consecutive < LOCK);
      const crossing = counters.find((c) => c.consecutive === LOCK);
      const lockedAt = crossing?.locked_at;
      expect(lockedAt).toEqual(expect.any(Number));
      expect(new Set(counters.filter((c) => c.locked_at !== null).map((c) => c.locked_at))).toEqual(new Set([lockedAt]));
      expect(await s().getFailures(subject)).toMatchObject({ consecutive: CONCURRENCY, locked_at: lockedAt });
    });

    it('rejects a lock threshold that is not a positive integer', async () => {
      await expect(s().recordFailure(userSubject(uid('alice'), 'totp'), T0, 0)).rejects.toThrow(/lockAfter/);
    });

    it('resetFailures clears the count but keeps a lock', async () => {
      const locked = userSubject(uid('alice'), 'totp');
      const open = userSubject(uid('bob'), 'totp');
      for (let i = 0; i < 3; i++) await s().recordFailure(locked, T0 + i, 3);
      await s().recordFailure(open, T0, 3);
      await s().resetFailures(locked);
      await s().resetFailures(open);
      await s().resetFailures(userSubject(uid('nobody'), 'totp'));
      expect(await s().getFailures(locked)).toMatchObject({ consecutive: 0, locked_at: T0 + 2 });
      expect(await s().getFailures(open)).toMatchObject({ consecutive: 0, locked_at: null });
      // Still locked after a later failure; the count restarts from 0.
      expect(await s().recordFailure(locked, T0 + 9, 3)).toEqual({ consecutive: 1, last_failure_at: T0 + 9, locked_at: T0 + 2 });
    });

    it("unlock clears every subject under the prefix, and only those", async () => {
      const alice = uid('alice');
      const touched = [userSubject(alice, 'totp'), userSubject(alice, 'backup_code')];
      const untouched = [
        userSubject(uid('alice2'), 'totp'),
        userSubject(`${alice}:x`, 'totp'), // an id that extends alice's with ':' is another user
        userSubject(alice.toUpperCase(), 'totp'), // case matters
        ipSubject(`192.0.2.1-${alice}`),
      ];
      for (const subject of [...touched, ...untouched]) for (let i = 0; i < 3; i++) await s().recordFailure(subject, T0 + i, 2);
      expect(await s().unlock(userSubjectPrefix(alice))).toBe(2);
      for (const subject of touched) expect(await s().getFailures(subject)).toEqual({ consecutive: 0, last_failure_at: null, locked_at: null });
      for (const subject of untouched) expect(await s().getFailures(subject), subject).toMatchObject({ consecutive: 3, locked_at: T0 + 1 });
      expect(await s().unlock(userSubjectPrefix(alice))).toBe(0);
      expect(userSubject(alice, '')).toBe(userSubjectPrefix(alice));
    });

    it('unlock treats % and _ in ids as plain characters (no LIKE pattern)', async () => {
      const run = uid('');
      const wild = `p%q_r${run}`;
      // Each would match `wild` (or its escaped form) read as a LIKE pattern.
      const lookalikes = [`pXq_r${run}`, `p%qZr${run}`, `pxx25qzr${run}`, `p%25q_r${run}`, `pq_r${run}`];
      for (const id of [wild, ...lookalikes]) await s().recordFailure(userSubject(id, 'totp'), T0, 1);
      expect(await s().unlock(userSubjectPrefix(wild))).toBe(1);
      expect((await s().getFailures(userSubject(wild, 'totp'))).locked_at).toBeNull();
      for (const id of lookalikes) expect((await s().getFailures(userSubject(id, 'totp'))).locked_at, id).toBe(T0);
      // A subject prefix that ends mid-id: a range, not a pattern.
      const under = `u_${run}`;
      await s().recordFailure(userSubject(`${under}1`, 'totp'), T0, 1);
      await s().recordFailure(userSubject(`${under}2`, 'totp'), T0, 1);
      await s().recordFailure(userSubject(`uX${run}1`, 'totp'), T0, 1);
      expect(await s().unlock(`user:${under}`)).toBe(2);
      expect((await s().getFailures(userSubject(`uX${run}1`, 'totp'))).locked_at).toBe(T0);
    });

    it('unlock refuses an empty prefix (it would unlock everyone)', async () => {
      const subject = userSubject(uid('alice'), 'totp');
      await s().recordFailure(subject, T0, 1);
      await expect(s().unlock('')).rejects.toThrow(/prefix/);
      expect((await s().getFailures(subject)).locked_at).toBe(T0);
    });

    it("getUserState reports the sum of the user's two counters as failed_attempts", async () => {
      const user = uid('alice');
      for (let i = 0; i < 3; i++) await s().recordFailure(userSubject(user, 'totp'), T0, 100);
      for (let i = 0; i < 2; i++) await s().recordFailure(userSubject(user, 'backup_code'), T0, 100);
      await s().recordFailure(userSubject(uid('alice2'), 'totp'), T0, 100);
      await s().recordFailure(userSubject(`${user}:x`, 'totp'), T0, 100);
      await s().recordFailure(ipSubject('192.0.2.1'), T0, 100);
      expect((await s().getUserState(user, 'dev-a', T0)).failed_attempts).toBe(5);
      await s().resetFailures(userSubject(user, 'totp'));
      expect((await s().getUserState(user, 'dev-a', T0)).failed_attempts).toBe(2);
    });
  });

  describe('recovery', () => {
    it('opens a request and reads it back; unknown ids are null', async () => {
      const r = recovery(uid('alice'));
      await s().openRecovery(r);
      expect(await s().getRecovery(r.id)).toEqual({ ...r, cancelled_at: null, applied_at: null });
      expect(await s().getRecovery(uid('nope'))).toBeNull();
      await expect(s().openRecovery(r)).rejects.toThrow(); // duplicate id
    });

    it('cancels an open request once: the second cancellation gets null', async () => {
      const r = recovery(uid('alice'));
      await s().openRecovery(r);
      expect(await s().cancelRecovery(r.id, T0 + 1)).toEqual({ ...r, cancelled_at: T0 + 1, applied_at: null });
      expect(await s().cancelRecovery(r.id, T0 + 2)).toBeNull();
      expect((await s().getRecovery(r.id))?.cancelled_at).toBe(T0 + 1);
      expect(await s().cancelRecovery(uid('nope'), T0)).toBeNull();
      const due = recovery(uid('carol'), { id: uid('due') });
      await s().openRecovery(due);
      expect(await s().cancelRecovery(due.id, due.effective_at)).toBeNull(); // taken effect: too late to cancel
      const raced = recovery(uid('bob'), { id: uid('raced') });
      await s().openRecovery(raced);
      const cancels = await Promise.all(times(CONCURRENCY, (i) => s().cancelRecovery(raced.id, T0 + i)));
      expect(count(cancels.map((x) => x !== null))).toBe(1);
    });

    it('applies nothing before effective_at; at it, resets the factors and sets the enrollment deadline', async () => {
      const user = await enrolledUser();
      await s().savePendingTotp({ user_id: user, secret: 'ct-2', created_at: T0 + 1 });
      const r = recovery(user);
      await s().openRecovery(r);
      expect(await s().applyDueRecoveries(user, r.effective_at - 1)).toEqual([]);
      expect(await s().getActiveTotp(user)).not.toBeNull();
      expect((await s().getRecovery(r.id))?.applied_at).toBeNull();
      expect((await s().getUserState(user, 'dev-a', T0 + 2)).enrolled).toBe(true);

      const now = r.effective_at;
      expect(await s().applyDueRecoveries(user, now)).toEqual([{ ...r, cancelled_at: null, applied_at: now }]);
      expect(await s().getActiveTotp(user)).toBeNull();
      expect(await s().getPendingTotp(user)).toBeNull();
      expect(await s().countBackupCodes(user)).toBe(0);
      expect(await s().getUserState(user, 'dev-a', now + 1)).toMatchObject({
        enrolled: false,
        enrolled_at: null,
        first_seen: T0,
        enrollment_deadline: now,
        recovery_due_at: null,
      });
      expect(await s().applyDueRecoveries(user, now + HOUR)).toEqual([]);
      expect(await s().cancelRecovery(r.id, now + 1)).toBeNull(); // applied: no longer open
    });

    it('never applies a cancelled request', async () => {
      const user = await enrolledUser();
      const r = recovery(user);
      await s().openRecovery(r);
      await s().cancelRecovery(r.id, T0 + 1);
      expect(await s().applyDueRecoveries(user, r.effective_at + HOUR)).toEqual([]);
      expect(await s().getActiveTotp(user)).not.toBeNull();
      expect((await s().getRecovery(r.id))?.applied_at).toBeNull();
    });

    it('applies every due request of the user (earliest first), leaves later ones and other users open', async () => {
      const user = await enrolledUser();
      const other = await enrolledUser('bob');
      const late = recovery(user, { id: uid('late'), effective_at: T0 + 2 * HOUR });
      const a = recovery(user, { id: uid('a'), effective_at: T0 + HOUR + 5 });
      const b = recovery(user, { id: uid('b'), effective_at: T0 + HOUR });
      const bobs = recovery(other, { id: uid('bobs') });
      for (const r of [late, a, b, bobs]) await s().openRecovery(r);
      const applied = await s().applyDueRecoveries(user, T0 + HOUR + 10);
      expect(applied.map((r) => r.id)).toEqual([b.id, a.id]);
      expect((await s().getUserState(user, 'd', T0 + HOUR + 11)).recovery_due_at).toBe(late.effective_at);
      expect(await s().getActiveTotp(other)).not.toBeNull();
      expect((await s().getRecovery(bobs.id))?.applied_at).toBeNull();
    });

    it(`applies a request exactly once among ${CONCURRENCY} concurrent calls`, async () => {
      const user = await enrolledUser();
      const r = recovery(user);
      await s().openRecovery(r);
      const results = await Promise.all(times(CONCURRENCY, (i) => s().applyDueRecoveries(user, r.effective_at + i)));
      const applied = results.flat();
      expect(applied.map((x) => x.id)).toEqual([r.id]);
      expect((await s().getRecovery(r.id))?.applied_at).toBe(applied[0]?.applied_at);
    });

    it('getUserState reports the earliest open request as recovery_due_at', async () => {
      const user = uid('alice');
      expect((await s().getUserState(user, 'd', T0)).recovery_due_at).toBeNull();
      const first = recovery(user, { id: uid('first'), effective_at: T0 + HOUR });
      const second = recovery(user, { id: uid('second'), effective_at: T0 + 2 * HOUR });
      await s().openRecovery(second);
      await s().openRecovery(first);
      await s().openRecovery(recovery(uid('alice2'), { id: uid('other'), effective_at: T0 + 1 }));
      expect((await s().getUserState(user, 'd', T0)).recovery_due_at).toBe(T0 + HOUR);
      await s().cancelRecovery(first.id, T0 + 1);
      expect((await s().getUserState(user, 'd', T0)).recovery_due_at).toBe(T0 + 2 * HOUR);
      await s().cancelRecovery(second.id, T0 + 1);
      expect((await s().getUserState(user, 'd', T0)).recovery_due_at).toBeNull();
    });

    it('a recovery for a user never seen still records the enrollment deadline', async () => {
      const user = uid('ghost');
      const r = recovery(user);
      await s().openRecovery(r);
      expect(await s().applyDueRecoveries(user, r.effective_at)).toHaveLength(1);
      expect((await s().getUserState(user, 'd', r.effective_at + 1)).enrollment_deadline).toBe(r.effective_at);
    });

    it('a new activation clears the enrollment deadline', async () => {
      const user = await enrolledUser();
      const r = recovery(user);
      await s().openRecovery(r);
      await s().applyDueRecoveries(user, r.effective_at);
      await s().savePendingTotp({ user_id: user, secret: 'ct-again', created_at: r.effective_at + 1 });
      expect(await s().activateTotp(user, 5000, ['x'], r.effective_at + 2)).toBe(true);
      expect(await s().getUserState(user, 'd', r.effective_at + 3)).toMatchObject({
        enrolled: true,
        enrolled_at: r.effective_at + 2,
        enrollment_deadline: null,
      });
    });
  });

  it('rejects a step or time that is not an integer, rather than storing it as NULL ("not yet")', async () => {
    const user = await enrolledUser('alice', ['h1']);
    const r = recovery(user);
    await s().openRecovery(r);
    for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
      await expect(s().acceptTotpStep(user, bad), `step ${bad}`).rejects.toThrow();
      await expect(s().consumeBackupCode(user, ['h1'], bad), `now ${bad}`).rejects.toThrow();
      await expect(s().recordFailure(userSubject(user, 'totp'), bad, 1), `now ${bad}`).rejects.toThrow();
      await expect(s().cancelRecovery(r.id, bad), `now ${bad}`).rejects.toThrow();
      await expect(s().applyDueRecoveries(user, bad), `now ${bad}`).rejects.toThrow();
    }
    expect((await s().getActiveTotp(user))?.last_step).toBe(1000);
    expect(await s().countBackupCodes(user)).toBe(1);
    expect(await s().getFailures(userSubject(user, 'totp'))).toMatchObject({ consecutive: 0 });
    expect(await s().getRecovery(r.id)).toMatchObject({ cancelled_at: null, applied_at: null });
    expect(await s().consumeBackupCode(user, ['h1'], T0 + 1)).toBe(true);
  });

  describe('enrollment approvals', () => {
    it('returns the approval until it expires (expires_at exclusive); a new one replaces it', async () => {
      const user = uid('alice');
      const approval = { user_id: user, approved_by: 'helpdesk-7', approved_at: T0, expires_at: T0 + HOUR };
      expect(await s().getEnrollmentApproval(user, T0)).toBeNull();
      await s().approveEnrollment(approval);
      expect(await s().getEnrollmentApproval(user, T0 + HOUR - 1)).toEqual(approval);
      expect(await s().getEnrollmentApproval(user, T0 + HOUR)).toBeNull();
      expect(await s().getEnrollmentApproval(user, T0 + 2 * HOUR)).toBeNull();
      const renewed = { ...approval, approved_by: 'helpdesk-9', approved_at: T0 + 2 * HOUR, expires_at: T0 + 3 * HOUR };
      await s().approveEnrollment(renewed);
      expect(await s().getEnrollmentApproval(user, T0 + 2 * HOUR)).toEqual(renewed);
      expect(await s().getEnrollmentApproval(uid('bob'), T0)).toBeNull();
    });
  });

  describe('user summaries', () => {
    it('getUserSummary is null for an unknown user, and does not register it', async () => {
      const user = uid('alice');
      expect(await s().getUserSummary(user)).toBeNull();
      expect(await s().getUserSummary(user)).toBeNull();
      expect((await s().getUserState(user, 'd', T0 + 5)).first_seen).toBe(T0 + 5);
    });

    it('summarises devices, locations, remaining codes and open recoveries', async () => {
      const user = await enrolledUser('alice', ['h1', 'h2', 'h3']);
      await s().consumeBackupCode(user, ['h1'], T0 + 1);
      await s().recordLogin({ user_id: user, device_key: 'd1', location_key: 'FR', ip: null, time: T0 + 10, mfa: true });
      await s().recordLogin({ user_id: user, device_key: 'd2', location_key: 'DE', ip: null, time: T0 + 20, mfa: false });
      const open = recovery(user, { id: uid('open') });
      const cancelled = recovery(user, { id: uid('cancelled') });
      await s().openRecovery(open);
      await s().openRecovery(cancelled);
      await s().cancelRecovery(cancelled.id, T0 + 30);
      expect(await s().getUserSummary(user)).toEqual({
        id: user,
        first_seen: T0,
        enrolled_at: T0,
        backup_codes_remaining: 2,
        known_devices: [
          { key: 'd2', first_seen: T0 + 20, last_seen: T0 + 20, last_mfa_at: null },
          { key: 'd1', first_seen: T0 + 10, last_seen: T0 + 10, last_mfa_at: T0 + 10 },
        ],
        known_locations: [
          { key: 'DE', first_seen: T0 + 20, last_seen: T0 + 20 },
          { key: 'FR', first_seen: T0 + 10, last_seen: T0 + 10 },
        ],
        pending_recoveries: [{ ...open, cancelled_at: null, applied_at: null }],
        message_destination: null,
        push_devices: [],
      });
    });

    it('sees a login issued just before, without awaiting it', async () => {
      const user = uid('alice');
      const written = s().recordLogin({ user_id: user, device_key: 'd1', location_key: null, ip: null, time: T0, mfa: false });
      expect((await s().getUserSummary(user))?.known_devices.map((d) => d.key)).toEqual(['d1']);
      await written;
    });

    it('listUsers returns every user, ordered by id, with the same summaries', async () => {
      const ids = ['lc', 'la', 'lb'].map(uid);
      for (const id of ids) await s().recordLogin({ user_id: id, device_key: 'd', location_key: 'FR', ip: null, time: T0, mfa: false });
      await s().openRecovery(recovery(ids[1]!));
      const all = await s().listUsers();
      const ours = all.filter((u) => ids.includes(u.id));
      expect(ours.map((u) => u.id)).toEqual([...ids].sort());
      for (const summary of ours) expect(summary).toEqual(await s().getUserSummary(summary.id));
    });

    it('forgetDevice deletes a known device (true), and answers false for an unknown one', async () => {
      const user = uid('alice');
      await s().recordLogin({ user_id: user, device_key: 'd1', location_key: null, ip: null, time: T0, mfa: true });
      await s().recordLogin({ user_id: user, device_key: 'd2', location_key: null, ip: null, time: T0 + 1, mfa: false });
      expect(await s().forgetDevice(user, 'd1')).toBe(true);
      expect(await s().forgetDevice(user, 'd1')).toBe(false);
      expect(await s().forgetDevice(uid('bob'), 'd2')).toBe(false);
      const state = await s().getUserState(user, 'd1', T0 + 2);
      expect(state.known_devices).toEqual(['d2']);
      expect(state.last_mfa).toBeNull();
    });

    it('forgetDevice also forgets a login still queued for that device', async () => {
      const user = uid('alice');
      const written = s().recordLogin({ user_id: user, device_key: 'd1', location_key: null, ip: null, time: T0, mfa: false });
      expect(await s().forgetDevice(user, 'd1')).toBe(true);
      await written;
      expect((await s().getUserState(user, 'd1', T0 + 1)).known_devices).toEqual([]);
    });
  });
}
