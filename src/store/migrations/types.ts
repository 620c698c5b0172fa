// A schema migration, shared by the drivers: each driver keeps its own ordered list in its own dialect.
// Versions only ever grow; a released migration is never edited (add a new one instead), because a
// database records the versions it applied, not their text.

export interface Migration {
  /** Strictly increasing, starting at 1. */
  version: number;
  /** Short snake_case label, recorded beside the version so an operator can read schema_migrations. */
  name: string;
  /** One or more statements, run together inside the migrating transaction. */
  sql: string;
}

/** Throws when versions are not 1, 2, 3, ... or a name or body is empty: a bad list must fail at start. */
export function checkMigrations(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration #${i} has version ${m.version}, expected ${i + 1} (versions must be 1, 2, 3, ...)`);
    }
    if (!/^[a-z0-9_]+$/.test(m.name)) throw new Error(`migration ${m.version} has an invalid name "${m.name}"`);
    if (m.sql.trim() === '') throw new Error(`migration ${m.version} (${m.name}) is empty`);
  });
}
