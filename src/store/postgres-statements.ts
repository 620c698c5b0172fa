// The PostgreSQL store's SQL. Each statement has a name: pg prepares a named statement once per pooled
// connection (parse and plan once, then only bind and execute), which is what the hot path wants. Kept apart
// from postgres.ts so the store class reads as behaviour and this file as the queries.
//
// Parameters carry explicit casts where PostgreSQL would otherwise have to guess a type (a parameter used
// only inside an expression or in a SELECT list), so a statement prepares the same way on every server.
// Every single-use rule is decided by one statement's result (rows RETURNING gives back, or the row count):
// at READ COMMITTED an UPDATE or DELETE that finds its row changed by a concurrent transaction waits for it,
// then re-checks its WHERE on the new row version, so of concurrent callers exactly one sees the row change.

export interface Named {
  readonly name: string;
  readonly text: string;
}
const named = (name: string, text: string): Named => ({ name: `mfa_gate_${name}`, text });

// An open request is neither cancelled nor applied. Queries on open requests repeat this text exactly so
// the planner can prove the partial index recovery_requests_open_by_user applies.
const OPEN = 'cancelled_at IS NULL AND applied_at IS NULL';

// Every out-of-band factor of user $1 (issue #7), as CTEs of removeFactors and resetAfterRecovery: both
// destinations, the unused codes (used ones stay until purgeExpired) and the push devices.
const DROP_OUT_OF_BAND = `
       destination AS (DELETE FROM message_destinations WHERE user_id = $1::text),
       destination_pending AS (DELETE FROM message_destinations_pending WHERE user_id = $1::text),
       unused_codes AS (DELETE FROM message_codes WHERE user_id = $1::text AND used_at IS NULL),
       push AS (DELETE FROM push_devices WHERE user_id = $1::text)`;
const CODE_COLUMNS = 'id, user_id, purpose, challenge_id, code_hash, created_at, expires_at, used_at';
const PUSH_COLUMNS = 'id, user_id, device_id, challenge_id, number, status, created_at, expires_at, responded_at';
const PUSH_DEVICE_COLUMNS = 'user_id, device_id, public_key, name, created_at';

