// The Store contract against a real SQLite file, plus what only SQLite has: the file, its pragmas, its
// migrations, several connections (and processes) on one file, the write-behind batches, purging.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../src/store/migrations/sqlite.js';
import { SchemaTooNewError } from '../src/store/sqlite-migrate.js';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.js';
import type { ChallengeRecord } from '../src/store/types.js';
import { describeStoreContract } from './store.contract.js';

const root = mkdtempSync(join(tmpdir(), 'mfa-gate-store-'));
let seq = 0;
const freshPath = (under = root) => join(under, `db-${++seq}`, 'mfa-gate.db');

const contractRoot = join(root, 'contract');
describeStoreContract('sqlite', async () => openSqliteStore({ path: freshPath(contractRoot) }), () =>
  rmSync(contractRoot, { recursive: true, force: true }),
);

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

const challenge = (id: string, expires_at = T0 + 300_000): Omit<ChallengeRecord, 'completed_at'> => ({
  id,
  user_id: 'alice',
  decision: 'require_mfa',
  device_key: 'dev-a',
  location_key: null,
  ip: null,
  enrollment_allowed: false,
  created_at: T0,
  expires_at,
});

/** Opens stores that the suite closes at the end, whatever the test did. */
const opened: SqliteStore[] = [];
const open = (options: SqliteStoreOptions): SqliteStore => {
  const store = openSqliteStore(options);
  opened.push(store);
  return store;
};
afterAll(async () => {
  for (const s of opened) await s.close();
  rmSync(root, { recursive: true, force: true });
});

/** A second, raw connection: sees only what the store has committed. */
const raw = (path: string) => {
  const db = new Database(path, { readonly: true });
  return {
    users: () => db.prepare('SELECT count(*) FROM users').pluck().get() as number,
    close: () => db.close(),
  };
};

describe('SqliteStore: the file and its settings', () => {
  it('creates the parent directories, and sets WAL, synchronous=NORMAL, busy_timeout and foreign keys', async () => {
    const path = join(root, 'deep', 'er', 'x.db');
    const store = open({ path });
    expect(await store.info()).toMatchObject({
      journalMode: 'wal',
      synchronous: 'NORMAL',
      busyTimeoutMs: 5000,
      foreignKeys: true,
      schemaVersion: SQLITE_MIGRATIONS.length,
    });
  });

  it('applies the migrations once and records them', async () => {
    const path = freshPath();
    const first = open({ path });
    expect(first.migrationsApplied).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    await first.close();
    const second = open({ path });
    expect(second.migrationsApplied).toEqual([]);
    await second.close();
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
    db.close();
    expect(rows).toEqual(
      SQLITE_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: expect.any(Number) })),
    );
  });

  it('refuses, at open, a database whose schema is newer than the code', async () => {
    const path = freshPath();
    await open({ path }).close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(999, 'from_the_future', T0);
    db.close();
    expect(() => openSqliteStore({ path })).toThrow(SchemaTooNewError);
    expect(() => openSqliteStore({ path })).toThrow(/schema version 999 is newer than this mfa-gate knows/);
  });

  it('rejects invalid options at construction', () => {
    expect(() => openSqliteStore({ path: freshPath(), challengeRetentionMs: -1 })).toThrow(/challengeRetentionMs/);
    expect(() => openSqliteStore({ path: freshPath(), busyTimeoutMs: 1.5 })).toThrow(/busyTimeoutMs/);
    expect(() => openSqliteStore({ path: freshPath(), maxBatch: 0 })).toThrow(/maxBatch/);
  });

  it('keeps everything across a reopen', async () => {
    const path = freshPath();
    const a = open({ path });
    await a.getUserState('alice', 'd1', T0);
    void a.recordLogin({ user_id: 'alice', device_key: 'd1', location_key: 'FR', ip: '192.0.2.1', time: T0 + 1, mfa: true });
    void a.setEnrolled('alice', T0 + 2);
    void a.createChallenge(challenge('c1'));
    await a.close();
    const b = open({ path });
    expect(await b.getUserState('alice', 'd1', T0 + 10)).toEqual({
      enrolled: true,
      enrolled_at: T0 + 2,
      first_seen: T0,
      known_devices: ['d1'],
      known_locations: ['FR'],
      last_login: { time: T0 + 1, ip: '192.0.2.1' },
      last_mfa: { time: T0 + 1, device: 'd1' },
      failed_attempts: 0,
    });
    expect(await b.getChallenge('c1')).toEqual({ ...challenge('c1'), completed_at: null });
  });
});

