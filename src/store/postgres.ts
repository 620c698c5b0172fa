// The PostgreSQL store (pg, pooled): for several mfa-gate instances sharing one database. Same semantics as
// the SQLite store (src/store/sqlite.ts), which the contract suite (test/store.contract.ts) proves for both.
//
// Connection: `connectionString` is a libpq-style URL, `postgres://user:password@host:5432/database?...`.
// The store's tables live in one schema: the `schema` option, or a `?schema=NAME` parameter of the
// connection string (as Prisma spells it; taken out before pg sees the string), default `public`. The name
// must be a plain lower-case identifier. The schema is created at open if missing, the migrations run in it
// (see postgres-migrate.ts), and every pooled connection has it as its search_path from its first statement
// (a `-c search_path=` startup option, appended to any `options` the connection string carries).
//
// Concurrency: every single-use rule (a challenge completed once, a TOTP step accepted once, a backup code
// or message code used once, a failure or rate-limited event counted once and the lock set once, a recovery
// cancelled or applied once, an enrollment activated once, a message destination confirmed once, a push
// answered once) is decided by one SQL statement's result, never by reading in JavaScript and writing
// after, so it holds across connections of this pool and across instances (postgres-statements.ts says how
// each statement does it). Operations of several statements run in one transaction on one checked-out
// connection, released on every path.
//
// Read-your-own-writes: the engine fires recordLogin (and createChallenge) without awaiting it and may read
// the same user (challenge) at once; with a pool, that read could run on another connection before the write
// commits. So writes are tracked per key (`u:<user>`, `c:<challenge>`) until they settle, and a read of a key
// first waits for the writes in flight on it (whether they succeed or not).
//
// Batching (issue #6): the decision path's calls (getUserState, recordLogin, createChallenge) made during one
// event-loop turn, or while the previous statement of their kind is running, share one statement over
// arrays (postgres-batch.ts; SQL.userStates, recordLogins, createChallenges). A batched call has the
// semantics of the call alone: a getUserState joins a batch only after the writes in flight on its user
// settled; a batch of logins holds one login per user (a second one goes in the next statement); a write
// batch that fails for any reason but an outage is run again call by call, so each caller gets its own
// answer (a duplicate challenge id fails that call only); an outage rejects every call of the batch with
// store_unavailable.
//
// Failures: when the database cannot be reached or a connection dies, every method rejects with an
// MfaGateError of code store_unavailable (the HTTP layer answers 503, the engine applies the policy's fail
// mode) whose `cause` is pg's error; other errors pass through unchanged (postgres-errors.ts lists which is
// which). The pool replaces dead connections by itself: nothing needs reopening once the database is back.
import pg from 'pg';
import type { DecisionKind, UserState } from '../types.js';
import { resolveRetention } from './retention.js';
import {
  checkSchemaName,
  describeTarget,
  poolConfig,
  splitConnectionString,
  type PoolSettings,
} from './postgres-connection.js';
import {
  PostgresStoreClosedError,
  StoreUnavailableError,
  detachClient,
  isPoolEnded,
  isUnavailable,
} from './postgres-errors.js';
import { Batcher, type BatchEntry } from './postgres-batch.js';
import { migratePostgres } from './postgres-migrate.js';
import { PURGE, SQL, VIEWS, type Named } from './postgres-statements.js';
import { prefixUpperBound } from './sqlite-factors.js';
import { checkAnswer, checkRateArgs } from './sqlite-oob.js';
import type { MigrationResult } from './sqlite-migrate.js';
import { userFailureSubjects } from './subjects.js';
import type {
  ChallengeRecord,
  EnrollmentApproval,
  FailureCounter,
  LoginRecord,
  MessageChannel,
  MessageCodePurpose,
  MessageCodeRecord,
  MessageDestination,
  PendingTotp,
  PurgeResult,
  PushChallengeRecord,
  PushDevice,
  PushStatus,
  RateWindow,
  RecoveryRecord,
  RetentionOptions,
  Store,
  TotpFactor,
  UserSummary,
} from './types.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`, optionally with `?schema=NAME` (see the file header). */
  connectionString: string;
  /** The schema holding the store's tables (default `public`); also accepted as `?schema=` on the string. */
  schema?: string;
  retention?: Partial<RetentionOptions>;
  /** Pooled connections at most (default 10). */
  poolSize?: number;
  /** How long to wait for a connection (a new one, or a free pooled one) before failing (default 2000). */
  connectTimeoutMs?: number;
  /** The server cancels a statement running longer than this (store_unavailable); default: no limit. */
  statementTimeoutMs?: number;
  /** Shown in pg_stat_activity, so an operator can tell the store's connections apart (default `mfa-gate`). */
  applicationName?: string;
  /**
   * Called when an idle pooled connection fails (the server restarted, an admin terminated it): pg reports
   * that outside any call, and the pool has already dropped the connection. Gets a StoreUnavailableError
   * (no credentials in it). Without it the event is ignored: the next call reconnects or reports the outage.
   */
  onError?: (error: Error) => void;
}