export const SQL = {
  ping: named('ping', 'SELECT 1'),

  /**
   * getUserState for a batch of calls in one round trip (postgres-batch.ts): one row per call whose user
   * exists, `i` being the call's 1-based position in the arrays. Per call: the user id (1), the two failure
   * subjects (2, 3; two primary-key lookups), the cutoff now - knownMaxAgeMs (4) and the device key (5). Per
   * row: the user row with the two failure counters, the earliest open recovery (a seek in the partial index),
   * the devices and locations still known (seen after the cutoff), most recently seen first and at most the
   * bounds (6, 7), and the MFA time of the call's device when it is still known. One row per call, not per
   * user: calls for one user may differ in device and cutoff. ARRAY(subquery) rather than json_agg: a text[]
   * comes back as a string[] without a JSON detour, and the sort is of one user's few rows. The users row
   * comes from a LATERAL subquery with LIMIT 1 (the id is the key anyway) that the planner cannot flatten
   * into a join: one primary-key probe per call, never a hash join over a scan of the whole table (which
   * the generic plan chose on a table of a thousand users, and which grows with the table).
   */
  userStates: named(
    'user_states',
    `SELECT k.i::int AS i, u.first_seen, u.enrolled_at, u.last_login_time, u.last_login_ip, u.enrollment_deadline,
       COALESCE((SELECT f.consecutive FROM factor_failures f WHERE f.subject = k.totp), 0)
         + COALESCE((SELECT f.consecutive FROM factor_failures f WHERE f.subject = k.backup), 0) AS failed_attempts,
       (SELECT min(r.effective_at) FROM recovery_requests r
         WHERE r.user_id = u.id AND r.${OPEN}) AS recovery_due_at,
       ARRAY(SELECT d.device_key FROM known_devices d WHERE d.user_id = u.id AND d.last_seen > k.cutoff
             ORDER BY d.last_seen DESC, d.device_key LIMIT $6::int) AS devices,
       ARRAY(SELECT l.location_key FROM known_locations l WHERE l.user_id = u.id AND l.last_seen > k.cutoff
             ORDER BY l.last_seen DESC, l.location_key LIMIT $7::int) AS locations,
       (SELECT d.last_mfa_at FROM known_devices d
         WHERE d.user_id = u.id AND d.device_key = k.device AND d.last_seen > k.cutoff) AS device_mfa_at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
            WITH ORDINALITY AS k(id, totp, backup, cutoff, device, i)
     CROSS JOIN LATERAL (
       SELECT id, first_seen, enrolled_at, last_login_time, last_login_ip, enrollment_deadline
       FROM users WHERE id = k.id LIMIT 1
     ) AS u`,
  ),
  // DO NOTHING then re-read: when two instances register the same user at once, both read the one row that
  // won, so first_seen is the same for both. The ids come sorted and distinct: two batches inserting
  // overlapping sets take the key locks in the same order, so they cannot deadlock.
  registerUsers: named(
    'register_users',
    `INSERT INTO users (id, first_seen) SELECT * FROM unnest($1::text[], $2::bigint[])
     ON CONFLICT (id) DO NOTHING`,
  ),

  /**
   * A login in one statement: the user, the device and the location upserted, and the user's devices and
   * locations beyond the retention bounds dropped. Data-modifying CTEs all run against the statement's
   * snapshot and commit together; the foreign keys are checked at the end of the statement, after the users
   * row exists. Nothing moves backwards (logins from several instances commit out of order): the login time
   * and IP change together only for a newer login, last_seen and last_mfa_at only grow (GREATEST ignores
   * NULL), first_seen only shrinks. In DO UPDATE the table alias is the row as it was.
   *
   * The bound: the user's other devices plus this one at its new last_seen are ranked, most recently seen
   * first (key order on ties, as the reads list them), and those ranked past the bound are deleted; this one
   * is not written when it ranks past the bound itself (a late login of a device already crowded out). A row
   * whose last_seen moved since the snapshot (a concurrent login) is spared: the DELETE re-checks
   * `last_seen <= r.last_seen` on the newer version. Two concurrent logins of one user each trim what they
   * saw, so the user may hold a few rows over the bound until the next login trims them; reads never list
   * more than the bound.
   *
   * $1 user, $2 time, $3 ip, $4 device, $5 MFA time (the login time, or NULL), $6 location (NULL: none),
   * $7 and $8 the device and location bounds. The store sends logins in batches (recordLogins, below); this
   * one runs a login alone when a batch failed (see PostgresStore.batchOrEach).
   */
  recordLogin: named(
    'record_login',
    `WITH
       login AS (
         INSERT INTO users AS u (id, first_seen, last_login_time, last_login_ip)
         VALUES ($1::text, $2::bigint, $2::bigint, $3::text)
         ON CONFLICT (id) DO UPDATE SET
           last_login_ip = CASE WHEN u.last_login_time > EXCLUDED.last_login_time
                                THEN u.last_login_ip ELSE EXCLUDED.last_login_ip END,
           last_login_time = GREATEST(u.last_login_time, EXCLUDED.last_login_time)
       ),
       device_rank AS (
         SELECT s.device_key, s.last_seen, row_number() OVER (ORDER BY s.last_seen DESC, s.device_key) AS rank
         FROM (
           SELECT device_key, last_seen FROM known_devices WHERE user_id = $1::text AND device_key <> $4::text
           UNION ALL
           SELECT $4::text, GREATEST($2::bigint,
             (SELECT last_seen FROM known_devices WHERE user_id = $1::text AND device_key = $4::text))
         ) AS s
       ),
       device_dropped AS (
         DELETE FROM known_devices d USING device_rank r
         WHERE d.user_id = $1::text AND d.device_key = r.device_key AND r.rank > $7::int
           AND d.last_seen <= r.last_seen
       ),
       device AS (
         INSERT INTO known_devices AS d (user_id, device_key, first_seen, last_seen, last_mfa_at)
         SELECT $1::text, $4::text, $2::bigint, $2::bigint, $5::bigint
         WHERE (SELECT rank FROM device_rank WHERE device_key = $4::text) <= $7::int
         ON CONFLICT (user_id, device_key) DO UPDATE SET
           first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen),
           last_mfa_at = GREATEST(d.last_mfa_at, EXCLUDED.last_mfa_at)
       ),
       location_rank AS (
         SELECT s.location_key, s.last_seen, row_number() OVER (ORDER BY s.last_seen DESC, s.location_key) AS rank
         FROM (
           -- With no location ($6 NULL) the comparison is NULL: nothing is ranked, nothing dropped.
           SELECT location_key, last_seen FROM known_locations WHERE user_id = $1::text AND location_key <> $6::text
           UNION ALL
           SELECT $6::text, GREATEST($2::bigint,
             (SELECT last_seen FROM known_locations WHERE user_id = $1::text AND location_key = $6::text))
           WHERE $6::text IS NOT NULL
         ) AS s
       ),
       location_dropped AS (
         DELETE FROM known_locations l USING location_rank r
         WHERE l.user_id = $1::text AND l.location_key = r.location_key AND r.rank > $8::int
           AND l.last_seen <= r.last_seen
       ),
       location AS (
         INSERT INTO known_locations AS l (user_id, location_key, first_seen, last_seen)
         SELECT $1::text, $6::text, $2::bigint, $2::bigint
         WHERE $6::text IS NOT NULL AND (SELECT rank FROM location_rank WHERE location_key = $6::text) <= $8::int
         ON CONFLICT (user_id, location_key) DO UPDATE SET
           first_seen = LEAST(l.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(l.last_seen, EXCLUDED.last_seen)
       )
     SELECT 1`,
  ),

  /**
   * recordLogin for a batch of logins of distinct users (postgres-batch.ts) in one statement: recordLogin
   * above, login for login, over the logins unnested from the arrays: $1 users, $2 times, $3 IPs, $4 devices,
   * $5 MFA times (the login time, or NULL), $6 locations (NULL: none); $7 and $8 the bounds. Each login's
   * ranking is recordLogin's, in a LATERAL subquery per login (a window function keeps the planner from
   * flattening it: index probes on the user's rows, never a hash join over a scan of the whole table); the
   * rank CTEs carry the user so the DELETEs and upserts pick each user's rows. The users must be distinct: a
   * statement may not upsert one row twice. Whatever one login would do, each login of the batch does, and
   * all commit together.
   */
  recordLogins: named(
    'record_logins',
    `WITH
       l AS (
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[])
           AS l(user_id, time, ip, device_key, mfa_at, location_key)
       ),
       login AS (
         INSERT INTO users AS u (id, first_seen, last_login_time, last_login_ip)
         SELECT l.user_id, l.time, l.time, l.ip FROM l
         ON CONFLICT (id) DO UPDATE SET
           last_login_ip = CASE WHEN u.last_login_time > EXCLUDED.last_login_time
                                THEN u.last_login_ip ELSE EXCLUDED.last_login_ip END,
           last_login_time = GREATEST(u.last_login_time, EXCLUDED.last_login_time)
       ),
       device_rank AS (
         SELECT l.user_id, r.device_key, r.last_seen, r.rank
         FROM l CROSS JOIN LATERAL (
           SELECT s.device_key, s.last_seen, row_number() OVER (ORDER BY s.last_seen DESC, s.device_key) AS rank
           FROM (
             SELECT d.device_key, d.last_seen FROM known_devices d
             WHERE d.user_id = l.user_id AND d.device_key <> l.device_key
             UNION ALL
             SELECT l.device_key, GREATEST(l.time,
               (SELECT d.last_seen FROM known_devices d WHERE d.user_id = l.user_id AND d.device_key = l.device_key))
           ) AS s
         ) AS r
       ),
       device_dropped AS (
         DELETE FROM known_devices d USING device_rank r
         WHERE d.user_id = r.user_id AND d.device_key = r.device_key AND r.rank > $7::int
           AND d.last_seen <= r.last_seen
       ),
       device AS (
         INSERT INTO known_devices AS d (user_id, device_key, first_seen, last_seen, last_mfa_at)
         SELECT l.user_id, l.device_key, l.time, l.time, l.mfa_at
         FROM l JOIN device_rank r ON r.user_id = l.user_id AND r.device_key = l.device_key
         WHERE r.rank <= $7::int
         ON CONFLICT (user_id, device_key) DO UPDATE SET
           first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen),
           last_mfa_at = GREATEST(d.last_mfa_at, EXCLUDED.last_mfa_at)
       ),
       location_rank AS (
         SELECT l.user_id, r.location_key, r.last_seen, r.rank
         FROM l CROSS JOIN LATERAL (
           SELECT s.location_key, s.last_seen, row_number() OVER (ORDER BY s.last_seen DESC, s.location_key) AS rank
           FROM (
             -- A login with no location (NULL) matches nothing here: its user's locations are not ranked.
             SELECT k.location_key, k.last_seen FROM known_locations k
             WHERE k.user_id = l.user_id AND k.location_key <> l.location_key
             UNION ALL
             SELECT l.location_key, GREATEST(l.time,
               (SELECT k.last_seen FROM known_locations k WHERE k.user_id = l.user_id AND k.location_key = l.location_key))
             WHERE l.location_key IS NOT NULL
           ) AS s
         ) AS r
       ),
       location_dropped AS (
         DELETE FROM known_locations k USING location_rank r
         WHERE k.user_id = r.user_id AND k.location_key = r.location_key AND r.rank > $8::int
           AND k.last_seen <= r.last_seen
       ),
       location AS (
         INSERT INTO known_locations AS k (user_id, location_key, first_seen, last_seen)
         SELECT l.user_id, l.location_key, l.time, l.time
         FROM l JOIN location_rank r ON r.user_id = l.user_id AND r.location_key = l.location_key
         WHERE r.rank <= $8::int
         ON CONFLICT (user_id, location_key) DO UPDATE SET
           first_seen = LEAST(k.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(k.last_seen, EXCLUDED.last_seen)
       )
     SELECT 1`,
  ),

  /** createChallenge for a batch: one row per element of the arrays, in createChallenge's order. */
  createChallenges: named(
    'create_challenges',
    `INSERT INTO challenges (id, user_id, decision, device_key, location_key, ip, enrollment_allowed,
                             created_at, expires_at, device_label)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[],
                          $8::bigint[], $9::bigint[], $10::text[])`,
  ),
  // Alone when a batch (createChallenges) failed, say on a duplicate id: then each call gets its own answer.
  createChallenge: named(
    'create_challenge',
    `INSERT INTO challenges (id, user_id, decision, device_key, location_key, ip, enrollment_allowed,
                             created_at, expires_at, device_label)
     VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::boolean, $8::bigint, $9::bigint,
             $10::text)`,
  ),
  getChallenge: named(
    'get_challenge',
    `SELECT id, user_id, decision, device_key, location_key, ip, enrollment_allowed, device_label, created_at,
            expires_at, completed_at
     FROM challenges WHERE id = $1::text`,
  ),
  // The single-use rule is this one statement: a concurrent completion waits for the row, then re-checks
  // `completed_at IS NULL` on the completed version and returns nothing.
  completeChallenge: named(
    'complete_challenge',
    `UPDATE challenges SET completed_at = $2::bigint
     WHERE id = $1::text AND completed_at IS NULL AND expires_at > $2::bigint
     RETURNING id, user_id, decision, device_key, location_key, ip, enrollment_allowed, device_label, created_at,
               expires_at, completed_at`,
  ),

  enroll: named(
    'enroll',
    `INSERT INTO users (id, first_seen, enrolled_at) VALUES ($1::text, $2::bigint, $2::bigint)
     ON CONFLICT (id) DO UPDATE SET enrolled_at = EXCLUDED.enrolled_at`,
  ),
  unenroll: named('unenroll', 'UPDATE users SET enrolled_at = NULL WHERE id = $1::text'),
  forgetDevice: named('forget_device', 'DELETE FROM known_devices WHERE user_id = $1::text AND device_key = $2::text'),

  // --- factors ---
  savePending: named(
    'save_pending',
    `INSERT INTO totp_pending (user_id, secret, created_at) VALUES ($1::text, $2::text, $3::bigint)
     ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = EXCLUDED.created_at`,
  ),
  getPending: named('get_pending', 'SELECT user_id, secret, created_at FROM totp_pending WHERE user_id = $1::text'),
  getActive: named(
    'get_active',
    'SELECT user_id, secret, created_at, confirmed_at, last_step FROM totp_factors WHERE user_id = $1::text',
  ),
  // activateTotp's first statement, which decides: of two concurrent confirmations the second waits for the
  // row, finds it deleted, and returns nothing.
  takePending: named('take_pending', 'DELETE FROM totp_pending WHERE user_id = $1::text RETURNING secret, created_at'),
  // The rest of an activation, in one statement: the user enrolled (registered if unknown, the deadline a
  // recovery set cleared), the factor replaced with last_step = the confirming step, any approval consumed.
  activate: named(
    'activate',
    `WITH
       enrolled AS (
         INSERT INTO users AS u (id, first_seen, enrolled_at) VALUES ($1::text, $2::bigint, $2::bigint)
         ON CONFLICT (id) DO UPDATE SET enrolled_at = EXCLUDED.enrolled_at, enrollment_deadline = NULL
       ),
       approval AS (DELETE FROM enrollment_approvals WHERE user_id = $1::text)
     INSERT INTO totp_factors (user_id, secret, created_at, confirmed_at, last_step)
     VALUES ($1::text, $3::text, $4::bigint, $2::bigint, $5::bigint)
     ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = EXCLUDED.created_at,
       confirmed_at = EXCLUDED.confirmed_at, last_step = EXCLUDED.last_step`,
  ),
  // RFC 6238 5.2: a step is accepted once. The condition is the whole rule.
  acceptStep: named(
    'accept_step',
    `UPDATE totp_factors SET last_step = $2::bigint
     WHERE user_id = $1::text AND (last_step IS NULL OR last_step < $2::bigint)`,
  ),
  // One statement, so atomic without a transaction: every factor and the codes go, the user is not enrolled.
  removeFactors: named(
    'remove_factors',
    `WITH
       active AS (DELETE FROM totp_factors WHERE user_id = $1::text),
       pending AS (DELETE FROM totp_pending WHERE user_id = $1::text),
       codes AS (DELETE FROM backup_codes WHERE user_id = $1::text),${DROP_OUT_OF_BAND}
     UPDATE users SET enrolled_at = NULL WHERE id = $1::text`,
  ),

  deleteCodes: named('delete_codes', 'DELETE FROM backup_codes WHERE user_id = $1::text'),
  // A duplicate hash violates the primary key: the statement, and the transaction around it, fail whole.
  insertCodes: named(
    'insert_codes',
    `INSERT INTO backup_codes (user_id, code_hash, created_at)
     SELECT $1::text, h, $3::bigint FROM unnest($2::text[]) AS h`,
  ),
  // The candidates are one code hashed under each key of the keyring, so normally at most one matches;
  // still, `code_hash = (... LIMIT 1)` on the primary key marks at most one row whatever the candidates. A
  // concurrent use of the same code waits for the row, re-checks `used_at IS NULL`, and changes nothing.
  consumeCode: named(
    'consume_code',
    `UPDATE backup_codes SET used_at = $3::bigint
     WHERE user_id = $1::text AND used_at IS NULL AND code_hash = (
       SELECT code_hash FROM backup_codes
       WHERE user_id = $1::text AND used_at IS NULL AND code_hash = ANY ($2::text[])
       ORDER BY code_hash LIMIT 1)`,
  ),
  countCodes: named(
    'count_codes',
    'SELECT count(*) AS n FROM backup_codes WHERE user_id = $1::text AND used_at IS NULL',
  ),

  getFailures: named(
    'get_failures',
    'SELECT consecutive, last_failure_at, locked_at FROM factor_failures WHERE subject = $1::text',
  ),
  // One statement: ON CONFLICT DO UPDATE locks the row and reads its latest version, so concurrent failures
  // each add one, and the lock decision sees the same count as the increment (`f.` is the row as it was,
  // so `f.consecutive + 1` is the new count). last_failure_at never moves backwards.
  recordFailure: named(
    'record_failure',
    `INSERT INTO factor_failures AS f (subject, consecutive, last_failure_at, locked_at)
     VALUES ($1::text, 1, $2::bigint, CASE WHEN 1 >= $3::int THEN $2::bigint END)
     ON CONFLICT (subject) DO UPDATE SET
       consecutive = f.consecutive + 1,
       last_failure_at = GREATEST(f.last_failure_at, EXCLUDED.last_failure_at),
       locked_at = CASE WHEN f.locked_at IS NULL AND f.consecutive + 1 >= $3::int THEN $2::bigint
                        ELSE f.locked_at END
     RETURNING consecutive, last_failure_at, locked_at`,
  ),
  // A success clears the count, never the lock (only unlock does).
  resetFailures: named(
    'reset_failures',
    'UPDATE factor_failures SET consecutive = 0 WHERE subject = $1::text AND consecutive <> 0',
  ),
  // A range on the primary key (subject is COLLATE "C": byte order, which prefixUpperBound's code point
  // order matches) plus an exact prefix test: no LIKE pattern, so %, _ and * in user ids are plain
  // characters, and case matters.
  unlockRange: named(
    'unlock_range',
    `DELETE FROM factor_failures
     WHERE subject >= $1::text COLLATE "C" AND subject < $2::text COLLATE "C" AND starts_with(subject, $1::text)`,
  ),
  unlockFrom: named(
    'unlock_from',
    'DELETE FROM factor_failures WHERE subject >= $1::text COLLATE "C" AND starts_with(subject, $1::text)',
  ),

  openRecovery: named(
    'open_recovery',
    `INSERT INTO recovery_requests (id, user_id, verified_by, verification, opened_at, effective_at)
     VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::bigint)`,
  ),
  getRecovery: named(
    'get_recovery',
    `SELECT id, user_id, verified_by, verification, opened_at, effective_at, cancelled_at, applied_at
     FROM recovery_requests WHERE id = $1::text`,
  ),
  // A request that has taken effect (due, even if not applied yet) can no longer be cancelled.
  cancelRecovery: named(
    'cancel_recovery',
    `UPDATE recovery_requests SET cancelled_at = $2::bigint
     WHERE id = $1::text AND ${OPEN} AND effective_at > $2::bigint
     RETURNING id, user_id, verified_by, verification, opened_at, effective_at, cancelled_at, applied_at`,
  ),
  anyDue: named(
    'any_due',
    `SELECT 1 FROM recovery_requests WHERE user_id = $1::text AND ${OPEN} AND effective_at <= $2::bigint LIMIT 1`,
  ),
  // applyDueRecoveries' first statement, which decides: a concurrent caller that committed first left
  // nothing open and due, so this one re-checks, finds nothing, and writes nothing else.
  applyDue: named(
    'apply_due',
    `UPDATE recovery_requests SET applied_at = $2::bigint
     WHERE user_id = $1::text AND ${OPEN} AND effective_at <= $2::bigint
     RETURNING id, user_id, verified_by, verification, opened_at, effective_at, cancelled_at, applied_at`,
  ),
  // After a recovery applied: every factor and the codes go; not enrolled, and enrollment due now (no fresh
  // grace period). A user never seen is registered so the deadline has a row to live in.
  resetAfterRecovery: named(
    'reset_after_recovery',
    `WITH
       active AS (DELETE FROM totp_factors WHERE user_id = $1::text),
       pending AS (DELETE FROM totp_pending WHERE user_id = $1::text),
       codes AS (DELETE FROM backup_codes WHERE user_id = $1::text),${DROP_OUT_OF_BAND}
     INSERT INTO users (id, first_seen, enrollment_deadline) VALUES ($1::text, $2::bigint, $2::bigint)
     ON CONFLICT (id) DO UPDATE SET enrolled_at = NULL, enrollment_deadline = EXCLUDED.enrollment_deadline`,
  ),

  approve: named(
    'approve',
    `INSERT INTO enrollment_approvals (user_id, approved_by, approved_at, expires_at)
     VALUES ($1::text, $2::text, $3::bigint, $4::bigint)
     ON CONFLICT (user_id) DO UPDATE SET approved_by = EXCLUDED.approved_by,
       approved_at = EXCLUDED.approved_at, expires_at = EXCLUDED.expires_at`,
  ),
  // expires_at is exclusive, like a challenge's.
  getApproval: named(
    'get_approval',
    `SELECT user_id, approved_by, approved_at, expires_at FROM enrollment_approvals
     WHERE user_id = $1::text AND expires_at > $2::bigint`,
  ),

  // --- out-of-band factors (issue #7) ---
  savePendingDestination: named(
    'save_pending_destination',
    `INSERT INTO message_destinations_pending (user_id, channel, address, created_at)
     VALUES ($1::text, $2::text, $3::text, $4::bigint)
     ON CONFLICT (user_id) DO UPDATE SET channel = EXCLUDED.channel, address = EXCLUDED.address,
       created_at = EXCLUDED.created_at`,
  ),
  getDestination: named(
    'get_destination',
    'SELECT user_id, channel, address, created_at, confirmed_at FROM message_destinations WHERE user_id = $1::text',
  ),
  getPendingDestination: named(
    'get_pending_destination',
    `SELECT user_id, channel, address, created_at, NULL::bigint AS confirmed_at
     FROM message_destinations_pending WHERE user_id = $1::text`,
  ),
  // confirmMessageDestination's first statement, which decides: of two concurrent confirmations the second
  // waits for the row, finds it deleted, and returns nothing.
  takePendingDestination: named(
    'take_pending_destination',
    'DELETE FROM message_destinations_pending WHERE user_id = $1::text RETURNING channel, address, created_at',
  ),
  putDestination: named(
    'put_destination',
    `INSERT INTO message_destinations (user_id, channel, address, created_at, confirmed_at)
     VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint)
     ON CONFLICT (user_id) DO UPDATE SET channel = EXCLUDED.channel, address = EXCLUDED.address,
       created_at = EXCLUDED.created_at, confirmed_at = EXCLUDED.confirmed_at`,
  ),
  // One statement: both destinations and the unused codes go together; `removed` counts the destinations.
  removeDestination: named(
    'remove_destination',
    `WITH
       confirmed AS (DELETE FROM message_destinations WHERE user_id = $1::text RETURNING 1),
       pending AS (DELETE FROM message_destinations_pending WHERE user_id = $1::text RETURNING 1),
       unused_codes AS (DELETE FROM message_codes WHERE user_id = $1::text AND used_at IS NULL)
     SELECT (SELECT count(*) FROM confirmed) + (SELECT count(*) FROM pending) AS removed`,
  ),

  createMessageCode: named(
    'create_message_code',
    `INSERT INTO message_codes (id, user_id, purpose, challenge_id, code_hash, created_at, expires_at)
     VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint)`,
  ),
  // The single-use rule is this one statement. Several rows can match (the candidates are one code hashed
  // under each key of the keyring, and two codes sent to one user may be equal): `id = (... LIMIT 1)` marks
  // at most one, the one expiring first. A concurrent use of the same code waits for the row, re-checks
  // `used_at IS NULL` on the used version, and changes nothing. The binding is exact: IS NOT DISTINCT FROM
  // matches NULL with NULL only, so a code sent for a challenge never works without it, nor one sent without
  // a challenge with one. expires_at is exclusive, like a challenge's.
  // $1 user, $2 candidate hashes, $3 purpose, $4 challenge (or NULL), $5 now.
  consumeMessageCode: named(
    'consume_message_code',
    `UPDATE message_codes SET used_at = $5::bigint
     WHERE user_id = $1::text AND used_at IS NULL AND expires_at > $5::bigint AND id = (
       SELECT id FROM message_codes
       WHERE user_id = $1::text AND used_at IS NULL AND expires_at > $5::bigint AND purpose = $3::text
         AND challenge_id IS NOT DISTINCT FROM $4::text AND code_hash = ANY ($2::text[])
       ORDER BY expires_at, id LIMIT 1)
     RETURNING ${CODE_COLUMNS}`,
  ),

  // One statement: ON CONFLICT DO UPDATE locks the row and reads its latest version, so concurrent events
  // each count once, across connections and instances; the window check, the count and the window's end
  // read the same row (`r.` is the row as it was). A window that has ended (window_start + windowMs <= now)
  // restarts at now with count 1. $1 subject, $2 now, $3 windowMs.
  hitRateLimit: named(
    'hit_rate_limit',
    `INSERT INTO rate_limits AS r (subject, window_start, count, reset_at)
     VALUES ($1::text, $2::bigint, 1, $2::bigint + $3::bigint)
     ON CONFLICT (subject) DO UPDATE SET
       window_start = CASE WHEN r.window_start + $3::bigint <= $2::bigint THEN $2::bigint ELSE r.window_start END,
       count = CASE WHEN r.window_start + $3::bigint <= $2::bigint THEN 1 ELSE r.count + 1 END,
       reset_at = CASE WHEN r.window_start + $3::bigint <= $2::bigint THEN $2::bigint ELSE r.window_start END
                  + $3::bigint
     RETURNING count, reset_at`,
  ),

  // The window must still be current (reset_at > now): a give-back never reaches into the next window; never
    // below 1 (the table's CHECK: a window's row holds at least the event that started it).
  releaseRateLimit: named(
    'release_rate_limit',
    'UPDATE rate_limits SET count = count - 1 WHERE subject = $1::text AND reset_at > $2::bigint AND count > 1',
  ),

  savePushDevice: named(
    'save_push_device',
    `INSERT INTO push_devices (user_id, device_id, public_key, name, created_at)
     VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint)
     ON CONFLICT (user_id, device_id) DO UPDATE SET public_key = EXCLUDED.public_key, name = EXCLUDED.name,
       created_at = EXCLUDED.created_at`,
  ),
  getPushDevice: named(
    'get_push_device',
    `SELECT ${PUSH_DEVICE_COLUMNS} FROM push_devices WHERE user_id = $1::text AND device_id = $2::text`,
  ),
  // Oldest first; device_id (COLLATE "C", as SQLite's BINARY) breaks ties.
  listPushDevices: named(
    'list_push_devices',
    `SELECT ${PUSH_DEVICE_COLUMNS} FROM push_devices WHERE user_id = $1::text ORDER BY created_at, device_id`,
  ),
  removePushDevice: named(
    'remove_push_device',
    'DELETE FROM push_devices WHERE user_id = $1::text AND device_id = $2::text',
  ),

  createPush: named(
    'create_push',
    `INSERT INTO push_challenges (id, user_id, device_id, challenge_id, number, created_at, expires_at)
     VALUES ($1::text, $2::text, $3::text, $4::text, $5::int, $6::bigint, $7::bigint)`,
  ),
  getPush: named('get_push', `SELECT ${PUSH_COLUMNS} FROM push_challenges WHERE id = $1::text`),
  // The single-use rule is this one statement: only a pending, unexpired push is answered. A concurrent
  // answer waits for the row, re-checks `status = 'pending'` on the answered version, and returns nothing.
  respondPush: named(
    'respond_push',
    `UPDATE push_challenges SET status = $2::text, responded_at = $3::bigint
     WHERE id = $1::text AND status = 'pending' AND expires_at > $3::bigint
     RETURNING ${PUSH_COLUMNS}`,
  ),
} as const;

