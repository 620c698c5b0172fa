// The SQLite store's factor data: TOTP, backup codes, failure counters, recovery requests, enrollment
// approvals (the out-of-band factors are in sqlite-oob.ts). Unlike logins and challenges these writes are
// never queued: each runs at once, in one statement or one IMMEDIATE transaction, and has committed when the
// function returns, so a success the caller reports is durable. Every single-use rule is decided by one
// statement's result (changes, or the rows RETURNING gives back), never by reading first and writing after
// in JavaScript: SQLite serialises writers, across connections and processes, so of concurrent callers
// exactly one sees the row change.
import type Database from 'better-sqlite3';
import type {
  EnrollmentApproval,
  FailureCounter,
  PendingTotp,
  RecoveryRecord,
  TotpFactor,
} from './types.js';

type RecoveryParams = [string, string, string, string, number, number];
type FailureParams = [{ subject: string; now: number; lockAfter: number }];

/**
 * Throws unless `value` is an integer. better-sqlite3 binds NaN as NULL, and here NULL means "not yet":
 * consumeBackupCode(..., NaN) would mark a code used with used_at NULL (still unused, yet reported
 * consumed), acceptTotpStep(user, NaN) would accept against a NULL last_step, a failure at NaN would never
 * lock. A clock bug must fail loudly, never reopen a single-use rule.
 */
