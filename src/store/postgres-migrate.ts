// Applies the PostgreSQL migrations at open. Everything happens in one transaction that first takes a
// transaction-scoped advisory lock keyed by the schema name, so when several instances start at once on a
// fresh schema one migrates and the others wait, then find every version recorded and apply nothing. DDL is
// transactional in PostgreSQL: a failing migration leaves the schema as it was.
import type pg from 'pg';
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js';
import { checkMigrations, type Migration } from './migrations/types.js';
import { migrationLockKey } from './postgres-connection.js';
import { SchemaTooNewError, type MigrationResult } from './sqlite-migrate.js';

export interface MigratePostgresOptions {
  /** The schema to create if missing and migrate (already validated: it is interpolated). */
  schema: string;
  /** Names the database in errors (no credentials). */
  where: string;
  migrations?: readonly Migration[];
  now?: number;
}

/**
 * Brings `schema` to the latest version of `migrations` on `client` (a connection whose search_path is the
 * schema), or throws, changing nothing, when a migration fails or the schema is newer than the list.
 */
export async function migratePostgres(
  client: pg.ClientBase,
  { schema, where, migrations = POSTGRES_MIGRATIONS, now = Date.now() }: MigratePostgresOptions,
): Promise<MigrationResult> {
  checkMigrations(migrations);
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  await client.query('BEGIN');
  try {
    // Before anything else: concurrent CREATE SCHEMA / CREATE TABLE IF NOT EXISTS can still fail with a
    // unique violation on the catalogs, so the creation itself is serialised too.
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(schema)]);
    // Created only when missing, rather than CREATE ... IF NOT EXISTS every time: IF NOT EXISTS checks the
    // CREATE privilege first, so a runtime role limited to using an existing schema could never open it.
    const { rows } = await client.query<{ has_schema: boolean; has_table: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS has_schema,
              to_regclass($2) IS NOT NULL AS has_table`,
      [schema, `"${schema}".schema_migrations`],
    );
    const { has_schema, has_table } = rows[0]!;
    if (!has_schema) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    // The connection's search_path named the schema before it existed; setting it again in this
    // transaction makes the unqualified names below resolve to it whatever the server cached.
    await client.query(`SET LOCAL search_path TO "${schema}"`);
    if (!has_table) {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at BIGINT NOT NULL
      )`);
    }
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
    );
    const newest = Math.max(0, ...done);
    if (newest > known) throw new SchemaTooNewError(where, newest, known);
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      try {
        // No parameters: the simple protocol runs a multi-statement body in one round trip.
        await client.query(m.sql);
      } catch (error) {
        throw new Error(`${where}: migration ${m.version} (${m.name}) failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        now,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return { version: known, applied };
  } catch (error) {
    // Best effort: on a dead connection the server rolls back by itself (the caller discards the client).
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