// --- admin views: one statement each, so one consistent snapshot without a transaction ---

// Same orders as getUserState: most recently seen first, then by key; push devices oldest first. Only the
// confirmed message destination (a pending one is not a factor yet), and no push device keys. count(*) is INT8, parsed as a number;
// json_agg's numbers are JSON numbers. Fields are named one by one (not `json_agg(r)`), so a column a later
// migration adds does not appear in the summaries unasked.
const SUMMARY_COLUMNS = `u.id, u.first_seen, u.enrolled_at,
  (SELECT count(*) FROM backup_codes b WHERE b.user_id = u.id AND b.used_at IS NULL) AS backup_codes_remaining,
  COALESCE((SELECT json_agg(json_build_object('key', d.device_key, 'first_seen', d.first_seen,
                     'last_seen', d.last_seen, 'last_mfa_at', d.last_mfa_at) ORDER BY d.last_seen DESC, d.device_key)
            FROM known_devices d WHERE d.user_id = u.id), '[]') AS known_devices,
  COALESCE((SELECT json_agg(json_build_object('key', l.location_key, 'first_seen', l.first_seen,
                     'last_seen', l.last_seen) ORDER BY l.last_seen DESC, l.location_key)
            FROM known_locations l WHERE l.user_id = u.id), '[]') AS known_locations,
  COALESCE((SELECT json_agg(json_build_object('id', r.id, 'user_id', r.user_id, 'verified_by', r.verified_by,
                     'verification', r.verification, 'opened_at', r.opened_at, 'effective_at', r.effective_at,
                     'cancelled_at', r.cancelled_at, 'applied_at', r.applied_at) ORDER BY r.effective_at, r.id)
            FROM recovery_requests r WHERE r.user_id = u.id AND r.${OPEN}), '[]') AS pending_recoveries,
  (SELECT json_build_object('channel', m.channel, 'address', m.address, 'confirmed_at', m.confirmed_at)
     FROM message_destinations m WHERE m.user_id = u.id) AS message_destination,
  COALESCE((SELECT json_agg(json_build_object('device_id', p.device_id, 'name', p.name,
                     'created_at', p.created_at) ORDER BY p.created_at, p.device_id)
            FROM push_devices p WHERE p.user_id = u.id), '[]') AS push_devices`;