describe('SqliteStore: several connections on one file', () => {
  it("two instances see each other's committed writes", async () => {
    const path = freshPath();
    const a = open({ path });
    const b = open({ path });
    await a.recordLogin({ user_id: 'alice', device_key: 'd1', location_key: null, ip: null, time: T0, mfa: false });
    expect((await b.getUserState('alice', 'd1', T0 + 1)).known_devices).toEqual(['d1']);
    await b.createChallenge(challenge('c1'));
    expect(await a.getChallenge('c1')).not.toBeNull();
    // Registration races: both read the one row that won.
    const [x, y] = await Promise.all([a.getUserState('bob', 'd', T0 + 5), b.getUserState('bob', 'd', T0 + 9)]);
    expect(x.first_seen).toBe(T0 + 5);
    expect(y.first_seen).toBe(T0 + 5);
  });

  it('gives a challenge to exactly one of 50 completions spread over two instances', async () => {
    const path = freshPath();
    const a = open({ path });
    const b = open({ path });
    await a.createChallenge(challenge('c1'));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).completeChallenge('c1', T0 + i)),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it('a write blocked past busy_timeout rejects with SQLITE_BUSY; WAL readers are not blocked', async () => {
    const path = freshPath();
    const store = open({ path, busyTimeoutMs: 50 });
    await store.recordLogin({ user_id: 'alice', device_key: 'd1', location_key: null, ip: null, time: T0, mfa: false });
    // A batch with a bad write goes through the write-by-write replay; the next batch must not.
    await expect(
      store.recordLogin({ user_id: 'bob', device_key: 'd1', location_key: null, ip: null, time: 0.5, mfa: false }),
    ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_DATATYPE' });
    const locker = new Database(path);
    locker.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      const burst = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          store.recordLogin({ user_id: `u${i}`, device_key: 'd', location_key: null, ip: null, time: T0, mfa: false }),
        ),
      );
      expect(burst.every((r) => r.status === 'rejected' && r.reason.code === 'SQLITE_BUSY')).toBe(true);
      expect(Date.now() - started).toBeLessThan(20 * 50); // one busy wait for the batch, not one per write
      await expect(
        store.recordLogin({ user_id: 'alice', device_key: 'd2', location_key: null, ip: null, time: T0 + 1, mfa: false }),
      ).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      await expect(store.completeChallenge('c1', T0)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      await expect(store.getUserState('newcomer', 'd1', T0)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      expect((await store.getUserState('alice', 'd1', T0 + 2)).known_devices).toEqual(['d1']);
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
    await store.recordLogin({ user_id: 'alice', device_key: 'd3', location_key: null, ip: null, time: T0 + 3, mfa: false });
    expect((await store.getUserState('alice', 'd1', T0 + 4)).known_devices).toEqual(['d3', 'd1']);
  });
});

describe('SqliteStore: several processes on one file', () => {
  // Each child opens the store at the same instant, then races for every challenge.
  const child = `
    import { openSqliteStore } from ${JSON.stringify(fileURLToPath(new URL('../src/store/sqlite.ts', import.meta.url)))};
    const [path, startAt, count, offset] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)));
    await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
    const store = openSqliteStore({ path });
    const won = [];
    // Each process walks the ids from its own offset, so they collide all along instead of one sweeping all.
    for (let i = 0; i < count; i++) {
      const id = 'c' + ((i + offset) % count);
      if (await store.completeChallenge(id, ${T0} + 1)) won.push(id);
    }
    await store.close();
    process.stdout.write(JSON.stringify({ applied: store.migrationsApplied, won }));
  `;
  const script = join(root, 'race-child.mts');
  const run = (path: string, startAt: number, count: number, offset: number) =>
    new Promise<{ applied: number[]; won: string[] }>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', script, path, String(startAt), String(count), String(offset)], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child ${code}: ${err}`))));
    });
  const PROCESSES = 4;

  it('migrates a fresh file once when several processes open it at once, and one process wins each challenge', async () => {
    writeFileSync(script, child);
    const path = freshPath();
    const opens = await Promise.all(
      Array.from({ length: PROCESSES }, () => run(path, Date.now() + 1500, 0, 0)),
    );
    const applied = opens.map((o) => o.applied);
    expect(applied.filter((a) => a.length > 0)).toEqual([SQLITE_MIGRATIONS.map((m) => m.version)]);

    const COUNT = 4000;
    const ids = Array.from({ length: COUNT }, (_, i) => `c${i}`);
    const setup = open({ path });
    await Promise.all(ids.map((id) => setup.createChallenge(challenge(id))));
    const races = await Promise.all(
      Array.from({ length: PROCESSES }, (_, p) => run(path, Date.now() + 1500, COUNT, (p * COUNT) / PROCESSES)),
    );
    const won = races.flatMap((r) => r.won).sort();
    expect(won).toEqual([...ids].sort());
  }, 30_000);
});