// The decision path batches its calls, so it holds few connections at once: 4, 10 and 20 measured alike
// under the HTTP bench (50 concurrent requests); the rest serve factor calls and transactions.
export const DEFAULT_POOL_SIZE = 10;
// Long enough for a TCP + TLS + auth handshake across a data centre, short enough that a request waiting on
// an unreachable database fails over to the policy's fail mode well within a gateway's own timeout.
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
export const DEFAULT_SCHEMA = 'public';
export const DEFAULT_APPLICATION_NAME = 'mfa-gate';
// Calls per batched statement at most (postgres-batch.ts).
const MAX_BATCH = 128;
// purgeExpired deletes at most this many rows per statement (postgres-statements.ts PURGE).
const PURGE_CHUNK = 5000;

export interface PostgresStoreInfo {
  /** host:port/database and schema, without credentials. */
  target: string;
  schema: string;
  /** What the server reports as the connections' current schema (the search_path at work). */
  currentSchema: string | null;
  schemaVersion: number;
  serverVersion: string;
  applicationName: string;
  statementTimeout: string;
  pool: { max: number; total: number; idle: number; waiting: number };
}

interface UserStateRow {
  /** The call's 1-based position in its batch. */
  i: number;
  first_seen: number;
  enrolled_at: number | null;
  last_login_time: number | null;
  last_login_ip: string | null;
  enrollment_deadline: number | null;
  failed_attempts: number;
  recovery_due_at: number | null;
  devices: string[];
  locations: string[];
  device_mfa_at: number | null;
}

interface StateCall {
  userId: string;
  deviceKey: string;
  now: number;
}

/** recordLogin's values: user, time, IP, device, MFA time, location (SQL.recordLogin $1-$6). */
type LoginValues = [string, number, string | null, string, number | null, string | null];
/** createChallenge's values, in SQL.createChallenge's order. */
type ChallengeValues = [string, string, string, string, string | null, string | null, boolean, number, number, string | null];

interface ChallengeRow extends Omit<ChallengeRecord, 'decision'> {
  decision: string;
}

type DestinationRow = { channel: MessageChannel; address: string; created_at: number };
type CodeRow = Omit<MessageCodeRecord, 'purpose'> & { purpose: string };
type PushRow = Omit<PushChallengeRecord, 'status'> & { status: string };

