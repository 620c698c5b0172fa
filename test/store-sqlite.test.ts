// The Store contract against a real SQLite file, plus what only SQLite has: the file, its pragmas, its
// migrations, several connections (and processes) on one file, the write-behind batches, purging.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../src/store/migrations/sqlite.js';
import { SchemaTooNewError } from '../src/store/sqlite-migrate.js';
import { USER_STATE_SQL } from '../src/store/sqlite-statements.js';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.js';
import { userSubject } from '../src/store/subjects.js';
import type { ChallengeRecord } from '../src/store/types.js';
import { readDatabaseBytes } from './store-sqlite-helpers.js';
import { describeStoreContract } from './store.contract.js';

const root = mkdtempSync(join(tmpdir(), 'mfa-gate-store-'));
let seq = 0;
const freshPath = (under = root) => join(under, `db-${++seq}`, 'mfa-gate.db');

const contractRoot = join(root, 'contract');
describeStoreContract('sqlite', async (options) => openSqliteStore({ path: freshPath(contractRoot), ...options }), () =>
  rmSync(contractRoot, { recursive: true, force: true }),
);

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;
// The lock threshold of the multi-process failure race: crossed half-way through it.
const FAILURE_LOCK = 600;
// The limit of the multi-process rate-limit race (one window for the whole race): likewise.
const RATE_MAX = 600;

const challenge = (id: string, expires_at = T0 + 300_000): Omit<ChallengeRecord, 'completed_at'> => ({
  id,
  user_id: 'alice',
  decision: 'require_mfa',
  device_key: 'dev-a',
  location_key: null,
  ip: null,
  enrollment_allowed: false,
  device_label: 'Chrome on Windows',
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
    expect(() => openSqliteStore({ path: freshPath(), retention: { challengesMs: -1 } })).toThrow(/challengesMs/);
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
      enrollment_deadline: null,
      recovery_due_at: null,
    });
    expect(await b.getChallenge('c1')).toEqual({ ...challenge('c1'), completed_at: null });
  });

  it('opening waits for a lock held while the file is still in rollback mode (switching to WAL retries)', async () => {
    // Switching to WAL upgrades a read lock to a write lock, which SQLite fails at once, without the busy
    // handler, when another connection holds the write lock: the cause of a rare failure when processes
    // open a fresh file together. Here a worker thread holds that lock, deterministically, while we open.
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const pre = new Database(path);
    pre.exec('CREATE TABLE unrelated (x INTEGER)'); // a rollback-mode file with a header to upgrade
    pre.close();
    const holder = holdWriteLock(path);
    await holder.locked;
    try {
      const store = open({ path, busyTimeoutMs: 10_000 }); // blocks (retrying) until the holder lets go
      expect(await store.info()).toMatchObject({ journalMode: 'wal', schemaVersion: SQLITE_MIGRATIONS.length });
      expect(holder.released()).toBe(true);
    } finally {
      await holder.stop();
    }
  });

  it('opening fails with SQLITE_BUSY once busy_timeout has passed while the lock is held', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const pre = new Database(path);
    pre.exec('CREATE TABLE unrelated (x INTEGER)');
    pre.close();
    const holder = holdWriteLock(path, 60_000);
    await holder.locked;
    try {
      expect(() => openSqliteStore({ path, busyTimeoutMs: 100 })).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
    } finally {
      await holder.stop();
    }
    expect(open({ path }).schemaVersion).toBe(SQLITE_MIGRATIONS.length);
  });

  it("getUserState's query only seeks (no table scan, no temporary b-tree): it is the hot path", () => {
    const path = freshPath();
    open({ path });
    const db = new Database(path, { readonly: true });
    const plan = db
      .prepare<[string, string, number, number, string], { detail: string }>(`EXPLAIN QUERY PLAN ${USER_STATE_SQL}`)
      .all('a', 'b', 0, 0, 'c')
      .map((r) => r.detail);
    db.close();
    expect(plan.filter((d) => /SCAN|TEMP B-TREE/.test(d))).toEqual([]);
    expect(plan.join('\n')).toContain('recovery_requests_open_by_user');
    // The retention filter on last_seen must not lure the planner onto the last_seen index (a range over all
    // users): one user's devices and locations are read by their primary key.
    // (d is known_devices, l known_locations in the query.)
    expect(plan).toContain('SEARCH d USING PRIMARY KEY (user_id=?)');
    expect(plan).toContain('SEARCH l USING PRIMARY KEY (user_id=?)');
    expect(plan.join('\n')).not.toContain('by_last_seen');
  });
});

