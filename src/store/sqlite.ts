// The SQLite store (better-sqlite3, WAL): the embedded default. See DESIGN.md "Storage".
// better-sqlite3 is synchronous; the Store interface is async because the PostgreSQL driver is. Every
// method therefore runs its SQL synchronously inside an async function (or returns a promise), so an error,
// SQLITE_BUSY or a closed store included, is a rejected promise and never a synchronous throw.
import type Database from 'better-sqlite3';
import { ErrorCode, MfaGateError } from '../errors.js';
import type { UserState } from '../types.js';
import { openConnection } from './sqlite-connection.js';
import { prepareFactorOps, type FactorOps } from './sqlite-factors.js';
import { migrateSqlite } from './sqlite-migrate.js';
import { prepareOobOps, type OobOps } from './sqlite-oob.js';
import { prepareStatements, toChallenge, type ChallengeParams, type Statements } from './sqlite-statements.js';
import { prepareUserViews } from './sqlite-users.js';
import { resolveRetention } from './retention.js';
import { userFailureSubjects } from './subjects.js';
import type {
  ChallengeRecord,
  EnrollmentApproval,
  FailureCounter,
  LoginRecord,
  MessageCodePurpose,
  MessageCodeRecord,
  MessageDestination,
  PendingTotp,
  PurgeResult,
  PushChallengeRecord,
  PushDevice,
  RateWindow,
  RecoveryRecord,
  RetentionOptions,
  Store,
  TotpFactor,
  UserSummary,
} from './types.js';
import { WriteBehind, type OpResult } from './write-behind.js';

export interface SqliteStoreOptions {
  /** The database file (its directory is created if missing), or `:memory:` for a private throwaway database. */
  path: string;
  /** What is kept and for how long (src/store/retention.ts has the defaults). */
  retention?: Partial<RetentionOptions>;
  /** Queued writes that force a flush without waiting for the next event-loop turn. */
  maxBatch?: number;
  /** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

// The brief: wait up to 5 s for another process's write lock before failing with SQLITE_BUSY.
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
// DESIGN "Storage": 100 rows per transaction already reach ~550k rows/s; 256 keeps a burst's batch (and so
// the time the write lock is held) short while leaving the per-commit cost negligible. Under load the batch
// is whatever one event-loop turn produced, usually far fewer.
const DEFAULT_MAX_BATCH = 256;
// purgeExpired deletes in chunks so a large backlog never holds the write lock for long.
const PURGE_CHUNK = 5000;

/** Every method of a closed store rejects with this (code store_unavailable, so the HTTP layer answers 503). */
export class StoreClosedError extends MfaGateError {
  constructor(path: string) {
    super(ErrorCode.STORE_UNAVAILABLE, `the SQLite store ${path} is closed`);
    this.name = 'StoreClosedError';
  }
}

// USER_STATE_SQL's devices and locations columns, parsed: one array per column, in primary-key order.
type DeviceColumns = [device_key: string[], last_seen: number[], last_mfa_at: Array<number | null>];
type LocationColumns = [location_key: string[], last_seen: number[]];

/**
 * The first `limit` row indexes of `lastSeen`, most recently seen first; equal times keep index (primary-key)
 * order, the order `ORDER BY last_seen DESC, key` gives. An insertion sort: a user holds a few rows (the
 * retention bound caps them), often already in order, where it does a single pass and allocates nothing else.
 */
function newestFirst(lastSeen: readonly number[], limit: number): number[] {
  const order: number[] = [];
  for (let i = 0; i < lastSeen.length; i++) {
    const time = lastSeen[i]!;
    let at = order.length;
    order.push(i);
    for (; at > 0 && lastSeen[order[at - 1]!]! < time; at--) order[at] = order[at - 1]!;
    order[at] = i;
  }
  if (order.length > limit) order.length = limit;
  return order;
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}

export interface SqliteStoreInfo {
  path: string;
  schemaVersion: number;
  journalMode: string;
  synchronous: string;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  /** Writes waiting for the next batch. */
  queued: number;
}

// PRAGMA synchronous answers a number; https://sqlite.org/pragma.html#pragma_synchronous names them.
const SYNCHRONOUS_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const;

export class SqliteStore implements Store {
  readonly path: string;
  /** The schema version after the migrations ran at open. */
  readonly schemaVersion: number;
  /** Versions this open applied (empty when the file was up to date). */
  readonly migrationsApplied: readonly number[];
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly fx: FactorOps;
  private readonly oob: OobOps;
  private readonly views: ReturnType<typeof prepareUserViews>;
  private readonly queue: WriteBehind;
  private readonly retention: RetentionOptions;
  private closed = false;