export const VIEWS = {
  userSummary: named('user_summary', `SELECT ${SUMMARY_COLUMNS} FROM users u WHERE u.id = $1::text`),
  listUsers: named('list_users', `SELECT ${SUMMARY_COLUMNS} FROM users u ORDER BY u.id`),
} as const;

// --- purgeExpired: each deletes at most $2 rows of what expired before $1 ---
// In chunks, so no single statement holds thousands of row locks or writes one huge transaction. The rows
// are picked by the index on their time FOR UPDATE SKIP LOCKED: instances purging at once take different
// rows instead of queueing on the same ones, and a row a live operation holds (a login refreshing a device)
// is left for the next run. Locking re-checks the WHERE on the latest row version, so a row refreshed since
// the snapshot is spared. The DELETE then finds the locked rows by ctid (a TID scan; a locked row cannot
// move), where `key IN (subquery)` let the planner hash-join the subquery against a scan of the whole table.
const purge = (name: string, table: string, where: string): Named =>
  named(
    `purge_${name}`,
    `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(
       SELECT ctid FROM ${table} WHERE ${where} LIMIT $2::int FOR UPDATE SKIP LOCKED))`,
  );

export const PURGE = {
  devices: purge('devices', 'known_devices', 'last_seen <= $1::bigint'),
  locations: purge('locations', 'known_locations', 'last_seen <= $1::bigint'),
  challenges: purge('challenges', 'challenges', 'expires_at < $1::bigint'),
  // The WHERE repeats recovery_requests_closed's predicate and expression, so that index is used.
  recoveries: purge(
    'recoveries',
    'recovery_requests',
    '(cancelled_at IS NOT NULL OR applied_at IS NOT NULL) AND COALESCE(cancelled_at, applied_at) < $1::bigint',
  ),
  approvals: purge('approvals', 'enrollment_approvals', 'expires_at <= $1::bigint'),
  // Never a lock: only unlock clears one. Each arm matches one of the two partial indexes.
  failures: purge('failures', 'factor_failures', 'locked_at IS NULL AND (consecutive = 0 OR last_failure_at < $1::bigint)'),
  // Out-of-band rows, each by its index (migration 2). Codes go used or not: expired, a used code proves no more.
  messageCodes: purge('message_codes', 'message_codes', 'expires_at < $1::bigint'),
  pushChallenges: purge('push_challenges', 'push_challenges', 'expires_at < $1::bigint'),
  // A window that has ended counts nothing any more: the next event starts a new one either way.
  rateLimits: purge('rate_limits', 'rate_limits', 'reset_at <= $1::bigint'),
} as const;
