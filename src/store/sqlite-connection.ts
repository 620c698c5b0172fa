// Opening the SQLite file: the connection settings every SqliteStore relies on.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Opens `path` (creating its directory), or `:memory:`, with busy_timeout, WAL, synchronous=NORMAL and
 * foreign keys on. Closes the connection and throws when one of them cannot be set.
 */
export function openConnection(path: string, busyTimeoutMs: number): Database.Database {
  const memory = path === ':memory:';
  if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new Database(path);
  try {
    // busy_timeout first: switching a fresh file to WAL and migrating may wait for another process.
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const mode = enableWal(db, busyTimeoutMs);
    if (mode !== 'wal' && !memory) throw new Error(`${path}: could not enable WAL (journal_mode is ${String(mode)})`);
    // NORMAL, not FULL: in WAL mode a process crash still loses nothing committed (only a power loss can
    // drop the last commits), and FULL capped autocommit writes at ~5.5k/s vs ~60k/s (DESIGN "Storage").
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * `PRAGMA journal_mode = WAL`, retried on SQLITE_BUSY until `busyTimeoutMs` has passed. On a file still in
 * rollback mode the switch writes the header: SQLite reads it under a shared lock, then upgrades, and that
 * upgrade fails at once, without the busy handler (sqlite3BtreeSetVersion: a read transaction is never
 * retried into a write one, to avoid deadlock). So when several processes open a fresh file together, one
 * of them could fail with "database is locked" while another was creating it: the multi-process test's
 * rare failure. Blocking sleeps: the constructor is synchronous, as SQLite's own busy waits are.
 */
function enableWal(db: Database.Database, busyTimeoutMs: number): unknown {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 25)) {
    try {
      return db.pragma('journal_mode = WAL', { simple: true });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const left = deadline - Date.now();
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || left <= 0) throw error;
      Atomics.wait(SLEEPER, 0, 0, Math.min(pauseMs, left));
    }
  }
}
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