  constructor({
    path,
    retention,
    maxBatch = DEFAULT_MAX_BATCH,
    busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS,
  }: SqliteStoreOptions) {
    this.retention = resolveRetention(retention);
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new Error(`busyTimeoutMs must be a non-negative integer, got ${busyTimeoutMs}`);
    }
    this.path = path;
    const db = openConnection(path, busyTimeoutMs);
    try {
      const migrated = migrateSqlite(db, { where: path });
      this.schemaVersion = migrated.version;
      this.migrationsApplied = migrated.applied;
      this.st = prepareStatements(db);
      this.oob = prepareOobOps(db);
      this.fx = prepareFactorOps(db, this.oob.dropAll);
      this.views = prepareUserViews(db);
      this.db = db;
      this.queue = new WriteBehind({ commit: this.commitBatch(), maxBatch });
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async getUserState(userId: string, deviceKey: string, now: number): Promise<UserState> {
    this.beforeRead(`u:${userId}`);
    const [totp, backup] = userFailureSubjects(userId);
    const cutoff = now - this.retention.knownMaxAgeMs;
    let user = this.st.getUser.get(totp, backup, cutoff, cutoff, userId);
    if (user === undefined) {
      this.st.registerUser.run(userId, now);
      user = this.st.getUser.get(totp, backup, cutoff, cutoff, userId);
      if (user === undefined) throw new Error(`user ${userId} vanished right after registration`);
    }
    const [
      first_seen, enrolled_at, last_login_time, last_login_ip, enrollment_deadline, failed_attempts,
      recovery_due_at, devicesJson, locationsJson,
    ] = user;
    // Both in key order from the query; ordered here by last_seen, newest first. Writes keep at most the
    // bounds; newestFirst caps them too, so a bound lowered at restart holds before the next write trims.
    const [deviceKeys, deviceSeen, deviceMfa] = JSON.parse(devicesJson) as DeviceColumns;
    const [locationKeys, locationSeen] = JSON.parse(locationsJson) as LocationColumns;
    let lastMfa: UserState['last_mfa'] = null;
    const knownDevices: string[] = [];
    for (const i of newestFirst(deviceSeen, this.retention.knownDevices)) {
      const key = deviceKeys[i]!;
      knownDevices.push(key);
      const mfaAt = deviceMfa[i] ?? null;
      if (key === deviceKey && mfaAt !== null) lastMfa = { time: mfaAt, device: deviceKey };
    }
    const knownLocations: string[] = [];
    for (const i of newestFirst(locationSeen, this.retention.knownLocations)) knownLocations.push(locationKeys[i]!);
    return {
      enrolled: enrolled_at !== null,
      enrolled_at,
      first_seen,
      known_devices: knownDevices,
      known_locations: knownLocations,
      last_login: last_login_time === null ? null : { time: last_login_time, ip: last_login_ip },
      last_mfa: lastMfa,
      failed_attempts,
      enrollment_deadline,
      recovery_due_at,
    };
  }

  recordLogin(login: LoginRecord): Promise<void> {
    if (this.closed) return this.rejectClosed();
    // Copied now: the caller may reuse its object before the batch runs.
    const { user_id, device_key, location_key, ip, time, mfa } = login;
    const { knownDevices, knownLocations } = this.retention;
    return this.queue.enqueue(() => {
      this.st.recordUserLogin.run(user_id, time, time, ip);
      this.st.recordDevice.run(user_id, device_key, time, time, mfa ? time : null);
      // Trimmed only when over the bound (see countDevices): the same rows go as with a trim every time.
      if (this.st.countDevices.get(user_id)! > knownDevices) this.st.trimDevices.run(user_id, user_id, knownDevices);
      if (location_key !== null) {
        this.st.recordLocation.run(user_id, location_key, time, time);
        if (this.st.countLocations.get(user_id)! > knownLocations) {
          this.st.trimLocations.run(user_id, user_id, knownLocations);
        }
      }
    }, `u:${user_id}`);
  }

  createChallenge(c: Omit<ChallengeRecord, 'completed_at'>): Promise<void> {
    if (this.closed) return this.rejectClosed();
    const params: ChallengeParams = [
      c.id, c.user_id, c.decision, c.device_key, c.location_key, c.ip,
      c.enrollment_allowed ? 1 : 0, c.created_at, c.expires_at, c.device_label ?? null,
    ];
    return this.queue.enqueue(() => {
      this.st.createChallenge.run(...params);
    }, `c:${c.id}`);
  }

  async getChallenge(id: string): Promise<ChallengeRecord | null> {
    this.beforeRead(`c:${id}`);
    const row = this.st.getChallenge.get(id);
    return row === undefined ? null : toChallenge(row);
  }

  async completeChallenge(id: string, now: number): Promise<ChallengeRecord | null> {
    this.beforeRead(`c:${id}`);
    const row = this.st.completeChallenge.get(now, id, now);
    return row === undefined ? null : toChallenge(row);
  }

  /** Enrolling an unknown user registers it (first_seen = time); un-enrolling an unknown user changes nothing. */
  async setEnrolled(userId: string, time: number | null): Promise<void> {
    // A queued login for this user commits first, so the row it creates keeps the login's first_seen.
    this.beforeRead(`u:${userId}`);
    if (time === null) this.st.unenroll.run(userId);
    else this.st.enroll.run(userId, time, time);
  }

  async getUserSummary(userId: string): Promise<UserSummary | null> {
    this.beforeRead(`u:${userId}`);
    return this.views.getUserSummary(userId);
  }

  async listUsers(): Promise<UserSummary[]> {
    this.beforeRead();
    return this.views.listUsers();
  }

  /** A login still queued for the device commits first, so it cannot bring the device back afterwards. */
  async forgetDevice(userId: string, deviceKey: string): Promise<boolean> {
    this.beforeRead(`u:${userId}`);
    return this.views.forgetDevice(userId, deviceKey);
  }

  // --- factors: never queued. Each call's SQL has committed when its promise resolves (sqlite-factors.ts).
  // Those that write the users row first commit a login queued for the user, so the login's row (and its
  // first_seen) comes first, as it came first.

  async savePendingTotp(pending: PendingTotp): Promise<void> {
    this.ensureOpen();
    this.fx.savePendingTotp(pending);
  }

  async getPendingTotp(userId: string): Promise<PendingTotp | null> {
    this.ensureOpen();
    return this.fx.getPendingTotp(userId);
  }

  async getActiveTotp(userId: string): Promise<TotpFactor | null> {
    this.ensureOpen();
    return this.fx.getActiveTotp(userId);
  }

  async activateTotp(userId: string, step: number, backupCodeHashes: readonly string[], now: number): Promise<boolean> {
    this.beforeRead(`u:${userId}`);
    return this.fx.activateTotp(userId, step, backupCodeHashes, now);
  }

  async acceptTotpStep(userId: string, step: number): Promise<boolean> {
    this.ensureOpen();
    return this.fx.acceptTotpStep(userId, step);
  }

  async removeFactors(userId: string): Promise<void> {
    this.beforeRead(`u:${userId}`);
    this.fx.removeFactors(userId);
  }

  async replaceBackupCodes(userId: string, hashes: readonly string[], now: number): Promise<void> {
    this.ensureOpen();
    this.fx.replaceBackupCodes(userId, hashes, now);
  }

  async consumeBackupCode(userId: string, hashes: readonly string[], now: number): Promise<boolean> {
    this.ensureOpen();
    return this.fx.consumeBackupCode(userId, hashes, now);
  }

  async countBackupCodes(userId: string): Promise<number> {
    this.ensureOpen();
    return this.fx.countBackupCodes(userId);
  }

  async getFailures(subject: string): Promise<FailureCounter> {
    this.ensureOpen();
    return this.fx.getFailures(subject);
  }

  async recordFailure(subject: string, now: number, lockAfter: number): Promise<FailureCounter> {
    this.ensureOpen();
    return this.fx.recordFailure(subject, now, lockAfter);
  }

  async resetFailures(subject: string): Promise<void> {
    this.ensureOpen();
    this.fx.resetFailures(subject);
  }

  /** Rejects (a RangeError) for an empty prefix, which would unlock everyone. */
  async unlock(prefix: string): Promise<number> {
    this.ensureOpen();
    return this.fx.unlock(prefix);
  }

  async openRecovery(request: Omit<RecoveryRecord, 'cancelled_at' | 'applied_at'>): Promise<void> {
    this.ensureOpen();
    this.fx.openRecovery(request);
  }

  async getRecovery(id: string): Promise<RecoveryRecord | null> {
    this.ensureOpen();
    return this.fx.getRecovery(id);
  }

  async cancelRecovery(id: string, now: number): Promise<RecoveryRecord | null> {
    this.ensureOpen();
    return this.fx.cancelRecovery(id, now);
  }

  async applyDueRecoveries(userId: string, now: number): Promise<RecoveryRecord[]> {
    this.beforeRead(`u:${userId}`);
    return this.fx.applyDueRecoveries(userId, now);
  }

  async approveEnrollment(approval: EnrollmentApproval): Promise<void> {
    this.ensureOpen();
    this.fx.approveEnrollment(approval);
  }

  async getEnrollmentApproval(userId: string, now: number): Promise<EnrollmentApproval | null> {
    this.ensureOpen();
    return this.fx.getEnrollmentApproval(userId, now);
  }

  // --- out-of-band factors (issue #7): never queued either (sqlite-oob.ts). None writes the users row.

  async savePendingMessageDestination(destination: Omit<MessageDestination, 'confirmed_at'>): Promise<void> {
    this.ensureOpen();
    this.oob.savePendingMessageDestination(destination);
  }

  async getMessageDestination(userId: string): Promise<MessageDestination | null> {
    this.ensureOpen();
    return this.oob.getMessageDestination(userId);
  }

  async getPendingMessageDestination(userId: string): Promise<MessageDestination | null> {
    this.ensureOpen();
    return this.oob.getPendingMessageDestination(userId);
  }

  async confirmMessageDestination(userId: string, now: number): Promise<boolean> {
    this.ensureOpen();
    return this.oob.confirmMessageDestination(userId, now);
  }

  async removeMessageDestination(userId: string): Promise<boolean> {
    this.ensureOpen();
    return this.oob.removeMessageDestination(userId);
  }

  async createMessageCode(code: Omit<MessageCodeRecord, 'used_at'>): Promise<void> {
    this.ensureOpen();
    this.oob.createMessageCode(code);
  }

  async consumeMessageCode(
    userId: string,
    hashes: readonly string[],
    purpose: MessageCodePurpose,
    challengeId: string | null,
    now: number,
  ): Promise<MessageCodeRecord | null> {
    this.ensureOpen();
    return this.oob.consumeMessageCode(userId, hashes, purpose, challengeId, now);
  }

  async hitRateLimit(subject: string, now: number, windowMs: number, max: number): Promise<RateWindow> {
    this.ensureOpen();
    return this.oob.hitRateLimit(subject, now, windowMs, max);
  }

  async releaseRateLimit(subject: string, now: number): Promise<boolean> {
    this.ensureOpen();
    return this.oob.releaseRateLimit(subject, now);
  }

  async savePushDevice(device: PushDevice): Promise<void> {
    this.ensureOpen();
    this.oob.savePushDevice(device);
  }

  async getPushDevice(userId: string, deviceId: string): Promise<PushDevice | null> {
    this.ensureOpen();
    return this.oob.getPushDevice(userId, deviceId);
  }

  async listPushDevices(userId: string): Promise<PushDevice[]> {
    this.ensureOpen();
    return this.oob.listPushDevices(userId);
  }

  async removePushDevice(userId: string, deviceId: string): Promise<boolean> {
    this.ensureOpen();
    return this.oob.removePushDevice(userId, deviceId);
  }

  async createPushChallenge(push: Omit<PushChallengeRecord, 'status' | 'responded_at'>): Promise<void> {
    this.ensureOpen();
    this.oob.createPushChallenge(push);
  }

  async getPushChallenge(id: string): Promise<PushChallengeRecord | null> {
    this.ensureOpen();
    return this.oob.getPushChallenge(id);
  }

  async respondPushChallenge(id: string, status: 'approved' | 'denied', now: number): Promise<PushChallengeRecord | null> {
    this.ensureOpen();
    return this.oob.respondPushChallenge(id, status, now);
  }

  async ping(): Promise<void> {
    this.beforeRead();
    this.st.ping.get();
  }

  /** Commits the queued writes (their promises settle) and closes. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.queue.flush();
    this.closed = true;
    try {
      // https://sqlite.org/lang_analyze.html#pragopt: run before closing a long-lived connection. Best
      // effort: statistics are an optimisation, and a busy database must not fail the shutdown.
      this.db.pragma('optimize');
    } catch {
      // ignored, see above
    }
    this.db.close();
  }

  /**
   * Deletes what has expired under the retention options (see RetentionOptions); returns the counts. Not on
   * the hot path: the server calls it from a timer. Works in chunks so other writers get the lock in between.
   */
  async purgeExpired(now: number): Promise<PurgeResult> {
    this.beforeRead();
    if (!Number.isSafeInteger(now)) throw new RangeError(`now must be an integer, got ${now}`);
    const r = this.retention;
    const chunked = (statement: Database.Statement<[number, number]>, cutoff: number): number => {
      let total = 0;
      for (;;) {
        const { changes } = statement.run(cutoff, PURGE_CHUNK);
        total += changes;
        if (changes < PURGE_CHUNK) return total;
      }
    };
    return {
      challenges: chunked(this.st.purgeChallenges, now - r.challengesMs),
      devices: chunked(this.st.purgeDevices, now - r.knownMaxAgeMs),
      locations: chunked(this.st.purgeLocations, now - r.knownMaxAgeMs),
      recoveries: chunked(this.st.purgeRecoveries, now - r.recoveriesMs),
      failures: chunked(this.st.purgeFailures, now - r.failuresMs),
      approvals: chunked(this.st.purgeApprovals, now),
      message_codes: chunked(this.st.purgeMessageCodes, now - r.challengesMs),
      push_challenges: chunked(this.st.purgePushChallenges, now - r.challengesMs),
      rate_limits: chunked(this.st.purgeRateLimits, now),
    };
  }

  /** Connection settings and queue length, for diagnostics and tests. */
  async info(): Promise<SqliteStoreInfo> {
    if (this.closed) throw new StoreClosedError(this.path);
    const pragma = (name: string) => this.db.pragma(name, { simple: true });
    const sync = Number(pragma('synchronous'));
    return {
      path: this.path,
      schemaVersion: this.schemaVersion,
      journalMode: String(pragma('journal_mode')),
      synchronous: SYNCHRONOUS_NAMES[sync] ?? String(sync),
      busyTimeoutMs: Number(pragma('busy_timeout')),
      foreignKeys: Number(pragma('foreign_keys')) === 1,
      queued: this.queue.size,
    };
  }

  /**
   * Throws (inside the async caller, so it rejects) when closed, then commits the queue if it holds a write
   * that this read depends on (`key`: `u:<user>` or `c:<challenge>`; none: any), so the process always reads
   * its own writes. Flushing on every read instead would cut batches to one write under HTTP load, where
   * each request's read runs in its own I/O callback right after the previous request queued its write:
   * measured ~15k vs ~37k getUserState+recordLogin pairs/s (100 concurrent requests, one per macrotask).
   */
  private beforeRead(key?: string): void {
    this.ensureOpen();
    if (key === undefined || this.queue.has(key)) this.queue.flush();
  }

  /** Throws (so the async caller rejects) when closed. For calls that touch nothing the queue writes. */
  private ensureOpen(): void {
    if (this.closed) throw new StoreClosedError(this.path);
  }

  private rejectClosed(): Promise<never> {
    return Promise.reject(new StoreClosedError(this.path));
  }

  /**
   * One IMMEDIATE transaction per batch: the write lock is taken (waiting up to busy_timeout) before any
   * statement runs, so a batch never fails half-way on a lock upgrade. A write that fails on its own (a
   * duplicate challenge id, a wrongly typed value) must not fail its neighbours; a savepoint per write would
   * isolate it but cost ~15-25% of batch throughput (measured), so the fast path runs the batch bare and
   * only a failed batch is replayed write by write (rare: it needs a caller bug or a duplicate id).
   */
  private commitBatch(): (ops: ReadonlyArray<() => void>) => OpResult[] {
    let opFailed = false;
    const batch = this.db.transaction((ops: ReadonlyArray<() => void>) => {
      for (const op of ops) {
        try {
          op();
        } catch (error) {
          opFailed = true;
          throw error;
        }
      }
    });
    return (ops) => {
      // Reset here, not inside the transaction body: when BEGIN fails the body never runs.
      opFailed = false;
      try {
        batch.immediate(ops);
        return ops.map(() => null);
      } catch (error) {
        // BEGIN or COMMIT failed (busy past the timeout, disk full): nothing was written, all fail together.
        if (!opFailed) throw error;
        if (ops.length === 1) return [{ error }];
        // One write failed and the batch rolled back: replay each alone so only the culprit fails.
        return ops.map((op) => {
          try {
            batch.immediate([op]);
            return null;
          } catch (e) {
            return { error: e };
          }
        });
      }
    };
  }
}
