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
    expect(migrateSqlite(db, { now: 42 })).toEqual({ version: 1, applied: [1] });
    expect(tables(db)).toEqual(['challenges', 'known_devices', 'known_locations', 'schema_migrations', 'users']);
    expect(db.prepare('SELECT * FROM schema_migrations').all()).toEqual([
      { version: 1, name: SQLITE_MIGRATIONS[0]!.name, applied_at: 42 },
    ]);
    expect(migrateSqlite(db)).toEqual({ version: 1, applied: [] });
  });

  it('applies only the missing versions when the code gains a migration', () => {
    const db = new Database(':memory:');
    migrateSqlite(db);
    const next: Migration = { version: 2, name: 'totp', sql: 'CREATE TABLE totp (user_id TEXT PRIMARY KEY) STRICT' };
    expect(migrateSqlite(db, { migrations: [...SQLITE_MIGRATIONS, next] })).toEqual({ version: 2, applied: [2] });
    expect(tables(db)).toContain('totp');
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
    expect(attempt).toThrow('x.db: database schema version 7 is newer than this mfa-gate knows (1)');
  });
});