export function integer(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer, got ${value}`);
}

const NO_FAILURES: Readonly<FailureCounter> = Object.freeze({ consecutive: 0, last_failure_at: null, locked_at: null });

// An open request is neither cancelled nor applied. Queries on open requests repeat this text exactly so
// SQLite can use the partial index recovery_requests_open_by_user (migration 2).
const OPEN = 'cancelled_at IS NULL AND applied_at IS NULL';

export type FactorOps = ReturnType<typeof prepareFactorOps>;

/**
 * `dropOutOfBand` removes the user's out-of-band factors (sqlite-oob.ts) inside the caller's transaction, so
 * removeFactors and an applied recovery take every factor in one transaction.
 */
export function prepareFactorOps(db: Database.Database, dropOutOfBand: (userId: string) => void) {
  const st = {
    savePending: db.prepare<[string, string, number]>(
      `INSERT INTO totp_pending (user_id, secret, created_at) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`,
    ),
    getPending: db.prepare<[string], PendingTotp>(
      `SELECT user_id, secret, created_at FROM totp_pending WHERE user_id = ?`,
    ),
    takePending: db.prepare<[string], { secret: string; created_at: number }>(
      `DELETE FROM totp_pending WHERE user_id = ? RETURNING secret, created_at`,
    ),
    getActive: db.prepare<[string], TotpFactor>(
      `SELECT user_id, secret, created_at, confirmed_at, last_step FROM totp_factors WHERE user_id = ?`,
    ),
    putActive: db.prepare<[string, string, number, number, number]>(
      `INSERT INTO totp_factors (user_id, secret, created_at, confirmed_at, last_step) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
         confirmed_at = excluded.confirmed_at, last_step = excluded.last_step`,
    ),
    // RFC 6238 5.2: a step is accepted once. The condition is the whole rule.
    acceptStep: db.prepare<[number, string, number]>(
      `UPDATE totp_factors SET last_step = ? WHERE user_id = ? AND (last_step IS NULL OR last_step < ?)`,
    ),
    deleteActive: db.prepare<[string]>(`DELETE FROM totp_factors WHERE user_id = ?`),
    deletePending: db.prepare<[string]>(`DELETE FROM totp_pending WHERE user_id = ?`),
    // An unknown user is registered (first_seen = now): the factor row references it.
    enrollUser: db.prepare<[string, number, number]>(
      `INSERT INTO users (id, first_seen, enrolled_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET enrolled_at = excluded.enrolled_at, enrollment_deadline = NULL`,
    ),
    unenrollUser: db.prepare<[string]>(`UPDATE users SET enrolled_at = NULL WHERE id = ?`),
    // After a recovery: not enrolled, and enrollment due now (no fresh grace period).
    resetUser: db.prepare<[string, number, number]>(
      `INSERT INTO users (id, first_seen, enrollment_deadline) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET enrolled_at = NULL, enrollment_deadline = excluded.enrollment_deadline`,
    ),

    insertCode: db.prepare<[string, string, number]>(
      `INSERT INTO backup_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`,
    ),
    deleteCodes: db.prepare<[string]>(`DELETE FROM backup_codes WHERE user_id = ?`),
    // The candidates are one code hashed under each key of the keyring, so normally at most one matches;
    // still, `code_hash = (... LIMIT 1)` on the primary key lets this statement mark at most one row used
    // whatever the candidates, so one code never consumes two.
    consumeCode: db.prepare<[number, string, string, string]>(
      `UPDATE backup_codes SET used_at = ?
       WHERE user_id = ? AND used_at IS NULL AND code_hash = (
         SELECT code_hash FROM backup_codes
         WHERE user_id = ? AND used_at IS NULL AND code_hash IN (SELECT value FROM json_each(?))
         ORDER BY code_hash LIMIT 1)`,
    ),
    countCodes: db
      .prepare<[string], number>(`SELECT count(*) FROM backup_codes WHERE user_id = ? AND used_at IS NULL`)
      .pluck(),

    getFailures: db.prepare<[string], FailureCounter>(
      `SELECT consecutive, last_failure_at, locked_at FROM factor_failures WHERE subject = ?`,
    ),
    // One statement: the increment and the lock decision see the same row. In DO UPDATE SET every
    // right-hand side reads the row as it was, so `consecutive + 1` there is the new count. last_failure_at
    // never moves backwards (concurrent instances' clocks and calls interleave).
    recordFailure: db.prepare<FailureParams, FailureCounter>(
      `INSERT INTO factor_failures (subject, consecutive, last_failure_at, locked_at)
       VALUES (@subject, 1, @now, CASE WHEN 1 >= @lockAfter THEN @now END)
       ON CONFLICT (subject) DO UPDATE SET
         consecutive = consecutive + 1,
         last_failure_at = MAX(COALESCE(last_failure_at, excluded.last_failure_at), excluded.last_failure_at),
         locked_at = CASE WHEN locked_at IS NULL AND consecutive + 1 >= @lockAfter THEN @now ELSE locked_at END
       RETURNING consecutive, last_failure_at, locked_at`,
    ),
    // A success clears the count, never the lock (only unlock does).
    resetFailures: db.prepare<[string]>(
      `UPDATE factor_failures SET consecutive = 0 WHERE subject = ? AND consecutive <> 0`,
    ),
    // A range on the primary key (index-bounded) plus an exact prefix test in SQLite's own terms: no LIKE
    // or GLOB pattern, so `%`, `_`, `*` in user ids are plain characters, and case matters.
    unlockRange: db.prepare<[string, string, string, string]>(
      `DELETE FROM factor_failures WHERE subject >= ? AND subject < ? AND substr(subject, 1, length(?)) = ?`,
    ),
    unlockFrom: db.prepare<[string, string, string]>(
      `DELETE FROM factor_failures WHERE subject >= ? AND substr(subject, 1, length(?)) = ?`,
    ),

    openRecovery: db.prepare<RecoveryParams>(
      `INSERT INTO recovery_requests (id, user_id, verified_by, verification, opened_at, effective_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    getRecovery: db.prepare<[string], RecoveryRecord>(`SELECT * FROM recovery_requests WHERE id = ?`),
    // A request that has taken effect (due, even if not applied yet) can no longer be cancelled.
    cancelRecovery: db.prepare<[number, string, number], RecoveryRecord>(
      `UPDATE recovery_requests SET cancelled_at = ? WHERE id = ? AND ${OPEN} AND effective_at > ? RETURNING *`,
    ),
    anyDue: db
      .prepare<[string, number], number>(
        `SELECT 1 FROM recovery_requests WHERE user_id = ? AND ${OPEN} AND effective_at <= ? LIMIT 1`,
      )
      .pluck(),
    applyDue: db.prepare<[number, string, number], RecoveryRecord>(
      `UPDATE recovery_requests SET applied_at = ? WHERE user_id = ? AND ${OPEN} AND effective_at <= ? RETURNING *`,
    ),

    approve: db.prepare<[string, string, number, number]>(
      `INSERT INTO enrollment_approvals (user_id, approved_by, approved_at, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET approved_by = excluded.approved_by,
         approved_at = excluded.approved_at, expires_at = excluded.expires_at`,
    ),
    // expires_at is exclusive, like a challenge's.
    getApproval: db.prepare<[string, number], EnrollmentApproval>(
      `SELECT user_id, approved_by, approved_at, expires_at FROM enrollment_approvals
       WHERE user_id = ? AND expires_at > ?`,
    ),
    deleteApproval: db.prepare<[string]>(`DELETE FROM enrollment_approvals WHERE user_id = ?`),
  };

  const putCodes = (userId: string, hashes: readonly string[], now: number) => {
    st.deleteCodes.run(userId);
    for (const h of hashes) st.insertCode.run(userId, h, now);
  };
  const dropFactors = (userId: string) => {
    st.deleteActive.run(userId);
    st.deletePending.run(userId);
    st.deleteCodes.run(userId);
    dropOutOfBand(userId);
  };

  // IMMEDIATE: the write lock is taken at BEGIN (waiting up to busy_timeout), so two processes serialise
  // here instead of both reading under a shared lock and one failing with SQLITE_BUSY on the upgrade.
  const activate = db.transaction(
    (userId: string, step: number, hashes: readonly string[], now: number): boolean => {
      const pending = st.takePending.get(userId);
      if (pending === undefined) return false;
      st.enrollUser.run(userId, now, now);
      st.putActive.run(userId, pending.secret, pending.created_at, now, step);
      putCodes(userId, hashes, now);
      st.deleteApproval.run(userId);
      return true;
    },
  );
  const replaceCodes = db.transaction(putCodes);
  const removeFactors = db.transaction((userId: string) => {
    dropFactors(userId);
    st.unenrollUser.run(userId);
  });
  const applyDue = db.transaction((userId: string, now: number): RecoveryRecord[] => {
    // The UPDATE decides (a concurrent caller that committed first left nothing open and due); when it
    // changes no row, nothing else is written.
    const applied = st.applyDue.all(now, userId, now);
    if (applied.length === 0) return applied;
    dropFactors(userId);
    st.resetUser.run(userId, now, now);
    return applied.sort(byDueTime);
  });

  return {
    savePendingTotp(p: PendingTotp): void {
      st.savePending.run(p.user_id, p.secret, p.created_at);
    },
    getPendingTotp: (userId: string): PendingTotp | null => st.getPending.get(userId) ?? null,
    getActiveTotp: (userId: string): TotpFactor | null => st.getActive.get(userId) ?? null,
    activateTotp(userId: string, step: number, hashes: readonly string[], now: number): boolean {
      integer('step', step);
      integer('now', now);
      return activate.immediate(userId, step, hashes, now);
    },
    acceptTotpStep(userId: string, step: number): boolean {
      integer('step', step);
      return st.acceptStep.run(step, userId, step).changes === 1;
    },
    removeFactors: (userId: string): void => removeFactors.immediate(userId),

    replaceBackupCodes: (userId: string, hashes: readonly string[], now: number): void =>
      replaceCodes.immediate(userId, hashes, now),
    consumeBackupCode(userId: string, hashes: readonly string[], now: number): boolean {
      integer('now', now);
      if (hashes.length === 0) return false;
      return st.consumeCode.run(now, userId, userId, JSON.stringify(hashes)).changes === 1;
    },
    countBackupCodes: (userId: string): number => st.countCodes.get(userId) ?? 0,

    getFailures: (subject: string): FailureCounter => st.getFailures.get(subject) ?? { ...NO_FAILURES },
    recordFailure(subject: string, now: number, lockAfter: number): FailureCounter {
      integer('now', now);
      if (!Number.isSafeInteger(lockAfter) || lockAfter < 1) {
        throw new RangeError(`lockAfter must be a positive integer, got ${lockAfter}`);
      }
      const row = st.recordFailure.get({ subject, now, lockAfter });
      if (row === undefined) throw new Error(`recordFailure(${subject}) returned no row`);
      return row;
    },
    resetFailures(subject: string): void {
      st.resetFailures.run(subject);
    },
    unlock(prefix: string): number {
      // An empty prefix would clear every lock of every user and IP: a caller bug, never an admin's intent.
      if (prefix === '') throw new RangeError('unlock needs a non-empty subject prefix (see src/store/subjects.ts)');
      const upper = prefixUpperBound(prefix);
      return upper === null
        ? st.unlockFrom.run(prefix, prefix, prefix).changes
        : st.unlockRange.run(prefix, upper, prefix, prefix).changes;
    },

    openRecovery(r: Omit<RecoveryRecord, 'cancelled_at' | 'applied_at'>): void {
      st.openRecovery.run(r.id, r.user_id, r.verified_by, r.verification, r.opened_at, r.effective_at);
    },
    getRecovery: (id: string): RecoveryRecord | null => st.getRecovery.get(id) ?? null,
    cancelRecovery(id: string, now: number): RecoveryRecord | null {
      integer('now', now);
      return st.cancelRecovery.get(now, id, now) ?? null;
    },
    applyDueRecoveries(userId: string, now: number): RecoveryRecord[] {
      integer('now', now);
      // Most calls find nothing due: answer those from a read, without taking the write lock.
      if (st.anyDue.get(userId, now) === undefined) return [];
      return applyDue.immediate(userId, now);
    },

    approveEnrollment(a: EnrollmentApproval): void {
      st.approve.run(a.user_id, a.approved_by, a.approved_at, a.expires_at);
    },
    getEnrollmentApproval: (userId: string, now: number): EnrollmentApproval | null =>
      st.getApproval.get(userId, now) ?? null,
  };
}

function byDueTime(a: RecoveryRecord, b: RecoveryRecord): number {
  return a.effective_at - b.effective_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The least string above every string that starts with `prefix`, in SQLite's BINARY order (UTF-8 bytes,
 * which is code point order): the prefix with its last code point incremented (U+10FFFF carries into the one
 * before, the surrogate block is skipped). null when there is none (a prefix made only of U+10FFFF).
 */
export function prefixUpperBound(prefix: string): string | null {
  // A lone surrogate reaches SQLite as U+FFFD (better-sqlite3 encodes strings as well-formed UTF-8).
  const points = Array.from(prefix, (c) => {
    const cp = c.codePointAt(0)!;
    return cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp;
  });
  while (points.length > 0) {
    const last = points.pop()!;
    if (last < 0x10ffff) {
      points.push(last + 1 === 0xd800 ? 0xe000 : last + 1);
      return String.fromCodePoint(...points);
    }
  }
  return null;
}
