// SQLite migrations, applied in order by src/store/sqlite-migrate.ts at open.
// Add factor tables (TOTP, backup codes, throttling, recovery) as NEW entries at the end; never edit one
// that has shipped. Tables are STRICT so a wrongly typed value (a string time, a boolean) fails loudly
// instead of being stored as whatever SQLite's type affinity makes of it. Times are INTEGER epoch ms.
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
];
