// PostgreSQL migrations, applied in order by src/store/postgres-migrate.ts at open, in the schema the store
// was opened on (the connection's search_path: nothing here names a schema).
// Add changes as NEW entries at the end; never edit one that has shipped. Version 1 is the SQLite schema as
// it stands after its migrations, folded into one clean step (PostgreSQL has no history to replay), plus the
// indexes purgeExpired needs. Times are BIGINT epoch ms (read back as JS numbers: the pool parses INT8 with
// Number), flags real BOOLEANs.
//
// Text keys are COLLATE "C": they are opaque identifiers, so byte order (= code point order in UTF-8, as
// SQLite's BINARY) is the right order and the cheapest comparison; ties in "most recently seen first" then
// break the same way in both drivers, and unlock's prefix range on factor_failures.subject (bounded by
// prefixUpperBound, which counts in code points) is exact, whatever the database's default collation.
import type { Migration } from './types.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial_schema',
    sql: `
      CREATE TABLE users (
        id                  TEXT COLLATE "C" PRIMARY KEY,
        first_seen          BIGINT NOT NULL,  -- grace period start when the caller gives no mfa_required_since
        enrolled_at         BIGINT,           -- NULL: not enrolled
        last_login_time     BIGINT,
        last_login_ip       TEXT,
        enrollment_deadline BIGINT            -- when set, enrollment is required from then (set by a recovery)
      );

      -- The primary key leads with user_id: one user's devices are one index range (and it serves the
      -- cascade from users).
      CREATE TABLE known_devices (
        user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device_key  TEXT COLLATE "C" NOT NULL,
        first_seen  BIGINT NOT NULL,
        last_seen   BIGINT NOT NULL,
        last_mfa_at BIGINT,                   -- last completed MFA on this device; NULL: never
        PRIMARY KEY (user_id, device_key)
      );
      -- purgeExpired deletes by age across all users; without this it would scan the table.
      CREATE INDEX known_devices_by_last_seen ON known_devices (last_seen);

      CREATE TABLE known_locations (
        user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        location_key TEXT COLLATE "C" NOT NULL,  -- the finest key (CC/REGION/City)
        first_seen   BIGINT NOT NULL,
        last_seen    BIGINT NOT NULL,
        PRIMARY KEY (user_id, location_key)
      );
      CREATE INDEX known_locations_by_last_seen ON known_locations (last_seen);

      -- No foreign key to users: a challenge is a short-lived record written on the hot path, and must not
      -- fail (or force a users write first) because the decision's login has not landed yet.
      CREATE TABLE challenges (
        id                 TEXT COLLATE "C" PRIMARY KEY,
        user_id            TEXT COLLATE "C" NOT NULL,
        decision           TEXT NOT NULL,
        device_key         TEXT NOT NULL,
        location_key       TEXT,
        ip                 TEXT,
        enrollment_allowed BOOLEAN NOT NULL,
        created_at         BIGINT NOT NULL,
        expires_at         BIGINT NOT NULL,
        completed_at       BIGINT              -- NULL: open; set once, atomically, by completeChallenge
      );
      CREATE INDEX challenges_by_expiry ON challenges (expires_at);

      -- Only totp_factors references users: activateTotp creates the users row in its transaction. The other
      -- per-user factor tables are keyed by user id without a foreign key (as in SQLite), so a pending
      -- enrollment, backup codes, a recovery or an approval for a user never seen by a decision is not refused.
      CREATE TABLE totp_factors (
        user_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        secret       TEXT NOT NULL,           -- ciphertext from factors/crypto, never the plaintext
        created_at   BIGINT NOT NULL,         -- when the (then pending) secret was generated
        confirmed_at BIGINT NOT NULL,
        last_step    BIGINT                   -- last accepted RFC 6238 step; a code at or below it is a replay
      );

      CREATE TABLE totp_pending (
        user_id    TEXT COLLATE "C" PRIMARY KEY,
        secret     TEXT NOT NULL,             -- ciphertext
        created_at BIGINT NOT NULL
      );

      CREATE TABLE backup_codes (
        user_id    TEXT COLLATE "C" NOT NULL,
        code_hash  TEXT COLLATE "C" NOT NULL,  -- keyed hash (HMAC) of the code, never the code
        created_at BIGINT NOT NULL,
        used_at    BIGINT,                     -- NULL: unused; set once, atomically, by consumeBackupCode
        PRIMARY KEY (user_id, code_hash)
      );

      -- Throttling subjects: user:<id>:totp, user:<id>:backup_code, ip:<ip> (src/store/subjects.ts).
      CREATE TABLE factor_failures (
        subject         TEXT COLLATE "C" PRIMARY KEY,
        consecutive     INTEGER NOT NULL CHECK (consecutive >= 0),
        last_failure_at BIGINT,
        locked_at       BIGINT                 -- set when consecutive reached the lock threshold; only unlock clears it
      );
      -- purgeExpired's two kinds of unlocked counters, each a partial index holding only candidates (a lock is
      -- never purged): stale streaks by age, and counters a success set back to zero.
      CREATE INDEX factor_failures_unlocked_by_last_failure ON factor_failures (last_failure_at)
        WHERE locked_at IS NULL;
      CREATE INDEX factor_failures_unlocked_reset ON factor_failures (subject)
        WHERE consecutive = 0 AND locked_at IS NULL;

      CREATE TABLE recovery_requests (
        id           TEXT COLLATE "C" PRIMARY KEY,
        user_id      TEXT COLLATE "C" NOT NULL,
        verified_by  TEXT NOT NULL,
        verification TEXT NOT NULL,
        opened_at    BIGINT NOT NULL,
        effective_at BIGINT NOT NULL,
        cancelled_at BIGINT,
        applied_at   BIGINT
      );
      -- A user's open requests by due time: getUserState's recovery_due_at (min) and applyDueRecoveries.
      -- Partial, so it holds only the few open requests; queries repeat its WHERE to use it.
      CREATE INDEX recovery_requests_open_by_user ON recovery_requests (user_id, effective_at)
        WHERE cancelled_at IS NULL AND applied_at IS NULL;
      -- purgeExpired: closed requests by the time they closed (a request is cancelled or applied, never both).
      CREATE INDEX recovery_requests_closed ON recovery_requests ((COALESCE(cancelled_at, applied_at)))
        WHERE cancelled_at IS NOT NULL OR applied_at IS NOT NULL;

      CREATE TABLE enrollment_approvals (
        user_id     TEXT COLLATE "C" PRIMARY KEY,
        approved_by TEXT NOT NULL,
        approved_at BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL
      );
      CREATE INDEX enrollment_approvals_by_expiry ON enrollment_approvals (expires_at);
    `,
  },
  {
    version: 2,
    name: 'out_of_band_factors',
    // Issue #7: one-time codes by message and push approval; the same tables as SQLite's migration 4. Keyed
    // by user id without a foreign key to users, like the other factor tables.
    sql: `
      -- The confirmed destination and the pending one live apart (as totp_factors and totp_pending): a
      -- confirmed destination keeps working while a new one waits for confirmation, and confirming is "take
      -- the pending row, write the confirmed one", which the taking decides.
      CREATE TABLE message_destinations (
        user_id      TEXT COLLATE "C" PRIMARY KEY,
        channel      TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'chat')),
        address      TEXT NOT NULL,           -- ciphertext from factors/crypto (a phone number is personal data)
        created_at   BIGINT NOT NULL,         -- when the (then pending) destination was given
        confirmed_at BIGINT NOT NULL
      );

      CREATE TABLE message_destinations_pending (
        user_id    TEXT COLLATE "C" PRIMARY KEY,
        channel    TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'chat')),
        address    TEXT NOT NULL,             -- ciphertext
        created_at BIGINT NOT NULL
      );

      -- No uniqueness on (user_id, code_hash): two short codes sent to one user may well be equal.
      CREATE TABLE message_codes (
        id           TEXT COLLATE "C" PRIMARY KEY,
        user_id      TEXT COLLATE "C" NOT NULL,
        purpose      TEXT NOT NULL CHECK (purpose IN ('verify', 'enroll')),
        challenge_id TEXT COLLATE "C",        -- the challenge it was sent for (NULL: none); it works only with that
        code_hash    TEXT COLLATE "C" NOT NULL,  -- keyed hash (HMAC) of the code, never the code
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        used_at      BIGINT                   -- NULL: unused; set once, atomically, by consumeMessageCode
      );
      -- consumeMessageCode looks a user's code up by hash; removing a user's unused codes uses its prefix.
      CREATE INDEX message_codes_by_user_hash ON message_codes (user_id, code_hash);
      CREATE INDEX message_codes_by_expiry ON message_codes (expires_at);

      -- Fixed windows (hitRateLimit): subjects such as sends per user or unanswered pushes.
      CREATE TABLE rate_limits (
        subject      TEXT COLLATE "C" PRIMARY KEY,
        window_start BIGINT NOT NULL,         -- the window's first event
        count        INTEGER NOT NULL CHECK (count >= 1),
        reset_at     BIGINT NOT NULL          -- window_start + the window's length: purgeExpired drops ended windows
      );
      CREATE INDEX rate_limits_by_reset ON rate_limits (reset_at);

      CREATE TABLE push_devices (
        user_id    TEXT COLLATE "C" NOT NULL,
        device_id  TEXT COLLATE "C" NOT NULL,
        public_key TEXT NOT NULL,             -- SPKI DER in base64; not a secret
        name       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, device_id)
      );

      CREATE TABLE push_challenges (
        id           TEXT COLLATE "C" PRIMARY KEY,
        user_id      TEXT COLLATE "C" NOT NULL,
        device_id    TEXT COLLATE "C" NOT NULL,
        challenge_id TEXT COLLATE "C",        -- the challenge an approval completes (NULL: none)
        number       INTEGER NOT NULL CHECK (number BETWEEN 10 AND 99),  -- number matching: two digits
        status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        responded_at BIGINT,                  -- NULL: unanswered; set once, atomically, by respondPushChallenge
        -- Answered exactly when it has an answer time.
        CHECK ((status = 'pending') = (responded_at IS NULL))
      );
      CREATE INDEX push_challenges_by_expiry ON push_challenges (expires_at);
    `,
  },
  {
    version: 3,
    name: 'challenge_device_label',
    // As SQLite's migration 5: the browser a login from a new device is notified with (issue #7).
    sql: `ALTER TABLE challenges ADD COLUMN device_label TEXT;`,
  },
];