/** Throws unless `value` is an integer: a clock bug must fail loudly, never reach a single-use rule. */
function integer(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer, got ${value}`);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

const NO_FAILURES: Readonly<FailureCounter> = Object.freeze({ consecutive: 0, last_failure_at: null, locked_at: null });
const noop = (): void => undefined;
/** Read after every write in flight (ping, listUsers, purgeExpired). */
const ALL = Symbol('all writes');

export function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  return PostgresStore.open(options);
}

export class PostgresStore implements Store {
  readonly schema: string;
  /** The schema version after the migrations ran at open. */
  readonly schemaVersion: number;
  /** Versions this open applied (empty when the schema was up to date, e.g. another instance migrated it). */
  readonly migrationsApplied: readonly number[];
  /** host:port/database and schema, for messages: never credentials. */
  readonly target: string;
  private readonly pool: pg.Pool;
  private readonly retention: RetentionOptions;
  private readonly poolSize: number;
  /** Every operation not yet settled: close() waits for them before ending the pool. */
  private readonly ops = new Set<Promise<unknown>>();
  /** Per key, a promise that settles (never rejects) when every write in flight on the key has settled. */
  private readonly writes = new Map<string, Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | null = null;
  // One read statement at a time: the reads that arrive while it runs go out together when it is done, so
  // under load the batches grow instead of the statements multiplying (measured: fewer, larger batches,
  // less CPU per decision on both sides, same latency). Its users not found go on to newUsers.
  private readonly userStates = new Batcher<StateCall, UserState>((entries) => this.loadUserStates(entries), {
    maxBatch: MAX_BATCH,
    maxInFlight: 1,
  });
  private readonly newUsers = new Batcher<StateCall, UserState>((entries) => this.registerUsers(entries), {
    maxBatch: MAX_BATCH,
  });
  // One login statement at a time too: then two statements of this instance never hold rows of the same
  // users, so they never wait for each other (nor deadlock; between instances, see recordLogins).
  private readonly logins = new Batcher<LoginValues, void>((entries) => this.recordLogins(entries), {
    maxBatch: MAX_BATCH,
    maxInFlight: 1,
  });
  // Awaited by the decision that prompts: not held back behind another insert.
  private readonly challengeInserts = new Batcher<ChallengeValues, void>((entries) => this.createChallenges(entries), {
    maxBatch: MAX_BATCH,
  });

  /**
   * Validates the options (throwing before any connection), opens the pool and migrates the schema.
   * Rejects with store_unavailable when the database cannot be reached, SchemaTooNewError when the schema
   * was migrated by a newer mfa-gate.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const retention = resolveRetention(options.retention);
    const settings = resolveSettings(options);
    const target = describeTarget(settings.connectionString, settings.schema);
    const pool = new pg.Pool(poolConfig(settings));
    // An idle pooled connection that dies (pg_terminate_backend, a server restart) is reported as the pool's
    // 'error' event; unhandled, that event would crash the process.
    pool.on('error', (error) => {
      try {
        options.onError?.(new StoreUnavailableError(target, detachClient(error)));
      } catch {
        // A failing reporter must not turn a dropped connection into a crash: this runs inside an emit.
      }
    });
    try {
      const migrated = await withClient(pool, (client) =>
        migratePostgres(client, { schema: settings.schema, where: `PostgreSQL ${target}` }),
      );
      return new PostgresStore(pool, settings, retention, target, migrated);
    } catch (error) {
      await pool.end().catch(noop);
      throw isUnavailable(error) ? new StoreUnavailableError(target, error) : error;
    }
  }

  private constructor(
    pool: pg.Pool,
    settings: PoolSettings,
    retention: RetentionOptions,
    target: string,
    migrated: MigrationResult,
  ) {
    this.pool = pool;
    // Not the settings themselves: they hold the connection string, and with it the password.
    this.poolSize = settings.poolSize;
    this.retention = retention;
    this.target = target;
    this.schema = settings.schema;
    this.schemaVersion = migrated.version;
    this.migrationsApplied = migrated.applied;
  }

  /**
   * Calls of one event-loop turn share one statement (postgres-batch.ts, SQL.userStates). A call joins a
   * batch only once the writes in flight on its user have settled (run), so every call of a batch reads
   * after its own writes.
   */
  getUserState(userId: string, deviceKey: string, now: number): Promise<UserState> {
    return this.run(`u:${userId}`, () => this.userStates.add({ userId, deviceKey, now }));
  }

  /**
   * One batch of getUserState. The calls for users not found are handed to the registration batcher, so this
   * batch (which holds the read slot, see userStates) ends after its one round trip.
   */
  private async loadUserStates(entries: readonly BatchEntry<StateCall, UserState>[]): Promise<void> {
    for (const entry of await this.readUserStates(entries)) entry.resolve(this.newUsers.add(entry.arg));
  }

  /** Registers the users of `entries` (one statement) and reads their states again. */
  private async registerUsers(entries: readonly BatchEntry<StateCall, UserState>[]): Promise<void> {
    // Distinct and sorted (see SQL.registerUsers); the first call's time for a user named twice.
    const firstSeen = new Map<string, number>();
    for (const { arg } of entries) if (!firstSeen.has(arg.userId)) firstSeen.set(arg.userId, arg.now);
    const ids = [...firstSeen.keys()].sort();
    await this.query(SQL.registerUsers, [ids, ids.map((id) => firstSeen.get(id))]);
    for (const { arg, reject } of await this.readUserStates(entries)) {
      reject(new Error(`user ${arg.userId} vanished right after registration`));
    }
  }

  /** Reads the states of `entries` and resolves those found; returns the others. */
  private async readUserStates(
    entries: readonly BatchEntry<StateCall, UserState>[],
  ): Promise<BatchEntry<StateCall, UserState>[]> {
    const r = this.retention;
    const n = entries.length;
    const ids = new Array<string>(n);
    const totp = new Array<string>(n);
    const backup = new Array<string>(n);
    const cutoffs = new Array<number>(n);
    const devices = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const { userId, deviceKey, now } = entries[i]!.arg;
      const [t, b] = userFailureSubjects(userId);
      ids[i] = userId;
      totp[i] = t;
      backup[i] = b;
      cutoffs[i] = now - r.knownMaxAgeMs;
      devices[i] = deviceKey;
    }
    const { rows } = await this.query<UserStateRow>(SQL.userStates, [
      ids, totp, backup, cutoffs, devices, r.knownDevices, r.knownLocations,
    ]);
    const found = new Array<boolean>(n).fill(false);
    for (const row of rows) {
      const index = row.i - 1;
      const entry = entries[index];
      if (entry === undefined || found[index]) throw new Error(`getUserState batch: unexpected row ${row.i} of ${n}`);
      found[index] = true;
      entry.resolve(toUserState(row, entry.arg.deviceKey));
    }
    return rows.length === n ? [] : entries.filter((_, i) => !found[i]);
  }

  /** Logins of one event-loop turn share one statement (postgres-batch.ts, SQL.recordLogins). */
  recordLogin(login: LoginRecord): Promise<void> {
    // Copied now: the caller may reuse its object before the statement is sent.
    const { user_id, device_key, location_key, ip, time, mfa } = login;
    const values: LoginValues = [user_id, time, ip, device_key, mfa ? time : null, location_key];
    return this.write(`u:${user_id}`, () => this.logins.add(values));
  }

  /**
   * One batch of recordLogin: one statement per round of distinct users (a user's second login of the batch,
   * which is rare, goes in the next round, after the first committed). The users are sorted, so statements of
   * several instances sharing users take those rows' locks in the same order; should two deadlock all the
   * same, the one PostgreSQL cancels is run again login by login (batchOrEach).
   */
  private async recordLogins(entries: readonly BatchEntry<LoginValues, void>[]): Promise<void> {
    const { knownDevices, knownLocations } = this.retention;
    let round = entries;
    while (round.length > 0) {
      const users = new Set<string>();
      const now: BatchEntry<LoginValues, void>[] = [];
      const later: BatchEntry<LoginValues, void>[] = [];
      for (const entry of round) {
        const user = entry.arg[0];
        if (users.has(user)) later.push(entry);
        else {
          users.add(user);
          now.push(entry);
        }
      }
      now.sort((a, b) => (a.arg[0] < b.arg[0] ? -1 : a.arg[0] > b.arg[0] ? 1 : 0));
      await this.batchOrEach(
        now,
        SQL.recordLogins,
        [...columns(now, 6), knownDevices, knownLocations],
        SQL.recordLogin,
        (values) => [...values, knownDevices, knownLocations],
      );
      round = later;
    }
  }

  /** Challenges of one event-loop turn share one statement (postgres-batch.ts, SQL.createChallenges). */
  createChallenge(c: Omit<ChallengeRecord, 'completed_at'>): Promise<void> {
    const values: ChallengeValues = [
      c.id, c.user_id, c.decision, c.device_key, c.location_key, c.ip, c.enrollment_allowed, c.created_at, c.expires_at,
      c.device_label ?? null,
    ];
    return this.write(`c:${c.id}`, () => this.challengeInserts.add(values));
  }

  /**
   * Runs `batch` (the statement for all of `entries`, with `batchValues`) and resolves them all. When it
   * fails for any reason but an outage (a duplicate challenge id, say, or a deadlock between instances), it
   * changed nothing (one statement), and each entry is run alone with `single` (with `singleValues` of its
   * values), so each caller gets the answer its own call would have had.
   */
  private async batchOrEach<V extends unknown[]>(
    entries: readonly BatchEntry<V, void>[],
    batch: Named,
    batchValues: unknown[],
    single: Named,
    singleValues: (values: V) => unknown[],
  ): Promise<void> {
    try {
      await this.query(batch, batchValues);
    } catch (error) {
      if (entries.length === 1 || isUnavailable(error) || isPoolEnded(error)) throw error;
      await Promise.all(
        entries.map((entry) => this.query(single, singleValues(entry.arg)).then(() => entry.resolve(), entry.reject)),
      );
      return;
    }
    for (const entry of entries) entry.resolve();
  }

  private async createChallenges(entries: readonly BatchEntry<ChallengeValues, void>[]): Promise<void> {
    await this.batchOrEach(entries, SQL.createChallenges, columns(entries, 10), SQL.createChallenge, (values) => values);
  }

  getChallenge(id: string): Promise<ChallengeRecord | null> {
    return this.run(`c:${id}`, async () => toChallenge((await this.query<ChallengeRow>(SQL.getChallenge, [id])).rows[0]));
  }

  completeChallenge(id: string, now: number): Promise<ChallengeRecord | null> {
    return this.run(`c:${id}`, async () => {
      integer('now', now);
      return toChallenge((await this.query<ChallengeRow>(SQL.completeChallenge, [id, now])).rows[0]);
    });
  }

  /** Enrolling an unknown user registers it (first_seen = time); un-enrolling an unknown user changes nothing. */
  setEnrolled(userId: string, time: number | null): Promise<void> {
    // After a login in flight for this user, so the row it creates keeps the login's first_seen.
    return this.run(`u:${userId}`, async () => {
      if (time === null) await this.query(SQL.unenroll, [userId]);
      else await this.query(SQL.enroll, [userId, time]);
    });
  }

  getUserSummary(userId: string): Promise<UserSummary | null> {
    return this.run(`u:${userId}`, async () => (await this.query<UserSummary>(VIEWS.userSummary, [userId])).rows[0] ?? null);
  }

  listUsers(): Promise<UserSummary[]> {
    return this.run(ALL, async () => (await this.query<UserSummary>(VIEWS.listUsers, [])).rows);
  }

  /** After a login in flight for the user, so it cannot bring the device back afterwards. */
  forgetDevice(userId: string, deviceKey: string): Promise<boolean> {
    return this.run(`u:${userId}`, async () => (await this.query(SQL.forgetDevice, [userId, deviceKey])).rowCount === 1);
  }

  // --- factors: each call's SQL has committed when its promise resolves. Those that write the users row
  // wait for a login in flight for the user first, so the login's row (and its first_seen) comes first.

  savePendingTotp(p: PendingTotp): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.savePending, [p.user_id, p.secret, p.created_at]);
    });
  }

  getPendingTotp(userId: string): Promise<PendingTotp | null> {
    return this.run(undefined, async () => (await this.query<PendingTotp>(SQL.getPending, [userId])).rows[0] ?? null);
  }

  getActiveTotp(userId: string): Promise<TotpFactor | null> {
    return this.run(undefined, async () => (await this.query<TotpFactor>(SQL.getActive, [userId])).rows[0] ?? null);
  }

  /** One transaction whose first statement (taking the pending secret) decides; see Store.activateTotp. */
  activateTotp(userId: string, step: number, backupCodeHashes: readonly string[], now: number): Promise<boolean> {
    const hashes = [...backupCodeHashes];
    return this.run(`u:${userId}`, async () => {
      integer('step', step);
      integer('now', now);
      return this.transaction(async (client) => {
        const pending = (await client.query<PendingTotp>(prepared(SQL.takePending, [userId]))).rows[0];
        if (pending === undefined) return false;
        await client.query(prepared(SQL.activate, [userId, now, pending.secret, pending.created_at, step]));
        await putCodes(client, userId, hashes, now);
        return true;
      });
    });
  }

  acceptTotpStep(userId: string, step: number): Promise<boolean> {
    return this.run(undefined, async () => {
      integer('step', step);
      return (await this.query(SQL.acceptStep, [userId, step])).rowCount === 1;
    });
  }

  removeFactors(userId: string): Promise<void> {
    return this.run(`u:${userId}`, async () => {
      await this.query(SQL.removeFactors, [userId]);
    });
  }

  replaceBackupCodes(userId: string, hashes: readonly string[], now: number): Promise<void> {
    const list = [...hashes];
    return this.run(undefined, () => this.transaction((client) => putCodes(client, userId, list, now)));
  }

  consumeBackupCode(userId: string, hashes: readonly string[], now: number): Promise<boolean> {
    const list = [...hashes];
    return this.run(undefined, async () => {
      integer('now', now);
      if (list.length === 0) return false;
      return (await this.query(SQL.consumeCode, [userId, list, now])).rowCount === 1;
    });
  }

  countBackupCodes(userId: string): Promise<number> {
    return this.run(undefined, async () => (await this.query<{ n: number }>(SQL.countCodes, [userId])).rows[0]?.n ?? 0);
  }

  getFailures(subject: string): Promise<FailureCounter> {
    return this.run(
      undefined,
      async () => (await this.query<FailureCounter>(SQL.getFailures, [subject])).rows[0] ?? { ...NO_FAILURES },
    );
  }

  recordFailure(subject: string, now: number, lockAfter: number): Promise<FailureCounter> {
    return this.run(undefined, async () => {
      integer('now', now);
      positiveInteger('lockAfter', lockAfter);
      const row = (await this.query<FailureCounter>(SQL.recordFailure, [subject, now, lockAfter])).rows[0];
      if (row === undefined) throw new Error(`recordFailure(${subject}) returned no row`);
      return row;
    });
  }

  resetFailures(subject: string): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.resetFailures, [subject]);
    });
  }

  /** Rejects (a RangeError) for an empty prefix, which would unlock everyone. */
  unlock(prefix: string): Promise<number> {
    return this.run(undefined, async () => {
      if (prefix === '') throw new RangeError('unlock needs a non-empty subject prefix (see src/store/subjects.ts)');
      const upper = prefixUpperBound(prefix);
      const result =
        upper === null
          ? await this.query(SQL.unlockFrom, [prefix])
          : await this.query(SQL.unlockRange, [prefix, upper]);
      return result.rowCount ?? 0;
    });
  }

  openRecovery(r: Omit<RecoveryRecord, 'cancelled_at' | 'applied_at'>): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.openRecovery, [r.id, r.user_id, r.verified_by, r.verification, r.opened_at, r.effective_at]);
    });
  }

  getRecovery(id: string): Promise<RecoveryRecord | null> {
    return this.run(undefined, async () => (await this.query<RecoveryRecord>(SQL.getRecovery, [id])).rows[0] ?? null);
  }

  cancelRecovery(id: string, now: number): Promise<RecoveryRecord | null> {
    return this.run(undefined, async () => {
      integer('now', now);
      return (await this.query<RecoveryRecord>(SQL.cancelRecovery, [id, now])).rows[0] ?? null;
    });
  }

  applyDueRecoveries(userId: string, now: number): Promise<RecoveryRecord[]> {
    return this.run(`u:${userId}`, async () => {
      integer('now', now);
      // Most calls find nothing due: answered by one read on the pool, without checking out a connection
      // for a transaction. The UPDATE inside the transaction decides; this read only skips it.
      if ((await this.query(SQL.anyDue, [userId, now])).rowCount === 0) return [];
      return this.transaction(async (client) => {
        const applied = (await client.query<RecoveryRecord>(prepared(SQL.applyDue, [userId, now]))).rows;
        if (applied.length === 0) return applied;
        await client.query(prepared(SQL.resetAfterRecovery, [userId, now]));
        return applied.sort(byDueTime);
      });
    });
  }

  approveEnrollment(a: EnrollmentApproval): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.approve, [a.user_id, a.approved_by, a.approved_at, a.expires_at]);
    });
  }

  getEnrollmentApproval(userId: string, now: number): Promise<EnrollmentApproval | null> {
    return this.run(
      undefined,
      async () => (await this.query<EnrollmentApproval>(SQL.getApproval, [userId, now])).rows[0] ?? null,
    );
  }

  // --- out-of-band factors (issue #7). None writes the users row, so none waits for a login in flight.

  savePendingMessageDestination(d: Omit<MessageDestination, 'confirmed_at'>): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.savePendingDestination, [d.user_id, d.channel, d.address, d.created_at]);
    });
  }

  getMessageDestination(userId: string): Promise<MessageDestination | null> {
    return this.run(
      undefined,
      async () => (await this.query<MessageDestination>(SQL.getDestination, [userId])).rows[0] ?? null,
    );
  }

  getPendingMessageDestination(userId: string): Promise<MessageDestination | null> {
    return this.run(
      undefined,
      async () => (await this.query<MessageDestination>(SQL.getPendingDestination, [userId])).rows[0] ?? null,
    );
  }

  /** One transaction whose first statement (taking the pending destination) decides; see Store. */
  confirmMessageDestination(userId: string, now: number): Promise<boolean> {
    return this.run(undefined, async () => {
      integer('now', now);
      return this.transaction(async (client) => {
        const pending = (await client.query<DestinationRow>(prepared(SQL.takePendingDestination, [userId]))).rows[0];
        if (pending === undefined) return false;
        await client.query(
          prepared(SQL.putDestination, [userId, pending.channel, pending.address, pending.created_at, now]),
        );
        return true;
      });
    });
  }

  removeMessageDestination(userId: string): Promise<boolean> {
    return this.run(
      undefined,
      async () => ((await this.query<{ removed: number }>(SQL.removeDestination, [userId])).rows[0]?.removed ?? 0) > 0,
    );
  }

  createMessageCode(c: Omit<MessageCodeRecord, 'used_at'>): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.createMessageCode, [c.id, c.user_id, c.purpose, c.challenge_id, c.code_hash, c.created_at, c.expires_at]);
    });
  }

  consumeMessageCode(
    userId: string,
    hashes: readonly string[],
    purpose: MessageCodePurpose,
    challengeId: string | null,
    now: number,
  ): Promise<MessageCodeRecord | null> {
    const list = [...hashes];
    return this.run(undefined, async () => {
      integer('now', now);
      if (list.length === 0) return null;
      const row = (await this.query<CodeRow>(SQL.consumeMessageCode, [userId, list, purpose, challengeId, now])).rows[0];
      return row === undefined ? null : toCode(row);
    });
  }

  hitRateLimit(subject: string, now: number, windowMs: number, max: number): Promise<RateWindow> {
    return this.run(undefined, async () => {
      checkRateArgs(now, windowMs, max);
      const row = (await this.query<{ count: number; reset_at: number }>(SQL.hitRateLimit, [subject, now, windowMs]))
        .rows[0];
      if (row === undefined) throw new Error(`hitRateLimit(${subject}) returned no row`);
      return { allowed: row.count <= max, count: row.count, reset_at: row.reset_at };
    });
  }

  releaseRateLimit(subject: string, now: number): Promise<boolean> {
    return this.run(undefined, async () => {
      if (!Number.isSafeInteger(now)) throw new RangeError(`now must be an integer, got ${now}`);
      return (await this.query(SQL.releaseRateLimit, [subject, now])).rowCount === 1;
    });
  }

  savePushDevice(d: PushDevice): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.savePushDevice, [d.user_id, d.device_id, d.public_key, d.name, d.created_at]);
    });
  }

  getPushDevice(userId: string, deviceId: string): Promise<PushDevice | null> {
    return this.run(
      undefined,
      async () => (await this.query<PushDevice>(SQL.getPushDevice, [userId, deviceId])).rows[0] ?? null,
    );
  }

  listPushDevices(userId: string): Promise<PushDevice[]> {
    return this.run(undefined, async () => (await this.query<PushDevice>(SQL.listPushDevices, [userId])).rows);
  }

  removePushDevice(userId: string, deviceId: string): Promise<boolean> {
    return this.run(undefined, async () => (await this.query(SQL.removePushDevice, [userId, deviceId])).rowCount === 1);
  }

  createPushChallenge(p: Omit<PushChallengeRecord, 'status' | 'responded_at'>): Promise<void> {
    return this.run(undefined, async () => {
      await this.query(SQL.createPush, [p.id, p.user_id, p.device_id, p.challenge_id, p.number, p.created_at, p.expires_at]);
    });
  }

  getPushChallenge(id: string): Promise<PushChallengeRecord | null> {
    return this.run(undefined, async () => toPush((await this.query<PushRow>(SQL.getPush, [id])).rows[0]));
  }

  respondPushChallenge(id: string, status: 'approved' | 'denied', now: number): Promise<PushChallengeRecord | null> {
    return this.run(undefined, async () => {
      checkAnswer(status);
      integer('now', now);
      return toPush((await this.query<PushRow>(SQL.respondPush, [id, status, now])).rows[0]);
    });
  }

  /**
   * Deletes what the retention options say has expired at `now` (see RetentionOptions), table by table, in
   * chunks that autocommit (PURGE). Several instances may run it at once: each takes rows the others have
   * not locked, and a second run finds nothing left.
   */
  purgeExpired(now: number): Promise<PurgeResult> {
    return this.run(ALL, async () => {
      integer('now', now);
      const r = this.retention;
      const drain = async (statement: Named, cutoff: number): Promise<number> => {
        let total = 0;
        for (;;) {
          const deleted = (await this.query(statement, [cutoff, PURGE_CHUNK])).rowCount ?? 0;
          total += deleted;
          if (deleted < PURGE_CHUNK) return total;
        }
      };
      // One after the other: a purge is background work and should hold one connection, not nine.
      return {
        challenges: await drain(PURGE.challenges, now - r.challengesMs),
        devices: await drain(PURGE.devices, now - r.knownMaxAgeMs),
        locations: await drain(PURGE.locations, now - r.knownMaxAgeMs),
        recoveries: await drain(PURGE.recoveries, now - r.recoveriesMs),
        failures: await drain(PURGE.failures, now - r.failuresMs),
        approvals: await drain(PURGE.approvals, now),
        message_codes: await drain(PURGE.messageCodes, now - r.challengesMs),
        push_challenges: await drain(PURGE.pushChallenges, now - r.challengesMs),
        rate_limits: await drain(PURGE.rateLimits, now),
      };
    });
  }

  ping(): Promise<void> {
    return this.run(ALL, async () => {
      await this.query(SQL.ping, []);
    });
  }

  /** Waits for the operations in flight (writes included: they commit), then ends the pool. Closing twice is harmless. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.ops]);
      await this.pool.end();
    })();
    return this.closing;
  }

  /** The pool and the server's view of a connection, for diagnostics and tests. */
  info(): Promise<PostgresStoreInfo> {
    return this.run(undefined, async () => {
      const pool = {
        max: this.poolSize,
        total: this.pool.totalCount,
        idle: this.pool.idleCount,
        waiting: this.pool.waitingCount,
      };
      const { rows } = await this.pool.query<{
        current_schema: string | null;
        server_version: string;
        application_name: string;
        statement_timeout: string;
      }>(
        `SELECT current_schema() AS current_schema, current_setting('server_version') AS server_version,
                current_setting('application_name') AS application_name,
                current_setting('statement_timeout') AS statement_timeout`,
      );
      const row = rows[0]!;
      return {
        target: this.target,
        schema: this.schema,
        currentSchema: row.current_schema,
        schemaVersion: this.schemaVersion,
        serverVersion: row.server_version,
        applicationName: row.application_name,
        statementTimeout: row.statement_timeout,
        pool,
      };
    });
  }

  /**
   * Runs one operation: rejects (a promise, never a synchronous throw) when closed; first waits for the
   * writes in flight it depends on (`key`: `u:<user>` or `c:<challenge>`; ALL: every one; undefined: none);
   * turns connection failures into store_unavailable. Tracked until settled, for close().
   */
  private run<T>(key: string | typeof ALL | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PostgresStoreClosedError(this.target));
    const before = key === undefined ? undefined : this.writesOn(key);
    const op = (async () => {
      if (before !== undefined) await before;
      try {
        return await fn();
      } catch (error) {
        throw this.translate(error);
      }
    })();
    this.ops.add(op);
    const settle = () => this.ops.delete(op);
    op.then(settle, settle);
    return op;
  }

  /** Runs a write on `key`, which later reads of the key wait for until it settles. */
  private write(key: string, fn: () => Promise<void>): Promise<void> {
    const op = this.run(undefined, fn);
    if (this.closed) return op;
    const settled = op.then(noop, noop);
    const previous = this.writes.get(key);
    const all = previous === undefined ? settled : Promise.all([previous, settled]);
    this.writes.set(key, all);
    void all.then(() => {
      if (this.writes.get(key) === all) this.writes.delete(key);
    });
    return op;
  }

  private writesOn(key: string | typeof ALL): Promise<unknown> | undefined {
    if (key !== ALL) return this.writes.get(key);
    return this.writes.size === 0 ? undefined : Promise.all(this.writes.values());
  }

  private translate(error: unknown): unknown {
    if (isPoolEnded(error)) return new PostgresStoreClosedError(this.target);
    if (isUnavailable(error)) return new StoreUnavailableError(this.target, error);
    return error;
  }

  private query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    statement: Named,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(prepared(statement, values));
  }

  /** BEGIN, `fn`, COMMIT on one checked-out connection; ROLLBACK when `fn` throws. Always released. */
  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return withClient(this.pool, async (client, discard) => {
      await client.query('BEGIN');
      try {
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // On a dead connection the server has rolled back already (withClient discards the client). A
        // ROLLBACK that fails leaves the connection in an unknown state: discarded too, and the first error
        // is the one reported.
        if (!isUnavailable(error)) await client.query('ROLLBACK').catch(discard);
        throw error;
      }
    });
  }
}

/**
 * Checks a connection out for `fn` and releases it on every path. While checked out the pool does not
 * listen to the client's errors, so this does (a connection dying between two statements of a transaction
 * would otherwise be an unhandled 'error' event). A client whose connection failed (or that `fn` discards)
 * is released with the error, which makes the pool close it instead of handing it out again.
 */
async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, discard: (error: unknown) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const discard = (error: unknown) => {
    broken ??= error instanceof Error ? detachClient(error) : new Error(String(error));
  };
  client.on('error', discard);
  try {
    return await fn(client, discard);
  } catch (error) {
    if (isUnavailable(error)) discard(error);
    throw error;
  } finally {
    client.off('error', discard);
    client.release(broken);
  }
}

/** The backup codes of `userId` become `hashes` (inside the caller's transaction). */
async function putCodes(client: pg.PoolClient, userId: string, hashes: string[], now: number): Promise<void> {
  await client.query(prepared(SQL.deleteCodes, [userId]));
  if (hashes.length > 0) await client.query(prepared(SQL.insertCodes, [userId, hashes, now]));
}

function prepared(statement: Named, values: unknown[]): pg.QueryConfig {
  return { name: statement.name, text: statement.text, values };
}

/** The first `width` values of each entry as `width` arrays (one per column), for unnest. */
function columns(entries: readonly BatchEntry<unknown[], unknown>[], width: number): unknown[][] {
  const out: unknown[][] = [];
  for (let c = 0; c < width; c++) {
    const column = new Array<unknown>(entries.length);
    for (let i = 0; i < entries.length; i++) column[i] = entries[i]!.arg[c];
    out.push(column);
  }
  return out;
}

function toUserState(row: UserStateRow, deviceKey: string): UserState {
  // device_mfa_at comes from a device still known by age; it counts only if the device is also within the
  // bound, i.e. listed.
  const lastMfa =
    row.device_mfa_at !== null && row.devices.includes(deviceKey) ? { time: row.device_mfa_at, device: deviceKey } : null;
  return {
    enrolled: row.enrolled_at !== null,
    enrolled_at: row.enrolled_at,
    first_seen: row.first_seen,
    known_devices: row.devices,
    known_locations: row.locations,
    last_login: row.last_login_time === null ? null : { time: row.last_login_time, ip: row.last_login_ip },
    last_mfa: lastMfa,
    failed_attempts: row.failed_attempts,
    enrollment_deadline: row.enrollment_deadline,
    recovery_due_at: row.recovery_due_at,
  };
}

function toChallenge(row: ChallengeRow | undefined): ChallengeRecord | null {
  return row === undefined ? null : { ...row, decision: row.decision as DecisionKind };
}

const toCode = (row: CodeRow): MessageCodeRecord => ({ ...row, purpose: row.purpose as MessageCodePurpose });

function toPush(row: PushRow | undefined): PushChallengeRecord | null {
  return row === undefined ? null : { ...row, status: row.status as PushStatus };
}

function byDueTime(a: RecoveryRecord, b: RecoveryRecord): number {
  return a.effective_at - b.effective_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function resolveSettings(options: PostgresStoreOptions): PoolSettings {
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new TypeError('connectionString is required (postgres://user:password@host:port/database)');
  }
  const split = splitConnectionString(options.connectionString);
  if (options.schema !== undefined && split.schema !== undefined && options.schema !== split.schema) {
    throw new RangeError(
      `the schema option (${options.schema}) and the connection string's ?schema= (${split.schema}) disagree`,
    );
  }
  const statementTimeoutMs = options.statementTimeoutMs;
  if (statementTimeoutMs !== undefined && (!Number.isSafeInteger(statementTimeoutMs) || statementTimeoutMs < 0)) {
    throw new RangeError(`statementTimeoutMs must be a non-negative integer, got ${statementTimeoutMs}`);
  }
  return {
    connectionString: split.connectionString,
    schema: checkSchemaName(options.schema ?? split.schema ?? DEFAULT_SCHEMA),
    ...(split.options === undefined ? {} : { options: split.options }),
    poolSize: positiveInteger('poolSize', options.poolSize ?? DEFAULT_POOL_SIZE),
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
    ...(statementTimeoutMs === undefined ? {} : { statementTimeoutMs }),
    applicationName: options.applicationName ?? DEFAULT_APPLICATION_NAME,
  };
}
