// The SQLite store's out-of-band factor data (issue #7): message destinations and one-time codes by message,
// fixed-window rate limits, push devices and push challenges. Same rules as sqlite-factors.ts: never queued
// (each call has committed when it returns), each single-use rule decided by one statement's result (the
// rows RETURNING gives back), operations of several statements in one IMMEDIATE transaction whose first
// statement decides. SQLite serialises writers across connections and processes, so of concurrent callers
// exactly one sees a row change.
import type Database from 'better-sqlite3';
import { integer } from './sqlite-factors.js';
import type {
  MessageChannel,
  MessageCodePurpose,
  MessageCodeRecord,
  MessageDestination,
  PushChallengeRecord,
  PushDevice,
  PushStatus,
  RateWindow,
} from './types.js';

type DestinationRow = { channel: MessageChannel; address: string; created_at: number };
type CodeRow = Omit<MessageCodeRecord, 'purpose'> & { purpose: string };
type PushRow = Omit<PushChallengeRecord, 'status'> & { status: string };
type RateParams = [{ subject: string; now: number; windowMs: number }];
type ConsumeParams = [
  { userId: string; hashes: string; purpose: string; challengeId: string | null; now: number },
];

const CODE_COLUMNS = 'id, user_id, purpose, challenge_id, code_hash, created_at, expires_at, used_at';
const PUSH_COLUMNS = 'id, user_id, device_id, challenge_id, number, status, created_at, expires_at, responded_at';
const PUSH_DEVICE_COLUMNS = 'user_id, device_id, public_key, name, created_at';
const ANSWERS: ReadonlySet<string> = new Set<PushStatus>(['approved', 'denied']);

export type OobOps = ReturnType<typeof prepareOobOps>;

