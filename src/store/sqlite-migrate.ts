// Applies the SQLite migrations at open. Everything happens inside one BEGIN IMMEDIATE transaction: it
// takes the write lock before reading schema_migrations, so when two processes open a fresh file at once
// the second waits (busy_timeout), then finds the versions already recorded and applies nothing.
import type Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from './migrations/sqlite.js';
import { checkMigrations, type Migration } from './migrations/types.js';

/** The database was migrated by a newer mfa-gate: running old code against it could corrupt data. */
export class SchemaTooNewError extends Error {
  readonly databaseVersion: number;
  readonly knownVersion: number;

  constructor(where: string, databaseVersion: number, knownVersion: number) {
    super(
      `${where}: database schema version ${databaseVersion} is newer than this mfa-gate knows (${knownVersion}); ` +
        'upgrade mfa-gate, or point it at another database',
    );
    this.name = 'SchemaTooNewError';
    this.databaseVersion = databaseVersion;
    this.knownVersion = knownVersion;
  }
}

export interface MigrationResult {
  /** The schema version after migrating. */
  version: number;
  /** Versions applied by this call (empty when the database was up to date). */
  applied: number[];
}

/**
 * Brings `db` to the latest version of `migrations`, or throws (changing nothing) when a migration fails or
 * the database is newer than the list. `where` names the database in errors.
 */
export function migrateSqlite(
  db: Database.Database,
  { where = db.name, migrations = SQLITE_MIGRATIONS, now = Date.now() }: {
    where?: string;
    migrations?: readonly Migration[];
    now?: number;
  } = {},
): MigrationResult {
  checkMigrations(migrations);
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const run = db.transaction((): MigrationResult => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT`);
    const done = new Set(
      db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all(),
    );
    const newest = Math.max(0, ...done);
    if (newest > known) throw new SchemaTooNewError(where, newest, known);
    const record = db.prepare<[number, string, number]>(
      'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
    );
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      try {
        db.exec(m.sql);
      } catch (error) {
        throw new Error(`${where}: migration ${m.version} (${m.name}) failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      record.run(m.version, m.name, now);
      applied.push(m.version);
    }
    return { version: known, applied };
  });
  return run.immediate();
}
