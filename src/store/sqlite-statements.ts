// The SQLite store's SQL, prepared once per connection at open (preparing costs far more than running).
// Kept apart from sqlite.ts so the store class reads as behaviour and this file as the queries.
import type Database from 'better-sqlite3';
import type { DecisionKind } from '../types.js';
import type { ChallengeRecord } from './types.js';

/**
 * USER_STATE_SQL's row as an array, in its column order: the statement is `.raw()`, so no object with named
 * properties is built per call (measured ~0.8 µs of a ~9.5 µs getUserState).
 */
export type UserRow = [
  first_seen: number,
  enrolled_at: number | null,
  last_login_time: number | null,
  last_login_ip: string | null,
  enrollment_deadline: number | null,
  failed_attempts: number,
  recovery_due_at: number | null,
  /** JSON `[[device_key, ...], [last_seen, ...], [last_mfa_at, ...]]`, each in primary-key order (device_key). */
  devices: string,
  /** JSON `[[location_key, ...], [last_seen, ...]]`, each in primary-key order (location_key). */
  locations: string,
];

/**
 * getUserState in one query: the user row, with the two factor facts and the user's devices and locations
 * folded in as scalar subqueries (one statement step instead of three; measured on the HTTP bench).
 * failed_attempts adds the user's two failure counters (parameters 1 and 2 are their subjects; two
 * primary-key lookups, measured ~20% faster than one `SUM ... WHERE subject IN (?, ?)`, which builds a
 * temporary b-tree for the list), recovery_due_at is the earliest open request (a seek in the partial index
 * recovery_requests_open_by_user, whose WHERE this repeats). devices and locations are JSON built by
 * json_group_array over a primary-key range (so in key order); the caller orders them by last_seen, since an
 * ORDER BY inside the aggregate costs a temporary b-tree per call. One flat array per column, side by side,
 * rather than one small array per row: SQLite builds no json_array per row and JSON.parse allocates three
 * arrays, not one per row (measured ~0.3 µs of a ~9 µs getUserState with 2-6 rows each; the JavaScript half,
 * parse and order, ~40% faster from 10 rows). Parameters 3 and 4 are the retention cutoff
 * (a device or location last seen at or before it is no longer known; a filter inside the same key range),
 * parameter 5 the user id.
 */
export const USER_STATE_SQL = `
  SELECT u.first_seen, u.enrolled_at, u.last_login_time, u.last_login_ip, u.enrollment_deadline,
    COALESCE((SELECT consecutive FROM factor_failures WHERE subject = ?), 0)
      + COALESCE((SELECT consecutive FROM factor_failures WHERE subject = ?), 0) AS failed_attempts,
    (SELECT MIN(r.effective_at) FROM recovery_requests r
      WHERE r.user_id = u.id AND r.cancelled_at IS NULL AND r.applied_at IS NULL) AS recovery_due_at,
    (SELECT '[' || json_group_array(d.device_key) || ',' || json_group_array(d.last_seen)
              || ',' || json_group_array(d.last_mfa_at) || ']'
      FROM known_devices d WHERE d.user_id = u.id AND d.last_seen > ?) AS devices,
    (SELECT '[' || json_group_array(l.location_key) || ',' || json_group_array(l.last_seen) || ']'
      FROM known_locations l WHERE l.user_id = u.id AND l.last_seen > ?) AS locations
  FROM users u WHERE u.id = ?`;

export interface ChallengeRow {
  id: string;
  user_id: string;
  decision: string;
  device_key: string;
  location_key: string | null;
  ip: string | null;
  enrollment_allowed: number;
  device_label: string | null;
  created_at: number;
  expires_at: number;
  completed_at: number | null;
}

// better-sqlite3 binds only anonymous `?` positionally (not `?1`), so a value used twice is passed twice.
type LoginParams = [user_id: string, first_seen: number, time: number, ip: string | null];
type DeviceParams = [user_id: string, device_key: string, first_seen: number, time: number, mfa_at: number | null];
type LocationParams = [user_id: string, location_key: string, first_seen: number, time: number];
export type ChallengeParams = [string, string, string, string, string | null, string | null, number, number, number, string | null];