export function prepareOobOps(db: Database.Database) {
  const st = {
    savePendingDestination: db.prepare<[string, string, string, number]>(
      `INSERT INTO message_destinations_pending (user_id, channel, address, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET channel = excluded.channel, address = excluded.address,
         created_at = excluded.created_at`,
    ),
    getDestination: db.prepare<[string], MessageDestination>(
      `SELECT user_id, channel, address, created_at, confirmed_at FROM message_destinations WHERE user_id = ?`,
    ),
    getPendingDestination: db.prepare<[string], MessageDestination>(
      `SELECT user_id, channel, address, created_at, NULL AS confirmed_at
       FROM message_destinations_pending WHERE user_id = ?`,
    ),
    // confirmMessageDestination's first statement, which decides: a concurrent confirmation that committed
    // first took the row, so this one gets nothing back and writes nothing.
    takePendingDestination: db.prepare<[string], DestinationRow>(
      `DELETE FROM message_destinations_pending WHERE user_id = ? RETURNING channel, address, created_at`,
    ),
    putDestination: db.prepare<[string, string, string, number, number]>(
      `INSERT INTO message_destinations (user_id, channel, address, created_at, confirmed_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET channel = excluded.channel, address = excluded.address,
         created_at = excluded.created_at, confirmed_at = excluded.confirmed_at`,
    ),
    deleteDestination: db.prepare<[string]>(`DELETE FROM message_destinations WHERE user_id = ?`),
    deletePendingDestination: db.prepare<[string]>(`DELETE FROM message_destinations_pending WHERE user_id = ?`),
    // Used codes stay until purgeExpired: they record that the code was spent.
    deleteUnusedCodes: db.prepare<[string]>(`DELETE FROM message_codes WHERE user_id = ? AND used_at IS NULL`),

    createCode: db.prepare<[string, string, string, string | null, string, number, number]>(
      `INSERT INTO message_codes (id, user_id, purpose, challenge_id, code_hash, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    // The single-use rule is this one statement. The candidates are one code hashed under each key of the
    // keyring, and two codes sent to one user may be equal, so several rows can match: `id = (... LIMIT 1)`
    // marks at most one whatever the candidates (the one expiring first). The binding is exact: `IS` matches
    // NULL with NULL only, so a code sent for a challenge never works without it, nor one sent without a
    // challenge with one. expires_at is exclusive, like a challenge's.
    consumeCode: db.prepare<ConsumeParams, CodeRow>(
      `UPDATE message_codes SET used_at = @now
       WHERE user_id = @userId AND used_at IS NULL AND expires_at > @now AND id = (
         SELECT id FROM message_codes
         WHERE user_id = @userId AND used_at IS NULL AND expires_at > @now AND purpose = @purpose
           AND challenge_id IS @challengeId AND code_hash IN (SELECT value FROM json_each(@hashes))
         ORDER BY expires_at, id LIMIT 1)
       RETURNING ${CODE_COLUMNS}`,
    ),

    // One statement: the window check, the count and the window's end read the same row (in DO UPDATE SET
    // every right-hand side reads the row as it was), so concurrent events each count once, across
    // connections and processes. A window that has ended (window_start + windowMs <= now) restarts at now.
    hitRateLimit: db.prepare<RateParams, { count: number; reset_at: number }>(
      `INSERT INTO rate_limits (subject, window_start, count, reset_at) VALUES (@subject, @now, 1, @now + @windowMs)
       ON CONFLICT (subject) DO UPDATE SET
         window_start = CASE WHEN window_start + @windowMs <= @now THEN @now ELSE window_start END,
         count = CASE WHEN window_start + @windowMs <= @now THEN 1 ELSE count + 1 END,
         reset_at = CASE WHEN window_start + @windowMs <= @now THEN @now ELSE window_start END + @windowMs
       RETURNING count, reset_at`,
    ),

    // The window must still be current (reset_at > now): a give-back never reaches into the next window; never
    // below 1 (the table's CHECK: a window's row holds at least the event that started it).
    releaseRateLimit: db.prepare<[string, number]>(
      `UPDATE rate_limits SET count = count - 1 WHERE subject = ? AND reset_at > ? AND count > 1`,
    ),

    savePushDevice: db.prepare<[string, string, string, string, number]>(
      `INSERT INTO push_devices (user_id, device_id, public_key, name, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET public_key = excluded.public_key, name = excluded.name,
         created_at = excluded.created_at`,
    ),
    getPushDevice: db.prepare<[string, string], PushDevice>(
      `SELECT ${PUSH_DEVICE_COLUMNS} FROM push_devices WHERE user_id = ? AND device_id = ?`,
    ),
    // Oldest first; device_id breaks ties (in BINARY order, as PostgreSQL's COLLATE "C").
    listPushDevices: db.prepare<[string], PushDevice>(
      `SELECT ${PUSH_DEVICE_COLUMNS} FROM push_devices WHERE user_id = ? ORDER BY created_at, device_id`,
    ),
    removePushDevice: db.prepare<[string, string]>(`DELETE FROM push_devices WHERE user_id = ? AND device_id = ?`),
    deletePushDevices: db.prepare<[string]>(`DELETE FROM push_devices WHERE user_id = ?`),

    createPush: db.prepare<[string, string, string, string | null, number, number, number]>(
      `INSERT INTO push_challenges (id, user_id, device_id, challenge_id, number, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    getPush: db.prepare<[string], PushRow>(`SELECT ${PUSH_COLUMNS} FROM push_challenges WHERE id = ?`),
    // The single-use rule is this one statement: only a pending, unexpired push is answered, once.
    respondPush: db.prepare<[string, number, string, number], PushRow>(
      `UPDATE push_challenges SET status = ?, responded_at = ?
       WHERE id = ? AND status = 'pending' AND expires_at > ?
       RETURNING ${PUSH_COLUMNS}`,
    ),
  };

  /** Every out-of-band factor of the user (inside the caller's transaction): removeFactors, recoveries. */
  const dropAll = (userId: string): void => {
    st.deleteDestination.run(userId);
    st.deletePendingDestination.run(userId);
    st.deleteUnusedCodes.run(userId);
    st.deletePushDevices.run(userId);
  };

  // IMMEDIATE (see sqlite-factors.ts): the write lock is taken at BEGIN, so the DELETE that decides and the
  // write after it are never split by another process's confirmation.
  const confirm = db.transaction((userId: string, now: number): boolean => {
    const pending = st.takePendingDestination.get(userId);
    if (pending === undefined) return false;
    st.putDestination.run(userId, pending.channel, pending.address, pending.created_at, now);
    return true;
  });
  const removeDestination = db.transaction((userId: string): boolean => {
    const removed = st.deleteDestination.run(userId).changes + st.deletePendingDestination.run(userId).changes;
    st.deleteUnusedCodes.run(userId);
    return removed > 0;
  });

  return {
    dropAll,

    savePendingMessageDestination(d: Omit<MessageDestination, 'confirmed_at'>): void {
      st.savePendingDestination.run(d.user_id, d.channel, d.address, d.created_at);
    },
    getMessageDestination: (userId: string): MessageDestination | null => st.getDestination.get(userId) ?? null,
    getPendingMessageDestination: (userId: string): MessageDestination | null =>
      st.getPendingDestination.get(userId) ?? null,
    confirmMessageDestination(userId: string, now: number): boolean {
      integer('now', now);
      return confirm.immediate(userId, now);
    },
    removeMessageDestination: (userId: string): boolean => removeDestination.immediate(userId),

    createMessageCode(c: Omit<MessageCodeRecord, 'used_at'>): void {
      st.createCode.run(c.id, c.user_id, c.purpose, c.challenge_id, c.code_hash, c.created_at, c.expires_at);
    },
    consumeMessageCode(
      userId: string,
      hashes: readonly string[],
      purpose: MessageCodePurpose,
      challengeId: string | null,
      now: number,
    ): MessageCodeRecord | null {
      integer('now', now);
      if (hashes.length === 0) return null;
      const row = st.consumeCode.get({ userId, hashes: JSON.stringify(hashes), purpose, challengeId, now });
      return row === undefined ? null : toCode(row);
    },

    hitRateLimit(subject: string, now: number, windowMs: number, max: number): RateWindow {
      checkRateArgs(now, windowMs, max);
      const row = st.hitRateLimit.get({ subject, now, windowMs });
      if (row === undefined) throw new Error(`hitRateLimit(${subject}) returned no row`);
      return { allowed: row.count <= max, count: row.count, reset_at: row.reset_at };
    },

    releaseRateLimit(subject: string, now: number): boolean {
      integer('now', now);
      return st.releaseRateLimit.run(subject, now).changes === 1;
    },

    savePushDevice(d: PushDevice): void {
      st.savePushDevice.run(d.user_id, d.device_id, d.public_key, d.name, d.created_at);
    },
    getPushDevice: (userId: string, deviceId: string): PushDevice | null =>
      st.getPushDevice.get(userId, deviceId) ?? null,
    listPushDevices: (userId: string): PushDevice[] => st.listPushDevices.all(userId),
    removePushDevice: (userId: string, deviceId: string): boolean =>
      st.removePushDevice.run(userId, deviceId).changes === 1,

    createPushChallenge(p: Omit<PushChallengeRecord, 'status' | 'responded_at'>): void {
      st.createPush.run(p.id, p.user_id, p.device_id, p.challenge_id, p.number, p.created_at, p.expires_at);
    },
    getPushChallenge(id: string): PushChallengeRecord | null {
      const row = st.getPush.get(id);
      return row === undefined ? null : toPush(row);
    },
    respondPushChallenge(id: string, status: 'approved' | 'denied', now: number): PushChallengeRecord | null {
      checkAnswer(status);
      integer('now', now);
      const row = st.respondPush.get(status, now, id, now);
      return row === undefined ? null : toPush(row);
    },
  };
}

/**
 * The rate-limit arguments, checked before they reach SQL. NaN is bound as NULL: the "window ended" test
 * would then be NULL, never true, and a window would never end (or `count <= NaN` would refuse for good). A
 * clock or configuration bug must fail loudly instead. A max of 0 is accepted: every event is refused.
 */
export function checkRateArgs(now: number, windowMs: number, max: number): void {
  integer('now', now);
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new RangeError(`windowMs must be a positive integer, got ${windowMs}`);
  }
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`max must be a non-negative integer, got ${max}`);
  if (!Number.isSafeInteger(now + windowMs)) throw new RangeError(`now + windowMs overflows: ${now} + ${windowMs}`);
}

/** Only an answer: 'pending' (or anything else a caller cast past the type) would "answer" without answering. */
export function checkAnswer(status: string): void {
  if (!ANSWERS.has(status)) throw new RangeError(`a push is answered 'approved' or 'denied', got ${String(status)}`);
}

const toCode = (row: CodeRow): MessageCodeRecord => ({ ...row, purpose: row.purpose as MessageCodePurpose });
const toPush = (row: PushRow): PushChallengeRecord => ({ ...row, status: row.status as PushStatus });