/** A worker thread that takes the write lock of `path` (BEGIN IMMEDIATE) and holds it for `holdMs`. */
function holdWriteLock(path: string, holdMs = 300) {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const Database = require(workerData.driver);
     const db = new Database(workerData.path);
     db.exec('BEGIN IMMEDIATE');
     parentPort.postMessage('locked');
     Atomics.wait(workerData.wake, 0, 0, workerData.holdMs);
     db.exec('ROLLBACK');
     db.close();
     Atomics.store(workerData.wake, 0, 2);`,
    { eval: true, workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), path, holdMs, wake } },
  );
  const exited = once(worker, 'exit');
  return {
    locked: once(worker, 'message'),
    released: () => Atomics.load(wake, 0) === 2,
    async stop() {
      Atomics.store(wake, 0, 1);
      Atomics.notify(wake, 0);
      await exited;
    },
  };
}

describe('SqliteStore: factor data on disk', () => {
  it('factor writes have committed when their promise resolves (they are never queued)', async () => {
    const path = freshPath();
    const store = open({ path });
    const db = new Database(path, { readonly: true });
    const one = (sql: string, ...params: unknown[]) => db.prepare(sql).get(...params);
    try {
      await store.savePendingTotp({ user_id: 'alice', secret: 'ct', created_at: T0 });
      expect(one('SELECT secret FROM totp_pending WHERE user_id = ?', 'alice')).toEqual({ secret: 'ct' });
      await store.activateTotp('alice', 100, ['h1', 'h2'], T0);
      expect(one('SELECT last_step FROM totp_factors WHERE user_id = ?', 'alice')).toEqual({ last_step: 100 });
      await store.acceptTotpStep('alice', 101);
      expect(one('SELECT last_step FROM totp_factors WHERE user_id = ?', 'alice')).toEqual({ last_step: 101 });
      await store.consumeBackupCode('alice', ['h1'], T0 + 1);
      expect(one('SELECT used_at FROM backup_codes WHERE code_hash = ?', 'h1')).toEqual({ used_at: T0 + 1 });
      await store.recordFailure('ip:192.0.2.1', T0, 100);
      expect(one('SELECT consecutive FROM factor_failures WHERE subject = ?', 'ip:192.0.2.1')).toEqual({ consecutive: 1 });
      await store.openRecovery({ id: 'r1', user_id: 'alice', verified_by: 'a', verification: 'v', opened_at: T0, effective_at: T0 });
      await store.applyDueRecoveries('alice', T0 + 2);
      expect(one('SELECT applied_at FROM recovery_requests WHERE id = ?', 'r1')).toEqual({ applied_at: T0 + 2 });
      expect(one('SELECT enrolled_at, enrollment_deadline FROM users WHERE id = ?', 'alice')).toEqual({
        enrolled_at: null,
        enrollment_deadline: T0 + 2,
      });
      // The out-of-band factors too.
      await store.savePendingMessageDestination({ user_id: 'alice', channel: 'sms', address: 'ct-phone', created_at: T0 });
      await store.confirmMessageDestination('alice', T0 + 3);
      expect(one('SELECT confirmed_at FROM message_destinations WHERE user_id = ?', 'alice')).toEqual({ confirmed_at: T0 + 3 });
      await store.createMessageCode({
        id: 'm1', user_id: 'alice', purpose: 'verify', challenge_id: null, code_hash: 'mh', created_at: T0, expires_at: T0 + HOUR,
      });
      await store.consumeMessageCode('alice', ['mh'], 'verify', null, T0 + 4);
      expect(one('SELECT used_at FROM message_codes WHERE id = ?', 'm1')).toEqual({ used_at: T0 + 4 });
      await store.hitRateLimit('send:alice', T0, HOUR, 3);
      expect(one('SELECT count FROM rate_limits WHERE subject = ?', 'send:alice')).toEqual({ count: 1 });
      await store.savePushDevice({ user_id: 'alice', device_id: 'p1', public_key: 'k', name: 'phone', created_at: T0 });
      expect(one('SELECT name FROM push_devices WHERE device_id = ?', 'p1')).toEqual({ name: 'phone' });
      await store.createPushChallenge({
        id: 'push1', user_id: 'alice', device_id: 'p1', challenge_id: null, number: 42, created_at: T0, expires_at: T0 + HOUR,
      });
      await store.respondPushChallenge('push1', 'approved', T0 + 5);
      expect(one('SELECT status, responded_at FROM push_challenges WHERE id = ?', 'push1')).toEqual({
        status: 'approved',
        responded_at: T0 + 5,
      });
      await store.removeFactors('alice');
      expect(one('SELECT count(*) AS n FROM push_devices WHERE user_id = ?', 'alice')).toEqual({ n: 0 });
      expect((await store.info()).queued).toBe(0);
    } finally {
      db.close();
    }
  });

  it('a used code stays used, and failures, locks and last_step survive closing and reopening', async () => {
    const path = freshPath();
    const a = open({ path });
    await a.savePendingTotp({ user_id: 'alice', secret: 'ct', created_at: T0 });
    await a.activateTotp('alice', 100, ['h1', 'h2'], T0);
    await a.acceptTotpStep('alice', 105);
    await a.consumeBackupCode('alice', ['h1'], T0 + 1);
    for (let i = 0; i < 3; i++) await a.recordFailure(userSubject('alice', 'totp'), T0 + i, 3);
    await a.recordFailure(userSubject('alice', 'backup_code'), T0, 3);
    await a.approveEnrollment({ user_id: 'bob', approved_by: 'x', approved_at: T0, expires_at: T0 + HOUR });
    await a.openRecovery({ id: 'r1', user_id: 'alice', verified_by: 'a', verification: 'v', opened_at: T0, effective_at: T0 + HOUR });
    await a.close();

    const b = open({ path });
    expect(await b.consumeBackupCode('alice', ['h1'], T0 + 2)).toBe(false);
    expect(await b.countBackupCodes('alice')).toBe(1);
    expect((await b.getActiveTotp('alice'))?.last_step).toBe(105);
    expect(await b.acceptTotpStep('alice', 105)).toBe(false);
    expect(await b.getFailures(userSubject('alice', 'totp'))).toEqual({ consecutive: 3, last_failure_at: T0 + 2, locked_at: T0 + 2 });
    expect(await b.getUserState('alice', 'd', T0 + 3)).toMatchObject({ failed_attempts: 4, recovery_due_at: T0 + HOUR });
    expect((await b.getEnrollmentApproval('bob', T0 + 1))?.approved_by).toBe('x');
  });

  it("single use holds across two instances on one file", async () => {
    const path = freshPath();
    const a = open({ path });
    const b = open({ path });
    await a.savePendingTotp({ user_id: 'alice', secret: 'ct', created_at: T0 });
    const activations = await Promise.all([a.activateTotp('alice', 100, ['h1'], T0), b.activateTotp('alice', 100, ['h1'], T0)]);
    expect(activations.filter(Boolean)).toHaveLength(1);
    const pick = (i: number) => (i % 2 === 0 ? a : b);
    const steps = await Promise.all(Array.from({ length: 20 }, (_, i) => pick(i).acceptTotpStep('alice', 101)));
    expect(steps.filter(Boolean)).toHaveLength(1);
    const codes = await Promise.all(Array.from({ length: 20 }, (_, i) => pick(i).consumeBackupCode('alice', ['h1'], T0)));
    expect(codes.filter(Boolean)).toHaveLength(1);
    const counters = await Promise.all(Array.from({ length: 20 }, (_, i) => pick(i).recordFailure('ip:x', T0, 10)));
    expect(counters.map((c) => c.consecutive).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // The out-of-band rules (issue #7).
    await a.savePendingMessageDestination({ user_id: 'alice', channel: 'email', address: 'ct', created_at: T0 });
    const confirms = await Promise.all(Array.from({ length: 20 }, (_, i) => pick(i).confirmMessageDestination('alice', T0 + i)));
    expect(confirms.filter(Boolean)).toHaveLength(1);
    await a.createMessageCode({
      id: 'm1', user_id: 'alice', purpose: 'enroll', challenge_id: 'c1', code_hash: 'mh', created_at: T0, expires_at: T0 + HOUR,
    });
    const consumed = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pick(i).consumeMessageCode('alice', ['mh'], 'enroll', 'c1', T0 + i)),
    );
    expect(consumed.filter((r) => r !== null)).toHaveLength(1);
    const windows = await Promise.all(Array.from({ length: 20 }, (_, i) => pick(i).hitRateLimit('send:alice', T0 + i, HOUR, 3)));
    expect(windows.filter((w) => w.allowed)).toHaveLength(3);
    expect(windows.map((w) => w.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await a.createPushChallenge({
      id: 'push1', user_id: 'alice', device_id: 'p1', challenge_id: null, number: 55, created_at: T0, expires_at: T0 + HOUR,
    });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pick(i).respondPushChallenge('push1', 'approved', T0 + i)));
    expect(answers.filter((r) => r !== null)).toHaveLength(1);
  });

  it('readDatabaseBytes sees what was written, in the WAL while open and in the main file after close', async () => {
    const path = freshPath();
    const store = open({ path });
    const marker = 'CIPHERTEXT-MARKER-7f3a';
    await store.savePendingTotp({ user_id: 'alice', secret: marker, created_at: T0 });
    expect(readDatabaseBytes(path).includes(marker)).toBe(true);
    expect(readDatabaseBytes(path).includes('NEVER-WRITTEN-5c1d')).toBe(false);
    await store.close();
    expect(readDatabaseBytes(path).includes(marker)).toBe(true);
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
      const burst = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          store.recordLogin({ user_id: `u${i}`, device_key: 'd', location_key: null, ip: null, time: T0, mfa: false }),
        ),
      );
      expect(burst.every((r) => r.status === 'rejected' && r.reason.code === 'SQLITE_BUSY')).toBe(true);
      // One busy wait for the batch, not one per write: every write got the batch's one error. (Not a
      // timing check, which a loaded machine could fail.)
      expect(new Set(burst.map((r) => (r as PromiseRejectedResult).reason)).size).toBe(1);
      // A factor write is not queued: it fails alone, with the same SQLITE_BUSY.
      await expect(store.recordFailure('ip:192.0.2.1', T0, 10)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
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
  // Each child opens the store at the same instant, then races the others: for every challenge (mode
  // `challenges`), or for every single-use factor operation (mode `factors`). Each process walks the ids
  // from its own offset, so they collide all along instead of one sweeping all.
  const child = `
    import { openSqliteStore } from ${JSON.stringify(fileURLToPath(new URL('../src/store/sqlite.ts', import.meta.url)))};
    const [path, startAt, mode, count, offset] = process.argv.slice(2);
    const n = Number(count);
    await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
    const store = openSqliteStore({ path });
    const won = {
      challenge: [], activate: [], step: [], code: [], recovery: [], lockedAt: [],
      destination: [], message: [], push: [], rate: [],
    };
    for (let i = 0; i < n; i++) {
      const k = (i + Number(offset)) % n;
      if (mode === 'challenges') {
        if (await store.completeChallenge('c' + k, ${T0} + 1)) won.challenge.push(k);
        continue;
      }
      const user = 'f' + k;
      if (await store.activateTotp(user, 100, [user + '-code'], ${T0})) won.activate.push(k);
      if (await store.acceptTotpStep(user, 101)) won.step.push(k);
      if (await store.consumeBackupCode(user, ['other', user + '-code'], ${T0})) won.code.push(k);
      for (const r of await store.applyDueRecoveries('r' + k, ${T0})) won.recovery.push(r.id);
      const counter = await store.recordFailure('ip:shared', ${T0} + i, ${FAILURE_LOCK});
      won.lockedAt.push([counter.consecutive, counter.locked_at]);
      if (await store.confirmMessageDestination('o' + k, ${T0})) won.destination.push(k);
      if (await store.consumeMessageCode('o' + k, ['other', 'o' + k + '-code'], 'verify', 'ch' + k, ${T0})) won.message.push(k);
      if (await store.respondPushChallenge('push' + k, k % 2 ? 'approved' : 'denied', ${T0})) won.push.push(k);
      const w = await store.hitRateLimit('send:shared', ${T0} + i, ${HOUR}, ${RATE_MAX});
      won.rate.push([w.count, w.allowed, w.reset_at]);
    }
    await store.close();
    process.stdout.write(JSON.stringify({ applied: store.migrationsApplied, won }));
  `;
  type Won = {
    challenge: number[];
    activate: number[];
    step: number[];
    code: number[];
    recovery: string[];
    lockedAt: [number, number | null][];
    destination: number[];
    message: number[];
    push: number[];
    rate: [number, boolean, number][];
  };
  const script = join(root, 'race-child.mts');
  beforeAll(() => writeFileSync(script, child));
  const run = (path: string, startAt: number, mode: 'open' | 'challenges' | 'factors', count: number, offset: number) =>
    new Promise<{ applied: number[]; won: Won }>((resolve, reject) => {
      const args = [script, path, String(startAt), mode, String(count), String(offset)];
      const p = spawn(process.execPath, ['--import', 'tsx', ...args], {
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
  // Every process starts its race at this instant, far enough ahead that all have loaded by then.
  const soon = () => Date.now() + 1500;
  const race = (path: string, mode: 'open' | 'challenges' | 'factors', count: number) => {
    const startAt = soon();
    return Promise.all(Array.from({ length: PROCESSES }, (_, p) => run(path, startAt, mode, count, (p * count) / PROCESSES)));
  };
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);

  it('migrates a fresh file once when several processes open it at once, and one process wins each challenge', async () => {
    const path = freshPath();
    const opens = await race(path, 'open', 0);
    const applied = opens.map((o) => o.applied);
    expect(applied.filter((a) => a.length > 0)).toEqual([SQLITE_MIGRATIONS.map((m) => m.version)]);

    const COUNT = 4000;
    const setup = open({ path });
    await Promise.all(range(COUNT).map((k) => setup.createChallenge(challenge(`c${k}`))));
    const won = (await race(path, 'challenges', COUNT)).flatMap((r) => r.won.challenge);
    expect(won.sort((a, b) => a - b)).toEqual(range(COUNT));
  }, 30_000);

  it('each activation, TOTP step, backup code, recovery, destination, message code and push goes to exactly one process; failures and rate events all count', async () => {
    const COUNT = 300;
    const path = freshPath();
    const setup = open({ path });
    for (const k of range(COUNT)) {
      await setup.savePendingTotp({ user_id: `f${k}`, secret: `ct-${k}`, created_at: T0 });
      await setup.openRecovery({ id: `rec${k}`, user_id: `r${k}`, verified_by: 'a', verification: 'v', opened_at: T0, effective_at: T0 });
      await setup.savePendingMessageDestination({ user_id: `o${k}`, channel: 'sms', address: `ct-${k}`, created_at: T0 });
      await setup.createMessageCode({
        id: `m${k}`, user_id: `o${k}`, purpose: 'verify', challenge_id: `ch${k}`, code_hash: `o${k}-code`,
        created_at: T0, expires_at: T0 + HOUR,
      });
      await setup.createPushChallenge({
        id: `push${k}`, user_id: `o${k}`, device_id: 'p', challenge_id: null, number: 10 + (k % 90), created_at: T0, expires_at: T0 + HOUR,
      });
    }
    const results = (await race(path, 'factors', COUNT)).map((r) => r.won);
    const all = (key: 'activate' | 'step' | 'code' | 'destination' | 'message' | 'push') => results.flatMap((w) => w[key]);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    expect(sorted(all('activate'))).toEqual(range(COUNT));
    expect(sorted(all('step'))).toEqual(range(COUNT));
    expect(sorted(all('code'))).toEqual(range(COUNT));
    expect(results.flatMap((w) => w.recovery).sort()).toEqual(range(COUNT).map((k) => `rec${k}`).sort());
    const counters = results.flatMap((w) => w.lockedAt);
    expect(sorted(counters.map(([c]) => c))).toEqual(range(PROCESSES * COUNT).map((i) => i + 1));
    for (const [consecutive, lockedAt] of counters) expect(lockedAt === null).toBe(consecutive < FAILURE_LOCK);
    expect(new Set(counters.map(([, at]) => at).filter((at) => at !== null)).size).toBe(1);
    expect(await setup.getFailures('ip:shared')).toMatchObject({ consecutive: PROCESSES * COUNT });
    expect(sorted(all('destination'))).toEqual(range(COUNT));
    expect(sorted(all('message'))).toEqual(range(COUNT));
    expect(sorted(all('push'))).toEqual(range(COUNT));
    const rate = results.flatMap((w) => w.rate);
    expect(sorted(rate.map(([c]) => c))).toEqual(range(PROCESSES * COUNT).map((i) => i + 1));
    for (const [c, allowed] of rate) expect(allowed).toBe(c <= RATE_MAX);
    expect(new Set(rate.map(([, , resetAt]) => resetAt)).size).toBe(1);
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
    expect(await store.purgeExpired(now)).toMatchObject({ challenges: 1 });
    expect(await store.getChallenge('old')).toBeNull();
    expect(await store.getChallenge('recent')).not.toBeNull();
    expect(await store.getChallenge('open')).not.toBeNull();
  });

  it('honours retention.challengesMs and deletes a backlog larger than one chunk', async () => {
    const store = open({ path: freshPath(), retention: { challengesMs: HOUR } });
    const now = T0 + 100 * HOUR;
    await Promise.all(
      Array.from({ length: 12_001 }, (_, i) => store.createChallenge(challenge(`c${i}`, now - 2 * HOUR))),
    );
    await store.createChallenge(challenge('keep', now - HOUR / 2));
    expect(await store.purgeExpired(now)).toMatchObject({ challenges: 12_001 });
    expect(await store.getChallenge('keep')).not.toBeNull();
    await store.close();
    await expect(store.purgeExpired(now)).rejects.toThrow(/closed/);
  });
});
