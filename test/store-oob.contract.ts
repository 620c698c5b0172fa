// The Store contract, out-of-band half (issue #7): message destinations and one-time codes by message,
// rate limits, push devices and push challenges. Registered by describeStoreContract (test/store.contract.ts),
// so every driver runs it. Ids are unique per test (the database may be shared). "Concurrent" calls are
// issued together without awaiting in between: a driver with a connection pool really races them, and every
// single-use rule must still hold.
import { describe, expect, it } from 'vitest';
import type {
  MessageCodeRecord,
  MessageDestination,
  PushChallengeRecord,
  PushDevice,
} from '../src/store/types.js';
import { CONCURRENCY, HOUR, MINUTE, T0, count, recoveryRecords, times, type ContractContext } from './store-contract-helpers.js';

export type OobContractContext = ContractContext;

export function describeOobContract({ store: s, uid }: OobContractContext): void {
  const destination = (user: string, over: Partial<MessageDestination> = {}): Omit<MessageDestination, 'confirmed_at'> => ({
    user_id: user,
    channel: 'sms',
    address: 'ct-phone-1',
    created_at: T0,
    ...over,
  });
  const code = (user: string, over: Partial<MessageCodeRecord> = {}): Omit<MessageCodeRecord, 'used_at'> => ({
    id: uid('code'),
    user_id: user,
    purpose: 'verify',
    challenge_id: null,
    code_hash: 'hash-1',
    created_at: T0,
    expires_at: T0 + 5 * MINUTE,
    ...over,
  });
  const device = (user: string, over: Partial<PushDevice> = {}): PushDevice => ({
    user_id: user,
    device_id: 'dev-1',
    public_key: 'MCowBQYDK2VwAyEA-key-1',
    name: "Alice's iPhone",
    created_at: T0,
    ...over,
  });
  const push = (user: string, over: Partial<PushChallengeRecord> = {}): Omit<PushChallengeRecord, 'status' | 'responded_at'> => ({
    id: uid('push'),
    user_id: user,
    device_id: 'dev-1',
    challenge_id: uid('ch'),
    number: 42,
    created_at: T0,
    expires_at: T0 + 2 * MINUTE,
    ...over,
  });
  /** A user with a confirmed destination, an unused code, and a push device (and a users row). */
  async function userWithEverything(label = 'alice') {
    const user = uid(label);
    await s().getUserState(user, 'dev-a', T0);
    await s().savePendingMessageDestination(destination(user));
    expect(await s().confirmMessageDestination(user, T0 + 1)).toBe(true);
    await s().createMessageCode(code(user, { id: uid(`${label}-code`), code_hash: `${label}-hash` }));
    await s().savePushDevice(device(user));
    return user;
  }

  describe('message destinations', () => {
    it('a pending destination becomes the confirmed one; confirming again, or with none pending, is false', async () => {
      const user = uid('alice');
      expect(await s().getMessageDestination(user)).toBeNull();
      expect(await s().getPendingMessageDestination(user)).toBeNull();
      expect(await s().confirmMessageDestination(user, T0)).toBe(false);

      await s().savePendingMessageDestination(destination(user));
      expect(await s().getPendingMessageDestination(user)).toEqual({ ...destination(user), confirmed_at: null });
      expect(await s().getMessageDestination(user)).toBeNull(); // pending is not a factor yet
      expect(await s().confirmMessageDestination(user, T0 + MINUTE)).toBe(true);
      expect(await s().getMessageDestination(user)).toEqual({ ...destination(user), confirmed_at: T0 + MINUTE });
      expect(await s().getPendingMessageDestination(user)).toBeNull();
      expect(await s().confirmMessageDestination(user, T0 + 2 * MINUTE)).toBe(false);
      expect(await s().getMessageDestination(user)).toEqual({ ...destination(user), confirmed_at: T0 + MINUTE });
      expect(await s().getMessageDestination(uid('bob'))).toBeNull();
    });

    it('a new pending destination replaces the pending one; the confirmed one stays until it is confirmed', async () => {
      const user = uid('alice');
      await s().savePendingMessageDestination(destination(user));
      await s().confirmMessageDestination(user, T0 + 1);
      const second = destination(user, { channel: 'email', address: 'ct-mail-2', created_at: T0 + 10 });
      const third = destination(user, { channel: 'chat', address: 'ct-chat-3', created_at: T0 + 20 });
      await s().savePendingMessageDestination(second);
      await s().savePendingMessageDestination(third);
      expect(await s().getPendingMessageDestination(user)).toEqual({ ...third, confirmed_at: null });
      expect(await s().getMessageDestination(user)).toEqual({ ...destination(user), confirmed_at: T0 + 1 });
      expect(await s().confirmMessageDestination(user, T0 + 30)).toBe(true);
      expect(await s().getMessageDestination(user)).toEqual({ ...third, confirmed_at: T0 + 30 });
      expect(await s().getPendingMessageDestination(user)).toBeNull();
    });

    it(`confirms exactly once among ${CONCURRENCY} concurrent confirmations`, async () => {
      const user = uid('alice');
      await s().savePendingMessageDestination(destination(user));
      const results = await Promise.all(times(CONCURRENCY, (i) => s().confirmMessageDestination(user, T0 + i)));
      expect(count(results)).toBe(1);
      expect(await s().getMessageDestination(user)).toEqual({ ...destination(user), confirmed_at: T0 + results.indexOf(true) });
      expect(await s().getPendingMessageDestination(user)).toBeNull();
    });

    it('rejects an unknown channel (the schema checks it)', async () => {
      const bad = { ...destination(uid('alice')), channel: 'pigeon' } as unknown as MessageDestination;
      await expect(s().savePendingMessageDestination(bad)).rejects.toThrow();
      expect(await s().getPendingMessageDestination(bad.user_id)).toBeNull();
    });

    it('removeMessageDestination removes both destinations and the unused codes; true when one existed', async () => {
      const user = uid('alice');
      expect(await s().removeMessageDestination(user)).toBe(false);
      await s().savePendingMessageDestination(destination(user));
      expect(await s().removeMessageDestination(user)).toBe(true); // a pending one alone counts
      expect(await s().getPendingMessageDestination(user)).toBeNull();

      await s().savePendingMessageDestination(destination(user));
      await s().confirmMessageDestination(user, T0 + 1);
      await s().savePendingMessageDestination(destination(user, { address: 'ct-phone-2' }));
      await s().createMessageCode(code(user, { id: uid('c1'), code_hash: 'h1' }));
      const other = uid('bob');
      await s().savePendingMessageDestination(destination(other));
      await s().confirmMessageDestination(other, T0 + 1);
      await s().createMessageCode(code(other, { id: uid('c2'), code_hash: 'h1' }));

      expect(await s().removeMessageDestination(user)).toBe(true);
      expect(await s().getMessageDestination(user)).toBeNull();
      expect(await s().getPendingMessageDestination(user)).toBeNull();
      expect(await s().consumeMessageCode(user, ['h1'], 'verify', null, T0 + 2)).toBeNull();
      expect(await s().removeMessageDestination(user)).toBe(false);
      // Bob's are untouched.
      expect(await s().getMessageDestination(other)).not.toBeNull();
      expect(await s().consumeMessageCode(other, ['h1'], 'verify', null, T0 + 2)).not.toBeNull();
    });

    it('rejects a confirmation time that is not an integer, and leaves the destination pending', async () => {
      const user = uid('alice');
      await s().savePendingMessageDestination(destination(user));
      for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
        await expect(s().confirmMessageDestination(user, bad), `now ${bad}`).rejects.toThrow();
      }
      expect(await s().getMessageDestination(user)).toBeNull();
      expect(await s().getPendingMessageDestination(user)).not.toBeNull();
    });
  });

  describe('one-time codes by message', () => {
    it('a code is consumed once and comes back as the used record', async () => {
      const user = uid('alice');
      const c = code(user);
      await s().createMessageCode(c);
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, T0 + 1)).toEqual({ ...c, used_at: T0 + 1 });
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, T0 + 2)).toBeNull();
    });

    it('refuses a wrong hash, an empty candidate list, another user, and a duplicate id', async () => {
      const user = uid('alice');
      const c = code(user);
      await s().createMessageCode(c);
      await expect(s().createMessageCode({ ...c, code_hash: 'other' })).rejects.toThrow();
      expect(await s().consumeMessageCode(user, ['nope'], 'verify', null, T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, [], 'verify', null, T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(uid('bob'), ['hash-1'], 'verify', null, T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, ['under-new-key', 'hash-1'], 'verify', null, T0 + 1)).toMatchObject({
        id: c.id,
        used_at: T0 + 1,
      });
    });

    it('does not consume an expired code (expires_at is exclusive)', async () => {
      const user = uid('alice');
      const c = code(user);
      await s().createMessageCode(c);
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, c.expires_at)).toBeNull();
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, c.expires_at + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, c.expires_at - 1)).toMatchObject({ id: c.id });
    });

    it('a code works only for its purpose', async () => {
      const user = uid('alice');
      const c = code(user, { purpose: 'enroll' });
      await s().createMessageCode(c);
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, ['hash-1'], 'enroll', null, T0 + 1)).toMatchObject({ id: c.id, purpose: 'enroll' });
    });

    it('a code sent for a challenge works only with that challenge, and stays usable for it after refusals', async () => {
      const user = uid('alice');
      const ch = uid('ch');
      const c = code(user, { challenge_id: ch });
      await s().createMessageCode(c);
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', uid('other-ch'), T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', ch, T0 + 2)).toEqual({ ...c, used_at: T0 + 2 });
    });

    it('a code sent without a challenge works only without one', async () => {
      const user = uid('alice');
      const c = code(user, { challenge_id: null });
      await s().createMessageCode(c);
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', uid('ch'), T0 + 1)).toBeNull();
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, T0 + 2)).toEqual({ ...c, used_at: T0 + 2 });
    });

    it('marks at most one code per call even when several match', async () => {
      const user = uid('alice');
      // Two codes with the same hash (two short codes may be equal), and one matching another candidate.
      const ids = [uid('a'), uid('b'), uid('c')];
      await s().createMessageCode(code(user, { id: ids[0], code_hash: 'h1', expires_at: T0 + 3 * MINUTE }));
      await s().createMessageCode(code(user, { id: ids[1], code_hash: 'h1', expires_at: T0 + 4 * MINUTE }));
      await s().createMessageCode(code(user, { id: ids[2], code_hash: 'h2', expires_at: T0 + 5 * MINUTE }));
      const used: string[] = [];
      for (let i = 0; i < 3; i++) {
        const record = await s().consumeMessageCode(user, ['h1', 'h2'], 'verify', null, T0 + i);
        expect(record).not.toBeNull();
        used.push(record!.id);
      }
      expect(used.sort()).toEqual([...ids].sort());
      expect(await s().consumeMessageCode(user, ['h1', 'h2'], 'verify', null, T0 + 4)).toBeNull();
    });

    it(`gives one code to exactly one of ${CONCURRENCY} concurrent uses`, async () => {
      const user = uid('alice');
      const ch = uid('ch');
      const c = code(user, { challenge_id: ch });
      await s().createMessageCode(c);
      const results = await Promise.all(
        times(CONCURRENCY, (i) => s().consumeMessageCode(user, ['other', 'hash-1'], 'verify', ch, T0 + i)),
      );
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toMatchObject({ id: c.id, used_at: expect.any(Number) });
    });

    it('rejects a time that is not an integer, rather than marking the code used at NULL ("unused")', async () => {
      const user = uid('alice');
      await s().createMessageCode(code(user));
      for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
        await expect(s().consumeMessageCode(user, ['hash-1'], 'verify', null, bad), `now ${bad}`).rejects.toThrow();
      }
      expect(await s().consumeMessageCode(user, ['hash-1'], 'verify', null, T0 + 1)).not.toBeNull();
    });
  });

  describe('rate limits', () => {
    it('counts events in a fixed window; over the limit is still counted; the window ends at reset_at', async () => {
      const subject = `send:${uid('alice')}`;
      const W = 10 * MINUTE;
      expect(await s().hitRateLimit(subject, T0, W, 3)).toEqual({ allowed: true, count: 1, reset_at: T0 + W });
      expect(await s().hitRateLimit(subject, T0 + 1, W, 3)).toEqual({ allowed: true, count: 2, reset_at: T0 + W });
      expect(await s().hitRateLimit(subject, T0 + 2, W, 3)).toEqual({ allowed: true, count: 3, reset_at: T0 + W });
      expect(await s().hitRateLimit(subject, T0 + 3, W, 3)).toEqual({ allowed: false, count: 4, reset_at: T0 + W });
      expect(await s().hitRateLimit(subject, T0 + W - 1, W, 3)).toEqual({ allowed: false, count: 5, reset_at: T0 + W });
      // At reset_at the window has ended: a new one starts at this event.
      expect(await s().hitRateLimit(subject, T0 + W, W, 3)).toEqual({ allowed: true, count: 1, reset_at: T0 + 2 * W });
      expect(await s().hitRateLimit(subject, T0 + W + 5, W, 3)).toEqual({ allowed: true, count: 2, reset_at: T0 + 2 * W });
      // Long after: the new window starts at the event, not at a multiple of the length.
      const later = T0 + 100 * W + 7;
      expect(await s().hitRateLimit(subject, later, W, 3)).toEqual({ allowed: true, count: 1, reset_at: later + W });
    });

    it('gives an event back to the current window only, never below one', async () => {
      const subject = `push:${uid('alice')}`;
      const W = 10 * MINUTE;
      expect(await s().releaseRateLimit(subject, T0)).toBe(false); // no window yet
      await s().hitRateLimit(subject, T0, W, 2);
      await s().hitRateLimit(subject, T0 + 1, W, 2);
      expect(await s().hitRateLimit(subject, T0 + 2, W, 2)).toMatchObject({ allowed: false, count: 3 });
      expect(await s().releaseRateLimit(subject, T0 + 3)).toBe(true);
      expect(await s().releaseRateLimit(subject, T0 + 4)).toBe(true);
      // Two given back: the next event is within the limit again.
      expect(await s().hitRateLimit(subject, T0 + 5, W, 2)).toMatchObject({ allowed: true, count: 2 });
      expect(await s().releaseRateLimit(subject, T0 + 6)).toBe(true);
      expect(await s().releaseRateLimit(subject, T0 + 8)).toBe(false); // at one: the window's first event stays
      // The window has ended: nothing to give back to, and the next window starts fresh.
      await s().hitRateLimit(subject, T0 + 9, W, 2);
      expect(await s().releaseRateLimit(subject, T0 + W)).toBe(false);
      expect(await s().hitRateLimit(subject, T0 + W, W, 2)).toMatchObject({ allowed: true, count: 1 });
    });

    it('keeps subjects apart; a max of 0 refuses every event', async () => {
      const a = `send:${uid('alice')}`;
      const b = `send:${uid('bob')}`;
      await s().hitRateLimit(a, T0, HOUR, 1);
      expect(await s().hitRateLimit(a, T0, HOUR, 1)).toMatchObject({ allowed: false, count: 2 });
      expect(await s().hitRateLimit(b, T0, HOUR, 1)).toMatchObject({ allowed: true, count: 1 });
      expect(await s().hitRateLimit(`push:${uid('carol')}`, T0, HOUR, 0)).toEqual({ allowed: false, count: 1, reset_at: T0 + HOUR });
    });

    it(`allows exactly max of ${CONCURRENCY} concurrent events`, async () => {
      const subject = `send:${uid('alice')}`;
      const windows = await Promise.all(times(CONCURRENCY, (i) => s().hitRateLimit(subject, T0 + i, HOUR, 3)));
      expect(count(windows.map((w) => w.allowed))).toBe(3);
      expect(windows.map((w) => w.count).sort((x, y) => x - y)).toEqual(times(CONCURRENCY, (i) => i + 1));
      for (const w of windows) expect(w.allowed, `count ${w.count}`).toBe(w.count <= 3);
      // One window for all of them: the first event's.
      expect(new Set(windows.map((w) => w.reset_at)).size).toBe(1);
      expect(await s().hitRateLimit(subject, T0 + 100, HOUR, 3)).toMatchObject({ allowed: false, count: CONCURRENCY + 1 });
    });

    it('rejects a time, window or max that is not a (valid) integer, counting nothing', async () => {
      const subject = `send:${uid('alice')}`;
      for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
        await expect(s().hitRateLimit(subject, bad, HOUR, 3), `now ${bad}`).rejects.toThrow(RangeError);
        await expect(s().hitRateLimit(subject, T0, bad, 3), `windowMs ${bad}`).rejects.toThrow(RangeError);
        await expect(s().hitRateLimit(subject, T0, HOUR, bad), `max ${bad}`).rejects.toThrow(RangeError);
      }
      await expect(s().hitRateLimit(subject, T0, 0, 3)).rejects.toThrow(/windowMs/);
      await expect(s().hitRateLimit(subject, T0, HOUR, -1)).rejects.toThrow(/max/);
      expect(await s().hitRateLimit(subject, T0, HOUR, 3)).toMatchObject({ count: 1 });
    });
  });

  describe('push devices', () => {
    it('registers, reads back, lists oldest first, replaces by device id, removes', async () => {
      const user = uid('alice');
      expect(await s().listPushDevices(user)).toEqual([]);
      expect(await s().getPushDevice(user, 'dev-1')).toBeNull();
      const d1 = device(user, { device_id: 'dev-1', created_at: T0 + 20 });
      const d2 = device(user, { device_id: 'dev-2', name: 'Tablet', created_at: T0 + 10 });
      const d3 = device(user, { device_id: 'dev-0', name: 'Watch', created_at: T0 + 20 });
      for (const d of [d1, d2, d3]) await s().savePushDevice(d);
      expect(await s().getPushDevice(user, 'dev-1')).toEqual(d1);
      // Oldest first, device id on a tie.
      expect(await s().listPushDevices(user)).toEqual([d2, d3, d1]);

      const replaced = { ...d2, public_key: 'MCowBQYDK2VwAyEA-key-2', name: 'New tablet', created_at: T0 + 30 };
      await s().savePushDevice(replaced);
      expect(await s().getPushDevice(user, 'dev-2')).toEqual(replaced);
      expect(await s().listPushDevices(user)).toEqual([d3, d1, replaced]);

      const other = uid('bob');
      await s().savePushDevice(device(other, { device_id: 'dev-1' }));
      expect(await s().removePushDevice(user, 'dev-1')).toBe(true);
      expect(await s().removePushDevice(user, 'dev-1')).toBe(false);
      expect(await s().removePushDevice(user, 'nope')).toBe(false);
      expect(await s().listPushDevices(user)).toEqual([d3, replaced]);
      expect(await s().getPushDevice(other, 'dev-1')).not.toBeNull(); // same device id, another user
    });
  });

  describe('push challenges', () => {
    it('creates a pending push and answers it once', async () => {
      const user = uid('alice');
      const p = push(user);
      await s().createPushChallenge(p);
      expect(await s().getPushChallenge(p.id)).toEqual({ ...p, status: 'pending', responded_at: null });
      expect(await s().respondPushChallenge(p.id, 'approved', T0 + 1)).toEqual({ ...p, status: 'approved', responded_at: T0 + 1 });
      expect(await s().respondPushChallenge(p.id, 'denied', T0 + 2)).toBeNull();
      expect(await s().respondPushChallenge(p.id, 'approved', T0 + 2)).toBeNull();
      expect(await s().getPushChallenge(p.id)).toEqual({ ...p, status: 'approved', responded_at: T0 + 1 });

      const q = push(user, { id: uid('push-2'), challenge_id: null, number: 10 });
      await s().createPushChallenge(q);
      expect(await s().respondPushChallenge(q.id, 'denied', T0 + 3)).toEqual({ ...q, status: 'denied', responded_at: T0 + 3 });
      await expect(s().createPushChallenge(q)).rejects.toThrow(); // duplicate id
    });

    it('unknown is null; an expired push is not answered (expires_at is exclusive)', async () => {
      expect(await s().getPushChallenge(uid('nope'))).toBeNull();
      expect(await s().respondPushChallenge(uid('nope'), 'approved', T0)).toBeNull();
      const p = push(uid('alice'), { number: 99 });
      await s().createPushChallenge(p);
      expect(await s().respondPushChallenge(p.id, 'approved', p.expires_at)).toBeNull();
      expect(await s().respondPushChallenge(p.id, 'approved', p.expires_at + 1)).toBeNull();
      expect((await s().getPushChallenge(p.id))?.status).toBe('pending');
      expect(await s().respondPushChallenge(p.id, 'denied', p.expires_at - 1)).toMatchObject({ status: 'denied' });
    });

    it(`answers exactly once among ${CONCURRENCY} concurrent answers`, async () => {
      const p = push(uid('alice'));
      await s().createPushChallenge(p);
      const results = await Promise.all(
        times(CONCURRENCY, (i) => s().respondPushChallenge(p.id, i % 2 === 0 ? 'approved' : 'denied', T0 + i)),
      );
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      expect(await s().getPushChallenge(p.id)).toEqual(winners[0]);
    });

    it('the number shown must be two digits (10..99)', async () => {
      const user = uid('alice');
      for (const number of [5, 100, 9, -42]) {
        const p = push(user, { id: uid(`push-${number}`), number });
        await expect(s().createPushChallenge(p), `number ${number}`).rejects.toThrow();
        expect(await s().getPushChallenge(p.id)).toBeNull();
      }
    });

    it("rejects an answer other than 'approved' or 'denied', or a time that is not an integer", async () => {
      const p = push(uid('alice'));
      await s().createPushChallenge(p);
      const asAnswer = (status: string) => status as 'approved';
      await expect(s().respondPushChallenge(p.id, asAnswer('pending'), T0 + 1)).rejects.toThrow(RangeError);
      await expect(s().respondPushChallenge(p.id, asAnswer('maybe'), T0 + 1)).rejects.toThrow(RangeError);
      for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
        await expect(s().respondPushChallenge(p.id, 'approved', bad), `now ${bad}`).rejects.toThrow();
      }
      expect(await s().getPushChallenge(p.id)).toMatchObject({ status: 'pending', responded_at: null });
      expect(await s().respondPushChallenge(p.id, 'approved', T0 + 1)).toMatchObject({ status: 'approved' });
    });
  });

  describe('removing every factor', () => {
    const recovery = recoveryRecords(uid);

    for (const how of ['removeFactors', 'applyDueRecoveries'] as const) {
      it(`${how} removes the message destinations, the unused codes and the push devices`, async () => {
        const user = await userWithEverything('alice');
        const other = await userWithEverything('bob');
        await s().savePendingMessageDestination(destination(user, { address: 'ct-phone-2' }));
        const p = push(user);
        await s().createPushChallenge(p);
        if (how === 'removeFactors') {
          await s().removeFactors(user);
        } else {
          const r = recovery(user);
          await s().openRecovery(r);
          expect(await s().applyDueRecoveries(user, r.effective_at)).toHaveLength(1);
        }
        expect(await s().getMessageDestination(user)).toBeNull();
        expect(await s().getPendingMessageDestination(user)).toBeNull();
        expect(await s().consumeMessageCode(user, ['alice-hash'], 'verify', null, T0 + 2)).toBeNull();
        expect(await s().listPushDevices(user)).toEqual([]);
        expect(await s().getPushDevice(user, 'dev-1')).toBeNull();
        expect(await s().getUserSummary(user)).toMatchObject({ message_destination: null, push_devices: [] });
        // Bob keeps everything.
        expect(await s().getMessageDestination(other)).not.toBeNull();
        expect(await s().listPushDevices(other)).toHaveLength(1);
        expect(await s().consumeMessageCode(other, ['bob-hash'], 'verify', null, T0 + 2)).not.toBeNull();
      });
    }
  });

  describe('user summaries', () => {
    it('show the confirmed message destination (not a pending one) and the push devices, oldest first, without keys', async () => {
      const user = uid('alice');
      await s().getUserState(user, 'dev-a', T0);
      await s().savePendingMessageDestination(destination(user));
      expect(await s().getUserSummary(user)).toMatchObject({ message_destination: null, push_devices: [] });
      await s().confirmMessageDestination(user, T0 + 5);
      await s().savePendingMessageDestination(destination(user, { channel: 'email', address: 'ct-mail' }));
      await s().savePushDevice(device(user, { device_id: 'phone', created_at: T0 + 20 }));
      await s().savePushDevice(device(user, { device_id: 'tablet', name: 'Tablet', created_at: T0 + 10 }));
      const summary = await s().getUserSummary(user);
      expect(summary).toMatchObject({
        id: user,
        message_destination: { channel: 'sms', address: 'ct-phone-1', confirmed_at: T0 + 5 },
        push_devices: [
          { device_id: 'tablet', name: 'Tablet', created_at: T0 + 10 },
          { device_id: 'phone', name: "Alice's iPhone", created_at: T0 + 20 },
        ],
      });
      expect(Object.keys(summary!.message_destination!).sort()).toEqual(['address', 'channel', 'confirmed_at']);
      for (const d of summary!.push_devices) expect(Object.keys(d).sort()).toEqual(['created_at', 'device_id', 'name']);
    });

    it('listUsers carries the same out-of-band fields as getUserSummary', async () => {
      const alice = await userWithEverything('la');
      const bob = uid('lb');
      await s().getUserState(bob, 'dev-a', T0);
      const ours = (await s().listUsers()).filter((u) => u.id === alice || u.id === bob);
      expect(ours.map((u) => u.id)).toEqual([alice, bob]);
      for (const summary of ours) expect(summary).toEqual(await s().getUserSummary(summary.id));
      expect(ours[0]).toMatchObject({
        message_destination: { channel: 'sms', confirmed_at: T0 + 1 },
        push_devices: [{ device_id: 'dev-1' }],
      });
      expect(ours[1]).toMatchObject({ message_destination: null, push_devices: [] });
    });
  });
}
