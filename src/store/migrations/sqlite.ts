// SQLite migrations, applied in order by src/store/sqlite-migrate.ts at open.
// Add changes as NEW entries at the end; never edit one that has shipped. Tables are STRICT so a wrongly
// typed value (a string time, a boolean) fails loudly instead of being stored as whatever SQLite's type
// affinity makes of it. Times are INTEGER epoch ms.
import type { Migration } from './types.js';

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'users_devices_locations_challenges',
    sql: `
      CREATE TABLE users (
        id              TEXT PRIMARY KEY,
        first_seen      INTEGER NOT NULL,  -- grace period start when the caller gives no mfa_required_since
        enrolled_at     INTEGER,           -- NULL: not enrolled
        last_login_time INTEGER,
        last_login_ip   TEXT,
        failed_attempts INTEGER NOT NULL DEFAULT 0
      ) STRICT;

      -- WITHOUT ROWID: rows are clustered by (user_id, key), so one user's devices are read in one range.
      CREATE TABLE known_devices (
        user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device_key  TEXT NOT NULL,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        last_mfa_at INTEGER,               -- last completed MFA on this device; NULL: never
        PRIMARY KEY (user_id, device_key)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE known_locations (
        user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        location_key TEXT NOT NULL,        -- the finest key (CC/REGION/City), see SignalFacts.location_key_full
        first_seen   INTEGER NOT NULL,
        last_seen    INTEGER NOT NULL,
        PRIMARY KEY (user_id, location_key)
      ) STRICT, WITHOUT ROWID;

      -- No foreign key to users: a challenge is a short-lived record written on the hot path, and must not
      -- fail (or force a users write first) because of ordering inside a write-behind batch.
      CREATE TABLE challenges (
        id                 TEXT PRIMARY KEY,
        user_id            TEXT NOT NULL,
        decision           TEXT NOT NULL,
        device_key         TEXT NOT NULL,
        location_key       TEXT,
        ip                 TEXT,
        enrollment_allowed INTEGER NOT NULL CHECK (enrollment_allowed IN (0, 1)),
        created_at         INTEGER NOT NULL,
        expires_at         INTEGER NOT NULL,
        completed_at       INTEGER          -- NULL: open; set once, atomically, by completeChallenge
      ) STRICT;

      -- purgeExpired deletes by expiry; without this it would scan the whole table.
      CREATE INDEX challenges_by_expiry ON challenges (expires_at);
    `,
  },
  {
    version: 2,
    name: 'factors_throttling_recovery_approvals',
    // Only totp_factors references users: activateTotp creates the users row in its transaction. The other
    // per-user tables are keyed by user id without a foreign key (like challenges), so a pending enrollment,
    // backup codes, a recovery request or an approval for a user never seen by a decision is not refused by
    // the schema. Anything that ever deletes a users row must delete from them too.
    sql: `
      -- When set, enrollment is required from this time whatever the grace period (set when a recovery applies).
      ALTER TABLE users ADD COLUMN enrollment_deadline INTEGER;
      -- Never written: failed attempts now live in factor_failures (per subject). A column that always reads 0
      -- beside the real counters would invite a "no failures" misreading, so it goes.
      ALTER TABLE users DROP COLUMN failed_attempts;

      CREATE TABLE totp_factors (
        user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        secret       TEXT NOT NULL,      -- ciphertext from factors/crypto, never the plaintext
        created_at   INTEGER NOT NULL,   -- when the (then pending) secret was generated
        confirmed_at INTEGER NOT NULL,
        last_step    INTEGER             -- last accepted RFC 6238 step; a code at or below it is a replay
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE totp_pending (
        user_id    TEXT PRIMARY KEY,
        secret     TEXT NOT NULL,        -- ciphertext
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE backup_codes (
        user_id    TEXT NOT NULL,
        code_hash  TEXT NOT NULL,        -- keyed hash (HMAC) of the code, never the code
        created_at INTEGER NOT NULL,
        used_at    INTEGER,              -- NULL: unused; set once, atomically, by consumeBackupCode
        PRIMARY KEY (user_id, code_hash)
      ) STRICT, WITHOUT ROWID;

      -- Throttling subjects: user:<id>:totp, user:<id>:backup_code, ip:<ip> (src/store/subjects.ts).
      CREATE TABLE factor_failures (
        subject         TEXT PRIMARY KEY,
        consecutive     INTEGER NOT NULL,
        last_failure_at INTEGER,
        locked_at       INTEGER          -- set when consecutive reached the lock threshold; only unlock clears it
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE recovery_requests (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL,
        verified_by  TEXT NOT NULL,
        verification TEXT NOT NULL,
        opened_at    INTEGER NOT NULL,
        effective_at INTEGER NOT NULL,
        cancelled_at INTEGER,
        applied_at   INTEGER
      ) STRICT;

      -- A user's open requests by due time: getUserState's recovery_due_at (MIN) and applyDueRecoveries.
      -- Partial, so it holds only the few open requests; queries must repeat its WHERE to use it.
      CREATE INDEX recovery_requests_open_by_user ON recovery_requests (user_id, effective_at)
        WHERE cancelled_at IS NULL AND applied_at IS NULL;

      CREATE TABLE enrollment_approvals (
        user_id     TEXT PRIMARY KEY,
        approved_by TEXT NOT NULL,
        approved_at INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'retention_indexes',
    // purgeExpired (src/store/retention.ts) deletes known devices and locations by age: the two tables that
    // grow with every user, which it would otherwise scan while holding the write lock. Each index costs one
    // update per learning write, and those are batched. The other purged tables stay small (purging keeps
    // them so: failure counters of recent failures, closed recoveries, approvals), so a scan is fine there.
    sql: `
      CREATE INDEX known_devices_by_last_seen ON known_devices (last_seen);
      CREATE INDEX known_locations_by_last_seen ON known_locations (last_seen);
    `,
  },
  {
    version: 4,
    name: 'out_of_band_factors',
    // Issue #7: one-time codes by message and push approval. Like the other factor tables, keyed by user id
    // without a foreign key to users (a factor for a user never seen by a decision is not refused); anything
    // that deletes a users row must delete from these too.
    sql: `
      -- The confirmed destination and the pending one live apart (as totp_factors and totp_pending): a
      -- confirmed destination keeps working while a new one waits for confirmation, and confirming is "take
      -- the pending row, write the confirmed one", which the taking decides.
      CREATE TABLE message_destinations (
        user_id      TEXT PRIMARY KEY,
        channel      TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'chat')),
        address      TEXT NOT NULL,      -- ciphertext from factors/crypto (a phone number is personal data)
        created_at   INTEGER NOT NULL,   -- when the (then pending) destination was given
        confirmed_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE message_destinations_pending (
        user_id    TEXT PRIMARY KEY,
        channel    TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'chat')),
        address    TEXT NOT NULL,        -- ciphertext
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- No uniqueness on (user_id, code_hash): two short codes sent to one user may well be equal.
      CREATE TABLE message_codes (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL,
        purpose      TEXT NOT NULL CHECK (purpose IN ('verify', 'enroll')),
        challenge_id TEXT,               -- the challenge it was sent for (NULL: none); it works only with that
        code_hash    TEXT NOT NULL,      -- keyed hash (HMAC) of the code, never the code
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        used_at      INTEGER             -- NULL: unused; set once, atomically, by consumeMessageCode
      ) STRICT;
      -- consumeMessageCode looks a user's code up by hash; removing a user's unused codes uses its prefix.
      CREATE INDEX message_codes_by_user_hash ON message_codes (user_id, code_hash);
      -- purgeExpired deletes by expiry.
      CREATE INDEX message_codes_by_expiry ON message_codes (expires_at);

      -- Fixed windows (hitRateLimit): subjects such as sends per user or unanswered pushes.
      CREATE TABLE rate_limits (
        subject      TEXT PRIMARY KEY,
        window_start INTEGER NOT NULL,   -- the window's first event
        count        INTEGER NOT NULL CHECK (count >= 1),
        reset_at     INTEGER NOT NULL    -- window_start + the window's length: purgeExpired drops ended windows
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX rate_limits_by_reset ON rate_limits (reset_at);

      CREATE TABLE push_devices (
        user_id    TEXT NOT NULL,
        device_id  TEXT NOT NULL,
        public_key TEXT NOT NULL,        -- SPKI DER in base64; not a secret
        name       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, device_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE push_challenges (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL,
        device_id    TEXT NOT NULL,
        challenge_id TEXT,               -- the challenge an approval completes (NULL: none)
        number       INTEGER NOT NULL CHECK (number BETWEEN 10 AND 99),  -- number matching: two digits
        status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        responded_at INTEGER,            -- NULL: unanswered; set once, atomically, by respondPushChallenge
        -- Answered exactly when it has an answer time: a NULL time (NaN bound as NULL) cannot pass as an answer.
        CHECK ((status = 'pending') = (responded_at IS NULL))
      ) STRICT;
      CREATE INDEX push_challenges_by_expiry ON push_challenges (expires_at);
    `,
  },
  {
    version: 5,
    name: 'challenge_device_label',
    // The security notification of a login from a new device says which browser (issue #7: "time, browser,
    // place"); the challenge is where the decision's view of the device survives until the login completes.
    sql: `ALTER TABLE challenges ADD COLUMN device_label TEXT;`,
  },
];
