import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from './migrations/sqlite.js';
import { checkMigrations, type Migration } from './migrations/types.js';
import { SchemaTooNewError, migrateSqlite } from './sqlite-migrate.js';

const tables = (db: Database.Database) =>
  db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();

describe('SQLite migrations', () => {
  it('the shipped list is well formed', () => {
    expect(() => checkMigrations(SQLITE_MIGRATIONS)).not.toThrow();
  });

  it('checkMigrations refuses gaps, reordering, bad names and empty bodies', () => {
    const ok: Migration = { version: 1, name: 'a', sql: 'SELECT 1' };
    expect(() => checkMigrations([ok, { ...ok, version: 3 }])).toThrow(/expected 2/);
    expect(() => checkMigrations([{ ...ok, version: 2 }])).toThrow(/expected 1/);
    expect(() => checkMigrations([{ ...ok, name: 'Bad Name' }])).toThrow(/invalid name/);
    expect(() => checkMigrations([{ ...ok, sql: '  ' }])).toThrow(/empty/);
  });

  it('creates the schema and records each version', () => {
    const db = new Database(':memory:');
    const versions = SQLITE_MIGRATIONS.map((m) => m.version);
    const latest = versions.length;
    expect(migrateSqlite(db, { now: 42 })).toEqual({ version: latest, applied: versions });
    expect(tables(db)).toEqual([
      'backup_codes',
      'challenges',
      'enrollment_approvals',
      'factor_failures',
      'known_devices',
      'known_locations',
      'message_codes',
      'message_destinations',
      'message_destinations_pending',
      'push_challenges',
      'push_devices',
      'rate_limits',
      'recovery_requests',
      'schema_migrations',
      'totp_factors',
      'totp_pending',
      'users',
    ]);
    expect(db.prepare('SELECT * FROM schema_migrations').all()).toEqual(
      SQLITE_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: 42 })),
    );
    expect(migrateSqlite(db)).toEqual({ version: latest, applied: [] });
  });

  it('applies only the missing versions when the code gains a migration', () => {
    const db = new Database(':memory:');
    migrateSqlite(db);
    const version = SQLITE_MIGRATIONS.length + 1;
    const next: Migration = { version, name: 'later', sql: 'CREATE TABLE later (id TEXT PRIMARY KEY) STRICT' };
    expect(migrateSqlite(db, { migrations: [...SQLITE_MIGRATIONS, next] })).toEqual({ version, applied: [version] });
    expect(tables(db)).toContain('later');
  });

  it('migration 2 keeps the users of a version 1 database, adds enrollment_deadline, drops failed_attempts', () => {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    migrateSqlite(db, { migrations: SQLITE_MIGRATIONS.slice(0, 1) });
    db.prepare(`INSERT INTO users (id, first_seen, enrolled_at, last_login_time, last_login_ip, failed_attempts)
                VALUES ('alice', 1, 2, 3, '192.0.2.1', 0)`).run();
    db.prepare(`INSERT INTO known_devices VALUES ('alice', 'd1', 1, 3, 3)`).run();
    expect(migrateSqlite(db, { migrations: SQLITE_MIGRATIONS.slice(0, 2) })).toEqual({ version: 2, applied: [2] });
    expect(db.prepare('SELECT * FROM users').all()).toEqual([
      { id: 'alice', first_seen: 1, enrolled_at: 2, last_login_time: 3, last_login_ip: '192.0.2.1', enrollment_deadline: null },
    ]);
    expect(db.prepare('SELECT count(*) FROM known_devices').pluck().get()).toBe(1);
    expect(db.pragma('foreign_key_check')).toEqual([]);
  });

  it('migration 4 adds the out-of-band tables to a version 3 database, keeping its data, with their checks', () => {
    const db = new Database(':memory:');
    migrateSqlite(db, { migrations: SQLITE_MIGRATIONS.slice(0, 3) });
    db.prepare(`INSERT INTO users (id, first_seen) VALUES ('alice', 1)`).run();
    db.prepare(`INSERT INTO backup_codes VALUES ('alice', 'h1', 1, NULL)`).run();
    expect(migrateSqlite(db, { migrations: SQLITE_MIGRATIONS.slice(0, 4) })).toEqual({ version: 4, applied: [4] });
    expect(db.prepare('SELECT count(*) FROM backup_codes').pluck().get()).toBe(1);
    const insertPush = db.prepare(
      `INSERT INTO push_challenges (id, user_id, device_id, challenge_id, number, created_at, expires_at)
       VALUES (?, 'alice', 'd', NULL, ?, 1, 2)`,
    );
    insertPush.run('ok', 10);
    expect(db.prepare(`SELECT status, responded_at FROM push_challenges WHERE id = 'ok'`).get()).toEqual({
      status: 'pending',
      responded_at: null,
    });
    for (const number of [9, 100]) expect(() => insertPush.run(`bad-${number}`, number)).toThrow(/CHECK/);
    // Answered without an answer time, or an answer that is not one: refused.
    expect(() => db.prepare(`UPDATE push_challenges SET status = 'approved' WHERE id = 'ok'`).run()).toThrow(/CHECK/);
    expect(() => db.prepare(`UPDATE push_challenges SET status = 'maybe', responded_at = 3 WHERE id = 'ok'`).run()).toThrow(
      /CHECK/,
    );
    expect(() =>
      db.prepare(`INSERT INTO message_destinations_pending VALUES ('alice', 'pigeon', 'ct', 1)`).run(),
    ).toThrow(/CHECK/);
    expect(() =>
      db.prepare(`INSERT INTO message_codes VALUES ('c', 'alice', 'login', NULL, 'h', 1, 2, NULL)`).run(),
    ).toThrow(/CHECK/);
    // STRICT: a time that is not an integer is refused, not stored.
    expect(() => db.prepare(`INSERT INTO rate_limits VALUES ('s', 1.5, 1, 2)`).run()).toThrow(/cannot store REAL/);
  });

  it('leaves the database untouched when a migration fails', () => {
    const db = new Database(':memory:');
    const broken: Migration[] = [
      { version: 1, name: 'good', sql: 'CREATE TABLE a (x INTEGER)' },
      { version: 2, name: 'bad', sql: 'CREATE TABLE b (x INTEGER); SELECT * FROM nowhere' },
    ];
    expect(() => migrateSqlite(db, { migrations: broken, where: 'test.db' })).toThrow(
      /test\.db: migration 2 \(bad\) failed: no such table: nowhere/,
    );
    expect(tables(db)).toEqual([]);
  });

  it('refuses a database migrated by newer code, changing nothing', () => {
    const db = new Database(':memory:');
    migrateSqlite(db);
    db.prepare('INSERT INTO schema_migrations VALUES (7, ?, 0)').run('future');
    const attempt = () => migrateSqlite(db, { where: 'x.db' });
    expect(attempt).toThrow(SchemaTooNewError);
    expect(attempt).toThrow(
      `x.db: database schema version 7 is newer than this mfa-gate knows (${SQLITE_MIGRATIONS.length})`,
    );
  });
});