export type Statements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database.Database) {
  return {
    ping: db.prepare<[], number>('SELECT 1').pluck(),
    getUser: db
      .prepare<
        [totpSubject: string, backupSubject: string, deviceCutoff: number, locationCutoff: number, id: string],
        UserRow
      >(USER_STATE_SQL)
      .raw(),
    // DO NOTHING then re-read: when two processes register the same user at once, both end up reading the
    // one row that won, so first_seen is the same for both.
    registerUser: db.prepare<[string, number]>(
      `INSERT INTO users (id, first_seen) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    // Batches from several instances can commit out of order, so nothing moves backwards: the login time
    // and IP change together only for a newer login. SQLite's SET sees the old row on every right-hand side.
    // first_seen never changes: it starts the grace period.
    recordUserLogin: db.prepare<LoginParams>(
      `INSERT INTO users (id, first_seen, last_login_time, last_login_ip) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         last_login_ip = CASE WHEN users.last_login_time > excluded.last_login_time
                              THEN users.last_login_ip ELSE excluded.last_login_ip END,
         last_login_time = MAX(COALESCE(users.last_login_time, excluded.last_login_time), excluded.last_login_time)`,
    ),
    // Two-argument MAX is NULL when either side is; COALESCE keeps whichever MFA time exists.
    recordDevice: db.prepare<DeviceParams>(
      `INSERT INTO known_devices (user_id, device_key, first_seen, last_seen, last_mfa_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_key) DO UPDATE SET
         first_seen = MIN(known_devices.first_seen, excluded.first_seen),
         last_seen = MAX(known_devices.last_seen, excluded.last_seen),
         last_mfa_at = COALESCE(MAX(known_devices.last_mfa_at, excluded.last_mfa_at),
                                known_devices.last_mfa_at, excluded.last_mfa_at)`,
    ),
    recordLocation: db.prepare<LocationParams>(
      `INSERT INTO known_locations (user_id, location_key, first_seen, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, location_key) DO UPDATE SET
         first_seen = MIN(known_locations.first_seen, excluded.first_seen),
         last_seen = MAX(known_locations.last_seen, excluded.last_seen)`,
    ),
    // Retention bound (RetentionOptions.knownDevices/knownLocations): after a login's upsert, the user's rows
    // beyond the newest N go. A trim sorts the user's rows (a temporary b-tree) even when it deletes nothing,
    // which is almost always, so recordLogin counts first (a walk of the same primary-key range, no sort;
    // measured ~0.6 vs ~4 µs) and trims only a user over the bound. Counting rather than trimming only after
    // an insert: an update adds no row, but the user may already be over a bound lowered since (a restart
    // with a smaller bound, another process with a larger one), and the trim then is what forgets the rows.
    countDevices: db.prepare<[string], number>(`SELECT count(*) FROM known_devices WHERE user_id = ?`).pluck(),
    countLocations: db.prepare<[string], number>(`SELECT count(*) FROM known_locations WHERE user_id = ?`).pluck(),
    trimDevices: db.prepare<[string, string, number]>(
      `DELETE FROM known_devices WHERE user_id = ? AND device_key IN (
         SELECT device_key FROM known_devices WHERE user_id = ? ORDER BY last_seen DESC, device_key LIMIT -1 OFFSET ?)`,
    ),
    trimLocations: db.prepare<[string, string, number]>(
      `DELETE FROM known_locations WHERE user_id = ? AND location_key IN (
         SELECT location_key FROM known_locations WHERE user_id = ? ORDER BY last_seen DESC, location_key LIMIT -1 OFFSET ?)`,
    ),
    createChallenge: db.prepare<ChallengeParams>(
      `INSERT INTO challenges (id, user_id, decision, device_key, location_key, ip, enrollment_allowed,
                               created_at, expires_at, device_label)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getChallenge: db.prepare<[string], ChallengeRow>(`SELECT * FROM challenges WHERE id = ?`),
    // The single-use rule lives in this one statement: SQLite serialises writers, so of any number of
    // concurrent callers (in this process or another) exactly one sees the row come back.
    completeChallenge: db.prepare<[number, string, number], ChallengeRow>(
      `UPDATE challenges SET completed_at = ?
       WHERE id = ? AND completed_at IS NULL AND expires_at > ?
       RETURNING *`,
    ),
    enroll: db.prepare<[string, number, number]>(
      `INSERT INTO users (id, first_seen, enrolled_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET enrolled_at = excluded.enrolled_at`,
    ),
    unenroll: db.prepare<[string]>(`UPDATE users SET enrolled_at = NULL WHERE id = ?`),
    // purgeExpired, one chunk each (cutoff, chunk size). Challenges, devices, locations and the out-of-band
    // rows are found through an index (migrations 1, 3 and 4); the other tables stay small.
    purgeChallenges: db.prepare<[number, number]>(
      `DELETE FROM challenges WHERE id IN (SELECT id FROM challenges WHERE expires_at < ? LIMIT ?)`,
    ),
    purgeDevices: db.prepare<[number, number]>(
      `DELETE FROM known_devices WHERE (user_id, device_key) IN (
         SELECT user_id, device_key FROM known_devices WHERE last_seen <= ? LIMIT ?)`,
    ),
    purgeLocations: db.prepare<[number, number]>(
      `DELETE FROM known_locations WHERE (user_id, location_key) IN (
         SELECT user_id, location_key FROM known_locations WHERE last_seen <= ? LIMIT ?)`,
    ),
    purgeRecoveries: db.prepare<[number, number]>(
      `DELETE FROM recovery_requests WHERE id IN (
         SELECT id FROM recovery_requests
         WHERE (cancelled_at IS NOT NULL OR applied_at IS NOT NULL) AND COALESCE(cancelled_at, applied_at) < ? LIMIT ?)`,
    ),
    // Never a lock (only unlock clears one): a counter back to zero, or whose last failure is older than the cutoff.
    purgeFailures: db.prepare<[number, number]>(
      `DELETE FROM factor_failures WHERE subject IN (
         SELECT subject FROM factor_failures
         WHERE locked_at IS NULL AND (consecutive = 0 OR last_failure_at < ?) LIMIT ?)`,
    ),
    purgeApprovals: db.prepare<[number, number]>(
      `DELETE FROM enrollment_approvals WHERE user_id IN (
         SELECT user_id FROM enrollment_approvals WHERE expires_at <= ? LIMIT ?)`,
    ),
    // Out-of-band factor data (migration 4 indexes each by its time). Codes go whether used or not: once
    // expired, a used code proves nothing more than an unused one.
    purgeMessageCodes: db.prepare<[number, number]>(
      `DELETE FROM message_codes WHERE id IN (SELECT id FROM message_codes WHERE expires_at < ? LIMIT ?)`,
    ),
    purgePushChallenges: db.prepare<[number, number]>(
      `DELETE FROM push_challenges WHERE id IN (SELECT id FROM push_challenges WHERE expires_at < ? LIMIT ?)`,
    ),
    // A window that has ended counts nothing any more: the next event starts a new one either way.
    purgeRateLimits: db.prepare<[number, number]>(
      `DELETE FROM rate_limits WHERE subject IN (SELECT subject FROM rate_limits WHERE reset_at <= ? LIMIT ?)`,
    ),
  };
}

export function toChallenge(row: ChallengeRow): ChallengeRecord {
  return {
    id: row.id,
    user_id: row.user_id,
    decision: row.decision as DecisionKind,
    device_key: row.device_key,
    location_key: row.location_key,
    ip: row.ip,
    enrollment_allowed: row.enrollment_allowed === 1,
    device_label: row.device_label,
    created_at: row.created_at,
    expires_at: row.expires_at,
    completed_at: row.completed_at,
  };
}