describe('SqliteStore: write-behind', () => {
  const login = (user_id: string, time = T0) =>
    ({ user_id, device_key: 'd1', location_key: null, ip: null, time, mfa: false }) as const;

  it('commits queued writes on the next turn of the event loop, or at once when the batch is full', async () => {
    const path = freshPath();
    const store = open({ path, maxBatch: 10 });
    const peek = raw(path);
    try {
      const first = Array.from({ length: 9 }, (_, i) => store.recordLogin(login(`u${i}`)));
      expect(peek.users()).toBe(0);
      expect((await store.info()).queued).toBe(9);
      await Promise.all(first);
      expect(peek.users()).toBe(9);
      const second = Array.from({ length: 10 }, (_, i) => store.recordLogin(login(`v${i}`)));
      expect(peek.users()).toBe(19); // the tenth write filled the batch: committed synchronously
      await Promise.all(second);
    } finally {
      peek.close();
    }
  });

  it("a read commits the queue only when it holds a write the read depends on", async () => {
    const path = freshPath();
    const store = open({ path });
    const peek = raw(path);
    try {
      const pending = store.recordLogin(login('alice'));
      await store.getUserState('bob', 'd1', T0); // bob's registration is direct; alice's login still queued
      expect(peek.users()).toBe(1);
      expect((await store.getUserState('alice', 'd1', T0)).known_devices).toEqual(['d1']);
      expect(peek.users()).toBe(2);
      await pending;
    } finally {
      peek.close();
    }
  });

  it('a wrongly typed write fails alone (STRICT tables), its batch neighbours commit', async () => {
    const store = open({ path: freshPath() });
    const results = await Promise.allSettled([
      store.recordLogin(login('alice', T0)),
      store.recordLogin(login('bob', 1.5)),
      store.recordLogin(login('carol', T0)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_CONSTRAINT_DATATYPE' });
    expect((await store.getUserState('carol', 'd1', T0)).known_devices).toEqual(['d1']);
    expect((await store.getUserState('bob', 'd1', T0)).known_devices).toEqual([]);
  });
});

describe('SqliteStore: purgeExpired', () => {
  it('deletes challenges expired longer ago than the retention (24 h by default), and only those', async () => {
    const store = open({ path: freshPath() });
    const now = T0 + 100 * HOUR;
    await store.createChallenge(challenge('old', now - 25 * HOUR));
    await store.createChallenge(challenge('recent', now - 23 * HOUR));
    await store.createChallenge(challenge('open', now + HOUR));
    expect(await store.purgeExpired(now)).toBe(1);
    expect(await store.getChallenge('old')).toBeNull();
    expect(await store.getChallenge('recent')).not.toBeNull();
    expect(await store.getChallenge('open')).not.toBeNull();
  });

  it('honours challengeRetentionMs and deletes a backlog larger than one chunk', async () => {
    const store = open({ path: freshPath(), challengeRetentionMs: HOUR });
    const now = T0 + 100 * HOUR;
    await Promise.all(
      Array.from({ length: 12_001 }, (_, i) => store.createChallenge(challenge(`c${i}`, now - 2 * HOUR))),
    );
    await store.createChallenge(challenge('keep', now - HOUR / 2));
    expect(await store.purgeExpired(now)).toBe(12_001);
    expect(await store.getChallenge('keep')).not.toBeNull();
    await store.close();
    await expect(store.purgeExpired(now)).rejects.toThrow(/closed/);
  });
});
