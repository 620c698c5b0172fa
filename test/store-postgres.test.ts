// The Store contract against a real PostgreSQL, plus what only PostgreSQL has: schemas, concurrent
// migrations, a connection pool (several connections racing for one row), connections that die.
//
// The database: MFA_GATE_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test. Each run works
// in fresh schemas (mfa_gate_test_<random>_*) and drops them at the end. When PostgreSQL does not answer the
// suite is skipped, except in CI (CI=true), where that fails the run: CI must test this driver.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { POSTGRES_MIGRATIONS } from '../src/store/migrations/postgres.js';
import { migratePostgres } from '../src/store/postgres-migrate.js';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../src/store/postgres.js';
import { SchemaTooNewError } from '../src/store/sqlite-migrate.js';
import { userFailureSubjects } from '../src/store/subjects.js';
import type { ChallengeRecord, LoginRecord } from '../src/store/types.js';
import { IN_CI } from './helpers/serve.js';
import { describeStoreContract } from './store.contract.js';

const URL_ = process.env.MFA_GATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DATABASE = new URL(URL_).pathname.slice(1) || 'postgres';
const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

async function probe(): Promise<boolean> {
  const client = new pg.Client({ connectionString: URL_, connectionTimeoutMillis: 1500 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const available = await probe();
const skip = !available && process.env.CI !== 'true';

const run = randomBytes(4).toString('hex');
const schemas = new Set<string>();
const freshSchema = (label: string) => {
  const schema = `mfa_gate_test_${run}_${label}`;
  schemas.add(schema);
  return schema;
};

/** The test's own connection, for inspecting and sabotaging what the stores do. */
let adminPool: pg.Pool | undefined;
const admin = () => {
  if (adminPool === undefined) {
    adminPool = new pg.Pool({ connectionString: URL_, max: 3 });
    adminPool.on('error', () => undefined);
  }
  return adminPool;
};
const dropSchema = async (schema: string) => {
  await admin().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  schemas.delete(schema);
};

/** Stores closed after each test, whatever it did (so a run holds few of the server's connection slots). */
const opened: PostgresStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
const open = async (options: Partial<PostgresStoreOptions>): Promise<PostgresStore> => {
  const store = await openPostgresStore({ connectionString: URL_, connectTimeoutMs: 1000, ...options });
  opened.push(store);
  return store;
};

afterAll(async () => {
  if (adminPool !== undefined) {
    for (const schema of [...schemas]) await dropSchema(schema);
    await adminPool.end();
  }
});

const login = (over: Partial<LoginRecord> & { user_id: string }): LoginRecord => ({
  device_key: 'dev-a',
  location_key: 'FR/IDF/Paris',
  ip: '192.0.2.1',
  time: T0,
  mfa: false,
  ...over,
});
const challenge = (id: string): Omit<ChallengeRecord, 'completed_at'> => ({
  id,
  user_id: 'alice',
  decision: 'prompt_mfa',
  device_key: 'dev-a',
  location_key: null,
  ip: null,
  enrollment_allowed: true,
  created_at: T0,
  expires_at: T0 + 5 * MINUTE,
});
const unavailable = expect.objectContaining({ code: ErrorCode.STORE_UNAVAILABLE, cause: expect.anything() });

/**
 * A TCP relay to the database that the test can cut and restore: the database "goes away" and comes back.
 * With `answer: false` it accepts connections and never answers (a black hole: a partitioned network).
 * Its URL carries a password (ignored by trust auth) so the tests can check no error ever shows it.
 */
async function relay(port = 0, { answer = true } = {}) {
  const target = new URL(URL_);
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((down) => {
    track(down);
    if (!answer) return;
    const up = net.connect(Number(target.port || 5432), target.hostname);
    track(up);
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as net.AddressInfo).port;
  const url = new URL(URL_);
  url.host = `127.0.0.1:${bound}`;
  if (url.password === '') url.password = 'hunter2-never-shown';
  return {
    port: bound,
    url: url.toString(),
    password: decodeURIComponent(url.password),
    /** Refuses new connections and cuts the open ones. */
    async cut() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

describe.skipIf(skip)('PostgresStore', () => {
  const contractSchema = freshSchema('contract');
  describeStoreContract(
    'postgres',
    (options) => openPostgresStore({ connectionString: URL_, schema: contractSchema, ...options }),
    () => dropSchema(contractSchema),
  );
  // The tests below share one schema of their own (the contract's is dropped when the contract is done).
  const shared = freshSchema('shared');

  describe('schema and migrations', () => {
    it('creates the schema, migrates it, and puts every pooled connection on it', async () => {
      const schema = freshSchema('basic');
      const store = await open({ schema });
      expect(store.schemaVersion).toBe(POSTGRES_MIGRATIONS.length);
      expect(store.migrationsApplied).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
      const infos = await Promise.all(Array.from({ length: 12 }, () => store.info()));
      for (const info of infos) expect(info).toMatchObject({ schema, currentSchema: schema, applicationName: 'mfa-gate' });
      // Not in public: the tables are where the store says.
      const { rows } = await admin().query(
        `SELECT table_schema FROM information_schema.tables WHERE table_name = 'users' AND table_schema = $1`,
        [schema],
      );
      expect(rows).toHaveLength(1);
      const again = await open({ schema });
      expect(again.migrationsApplied).toEqual([]);
    });

    it('takes the schema from ?schema= on the connection string, keeping its other parameters', async () => {
      const schema = freshSchema('param');
      const store = await open({
        connectionString: `${URL_}?schema=${schema}&options=-c%20statement_timeout%3D4321&application_name=mfa-param`,
      });
      expect(store.schema).toBe(schema);
      expect(await store.info()).toMatchObject({
        currentSchema: schema,
        statementTimeout: '4321ms',
        applicationName: 'mfa-param',
      });
      await expect(
        openPostgresStore({ connectionString: `${URL_}?schema=${schema}`, schema: 'other_schema' }),
      ).rejects.toThrow(/disagree/);
    });

    // README "Several instances": a database on the same machine is reached over its Unix socket (`?host=DIR`).
    it.skipIf(!existsSync('/var/run/postgresql/.s.PGSQL.5432') && !IN_CI)(
      'connects over the Unix socket with ?host=/var/run/postgresql next to ?schema=',
      async () => {
        const schema = freshSchema('socket');
        const store = await open({ connectionString: `postgres://postgres@localhost/${DATABASE}?host=/var/run/postgresql&schema=${schema}` });
        expect(store.schema).toBe(schema);
        expect(await store.info()).toMatchObject({ currentSchema: schema });
        const state = await store.getUserState('socket-user', 'dev', Date.now());
        expect(state.first_seen).toBeGreaterThan(0);
        const client = new pg.Client({ connectionString: `postgres://postgres@localhost/${DATABASE}?host=/var/run/postgresql` });
        await client.connect();
        try {
          // A Unix-socket session has no client address; over TCP it would be 127.0.0.1.
          expect((await client.query('SELECT inet_client_addr()::text AS addr')).rows[0].addr).toBeNull();
        } finally {
          await client.end();
        }
      },
    );

    it('several stores opening one fresh schema at once apply each migration once', async () => {
      const schema = freshSchema('race');
      const stores = await Promise.all(Array.from({ length: 6 }, () => open({ schema, poolSize: 2 })));
      expect(stores.filter((s) => s.migrationsApplied.length > 0)).toHaveLength(1);
      expect(stores.every((s) => s.schemaVersion === POSTGRES_MIGRATIONS.length)).toBe(true);
      const { rows } = await admin().query(
        `SELECT version, count(*)::int AS n FROM "${schema}".schema_migrations GROUP BY version ORDER BY version`,
      );
      expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
      // All of them work on the one schema.
      await Promise.all(stores.map((s, i) => s.recordLogin(login({ user_id: `u${i}` }))));
      expect((await stores[0]!.listUsers()).map((u) => u.id)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']);
    });

    it('refuses a schema migrated by a newer mfa-gate, and changes nothing', async () => {
      const schema = freshSchema('newer');
      await (await open({ schema })).close();
      await admin().query(`INSERT INTO "${schema}".schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`);
      const error = await openPostgresStore({ connectionString: URL_, schema }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SchemaTooNewError);
      expect(error).toMatchObject({ databaseVersion: 99, knownVersion: POSTGRES_MIGRATIONS.length });
      expect((error as Error).message).not.toMatch(/postgres:\/\//);
    });

    it('migrations 2 and 3 add the out-of-band tables and the challenge device label to a version 1 schema, keeping its data', async () => {
      const schema = freshSchema('v1');
      const client = await admin().connect();
      try {
        await migratePostgres(client, { schema, where: 'test', migrations: POSTGRES_MIGRATIONS.slice(0, 1) });
      } finally {
        client.release();
      }
      await admin().query(`INSERT INTO "${schema}".users (id, first_seen, enrolled_at) VALUES ('alice', 1, 2)`);
      const store = await open({ schema });
      expect(store.migrationsApplied).toEqual([2, 3]);
      expect(await store.getUserSummary('alice')).toMatchObject({ enrolled_at: 2, message_destination: null, push_devices: [] });
      const push = (id: string, number: number) =>
        admin().query(
          `INSERT INTO "${schema}".push_challenges (id, user_id, device_id, number, created_at, expires_at)
           VALUES ($1, 'alice', 'd', $2, 1, 2)`,
          [id, number],
        );
      await push('ok', 99);
      for (const n of [9, 100]) await expect(push(`bad-${n}`, n)).rejects.toThrow(/check constraint/);
      // Answered without an answer time: refused.
      await expect(
        admin().query(`UPDATE "${schema}".push_challenges SET status = 'approved' WHERE id = 'ok'`),
      ).rejects.toThrow(/check constraint/);
      await expect(
        admin().query(`INSERT INTO "${schema}".message_destinations_pending VALUES ('alice', 'pigeon', 'ct', 1)`),
      ).rejects.toThrow(/check constraint/);
    });

    it('validates its options before connecting', async () => {
      const nowhere = 'postgres://postgres@127.0.0.1:1/test';
      const opening = (options: Partial<PostgresStoreOptions>) =>
        openPostgresStore({ connectionString: nowhere, ...options });
      await expect(opening({ retention: { knownDevices: 0 } })).rejects.toThrow(RangeError);
      await expect(opening({ retention: { knownLocations: 1.5 } })).rejects.toThrow(/knownLocations/);
      await expect(opening({ retention: { failuresMs: -1 } })).rejects.toThrow(/failuresMs/);
      for (const schema of ['Upper', 'pg_catalog', 'a-b', 'x"; DROP SCHEMA public; --', '', '1abc', 'a'.repeat(64)]) {
        await expect(opening({ schema }), schema).rejects.toThrow(/schema name/);
      }
      await expect(opening({ poolSize: 0 })).rejects.toThrow(/poolSize/);
      await expect(opening({ connectTimeoutMs: 0 })).rejects.toThrow(/connectTimeoutMs/);
      await expect(opening({ statementTimeoutMs: -5 })).rejects.toThrow(/statementTimeoutMs/);
    });

    it('reads BIGINT as numbers through its own pool only: the process-wide pg.types are untouched', async () => {
      const store = await open({ schema: freshSchema('types') });
      await store.recordFailure('ip:192.0.2.9', T0, 5);
      expect(await store.getFailures('ip:192.0.2.9')).toEqual({ consecutive: 1, last_failure_at: T0, locked_at: null });
      expect(pg.types.getTypeParser(pg.types.builtins.INT8, 'text')('42')).toBe('42');
    });
  });

  describe('the pool', () => {
    it('runs the single-use races on several connections at once', async () => {
      const appName = `mfa-gate-race-${run}`;
      const store = await open({ schema: shared, poolSize: 10, applicationName: appName });
      const c = challenge(`race-${randomUUID()}`);
      await store.createChallenge(c);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.completeChallenge(c.id, T0 + i)));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
      const info = await store.info();
      expect(info.pool.total).toBeGreaterThanOrEqual(5);
      const { rows } = await admin().query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [appName],
      );
      expect(rows[0]!.n).toBeGreaterThanOrEqual(5);
    });

    it('keeps a user within the device bound under concurrent logins once a later login trims', async () => {
      const store = await open({ schema: shared, retention: { knownDevices: 5 } });
      const user = `bound-${randomUUID()}`;
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.recordLogin(login({ user_id: user, device_key: `d${i}`, time: T0 + i }))));
      expect((await store.getUserState(user, 'd0', T0 + 100)).known_devices.length).toBeLessThanOrEqual(5);
      await store.recordLogin(login({ user_id: user, device_key: 'last', time: T0 + 1000 }));
      const summary = await store.getUserSummary(user);
      expect(summary?.known_devices).toHaveLength(5);
      expect(summary?.known_devices[0]?.key).toBe('last');
    });
  });

  describe('batching (issue #6): calls of one event-loop turn share one statement', () => {
    /** Counts the store's named statements (pool.query) by name while `fn` runs. */
    const counting = async <T>(fn: () => Promise<T>): Promise<{ result: T; statements: Record<string, number> }> => {
      const statements: Record<string, number> = {};
      const real = pg.Pool.prototype.query as (...args: unknown[]) => unknown;
      const spy = vi.spyOn(pg.Pool.prototype, 'query').mockImplementation(function (this: pg.Pool, ...args: unknown[]) {
        const name = typeof args[0] === 'object' && args[0] !== null ? (args[0] as { name?: string }).name : undefined;
        if (name !== undefined) statements[name] = (statements[name] ?? 0) + 1;
        return real.apply(this, args) as never;
      });
      try {
        return { result: await fn(), statements };
      } finally {
        spy.mockRestore();
      }
    };
    const retention = { knownDevices: 3, knownLocations: 2 };
    const users = Array.from({ length: 6 }, (_, i) => `batch-${i}-${randomUUID()}`);
    const history: LoginRecord[] = [
      ...['d1', 'd2', 'd3'].map((d, i) => login({ user_id: users[0]!, device_key: d, time: T0 + i * MINUTE, mfa: i === 1 })),
      login({ user_id: users[1]!, device_key: 'd1', location_key: 'DE/BE/Berlin', time: T0 + 5 * MINUTE, ip: '198.51.100.7' }),
      login({ user_id: users[1]!, device_key: 'd1', location_key: 'GB/ENG/London', time: T0 + 6 * MINUTE, mfa: true }),
      login({ user_id: users[2]!, device_key: 'd1', time: T0 }),
    ];
    // Each kind of login: a new device past the bound (the oldest goes), a login older than the last one
    // (time and IP stay), one with no location, MFA on a known device, a user never seen, one user twice.
    const batch: LoginRecord[] = [
      login({ user_id: users[0]!, device_key: 'd4', time: T0 + 10 * MINUTE, location_key: 'US' }),
      login({ user_id: users[1]!, device_key: 'd2', time: T0 + MINUTE, ip: '203.0.113.1', location_key: 'FR/IDF/Paris' }),
      login({ user_id: users[2]!, device_key: 'd1', time: T0 + 2 * MINUTE, location_key: null, mfa: true }),
      login({ user_id: users[3]!, device_key: 'n1', time: T0 + 3 * MINUTE }),
      login({ user_id: users[4]!, device_key: 'a', time: T0 + 4 * MINUTE, location_key: null }),
      login({ user_id: users[4]!, device_key: 'b', time: T0 + 4 * MINUTE + 1, location_key: 'US', mfa: true }),
    ];
    const reads: Array<[string, string, number]> = [
      [users[0]!, 'd2', T0 + 20 * MINUTE],
      [users[0]!, 'd4', T0 + 20 * MINUTE],
      [users[1]!, 'd1', T0 + 20 * MINUTE],
      [users[2]!, 'd1', T0 + 20 * MINUTE],
      [users[3]!, 'n1', T0 + 20 * MINUTE],
      [users[4]!, 'b', T0 + 20 * MINUTE],
      [users[5]!, 'x', T0 + 21 * MINUTE], // never seen: registered by the read
      [users[5]!, 'y', T0 + 22 * MINUTE],
    ];
    /** A store on a fresh schema holding `history`, plus failures and an open recovery for user 1. */
    const prepared = async (label: string) => {
      const store = await open({ schema: freshSchema(label), retention });
      for (const l of history) await store.recordLogin(l);
      const [totp, backup] = userFailureSubjects(users[1]!);
      await store.recordFailure(totp, T0, 10);
      await store.recordFailure(backup, T0, 10);
      await store.recordFailure(backup, T0 + 1, 10);
      await store.openRecovery({ id: `r-${users[1]}`, user_id: users[1]!, verified_by: 'a', verification: 'v', opened_at: T0, effective_at: T0 + DAY });
      return store;
    };
    const DAY = 24 * 60 * MINUTE;

    it('logins and reads issued at once end exactly as the same calls one at a time', async () => {
      const [together, alone] = [await prepared('batch_together'), await prepared('batch_alone')];
      const { statements: written } = await counting(() => Promise.all(batch.map((l) => together.recordLogin(l))));
      // Two rounds: user 4 logs in twice in the batch, and a statement upserts a user once.
      expect(written).toEqual({ mfa_gate_record_logins: 2 });
      for (const l of batch) await alone.recordLogin(l);

      const { result: states, statements: read } = await counting(() =>
        Promise.all(reads.map(([u, d, now]) => together.getUserState(u, d, now))),
      );
      // One read for all; the never-seen user registered once (distinct ids) and read again.
      expect(read).toEqual({ mfa_gate_user_states: 2, mfa_gate_register_users: 1 });
      const one: unknown[] = [];
      for (const [u, d, now] of reads) one.push(await alone.getUserState(u, d, now));
      expect(states).toEqual(one);
      expect(states[0]).toMatchObject({ known_devices: ['d4', 'd3', 'd2'], last_mfa: { device: 'd2', time: T0 + MINUTE } });
      expect(states[1]).toMatchObject({ last_mfa: null });
      expect(states[2]).toMatchObject({
        failed_attempts: 3,
        recovery_due_at: T0 + DAY,
        last_login: { time: T0 + 6 * MINUTE, ip: '192.0.2.1' },
        known_locations: ['GB/ENG/London', 'DE/BE/Berlin'], // Paris, seen before both, is past the bound
      });
      expect(states[6]).toMatchObject({ first_seen: T0 + 21 * MINUTE, known_devices: [] });
      expect(states[7]).toMatchObject({ first_seen: T0 + 21 * MINUTE });
      for (const u of users) expect(await together.getUserSummary(u)).toEqual(await alone.getUserSummary(u));
    });

    it('a read issued with the writes it follows waits for them, and the other reads of the batch still share one statement', async () => {
      const store = await open({ schema: shared });
      const [a, b] = [`ryow-${randomUUID()}`, `ryow-${randomUUID()}`];
      await store.recordLogin(login({ user_id: b, device_key: 'b1' }));
      void store.recordLogin(login({ user_id: a, device_key: 'a1', time: T0 + 1 }));
      const [sa, sb] = await Promise.all([store.getUserState(a, 'a1', T0 + 2), store.getUserState(b, 'b1', T0 + 2)]);
      expect(sa.known_devices).toEqual(['a1']);
      expect(sb.known_devices).toEqual(['b1']);
    });

    it('a duplicate challenge id fails its own call only; the others of the batch are created', async () => {
      const store = await open({ schema: shared });
      const dup = challenge(`dup-${randomUUID()}`);
      await store.createChallenge(dup);
      const others = [challenge(`ok-${randomUUID()}`), challenge(`ok-${randomUUID()}`)];
      const { result: settled, statements } = await counting(() =>
        Promise.allSettled([store.createChallenge(others[0]!), store.createChallenge({ ...dup, user_id: 'mallory' }), store.createChallenge(others[1]!)]),
      );
      expect(statements).toMatchObject({ mfa_gate_create_challenges: 1, mfa_gate_create_challenge: 3 });
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const reason = (settled[1] as PromiseRejectedResult).reason as { code?: string };
      expect(reason.code).toBe('23505'); // unique_violation, passed through: not an outage
      for (const c of others) expect(await store.getChallenge(c.id)).toMatchObject({ id: c.id, completed_at: null });
      expect(await store.getChallenge(dup.id)).toMatchObject({ user_id: 'alice' });
    });

    it('every call of a batch whose statement cannot reach the database rejects with store_unavailable', async () => {
      const link = await relay();
      const store = await open({ connectionString: link.url, schema: shared, connectTimeoutMs: 400, poolSize: 2 });
      try {
        await store.ping();
        await link.cut();
        const settled = await Promise.allSettled([
          ...[1, 2, 3].map((i) => store.getUserState(`gone-${i}`, 'd', T0)),
          ...[1, 2, 3].map((i) => store.recordLogin(login({ user_id: `gone-${i}` }))),
          ...[1, 2].map(() => store.createChallenge(challenge(`gone-${randomUUID()}`))),
        ]);
        for (const s of settled) expect(s).toEqual({ status: 'rejected', reason: unavailable });
      } finally {
        await store.close();
        await link.cut();
      }
    });
  });

  describe('out-of-band single-use rules under a real race (issue #7)', () => {
    // Calls issued at once rarely overlap inside PostgreSQL (each statement takes microseconds), so a rule
    // that only held by luck could pass a plain race. Here a blocker holds the row locked while every caller
    // has already started: each statement has its snapshot (and its subquery's answer) when it queues on the
    // lock, and only the re-check PostgreSQL makes on the latest row version can keep the rule. Callers are
    // spread over two stores (two instances), each with its own pool.
    const CALLERS = 16;
    const race = async <T>(table: string, where: string, params: unknown[], call: (store: PostgresStore, i: number) => Promise<T>) => {
      const appName = `mfa-gate-oob-${run}`;
      const stores = [
        await open({ schema: shared, poolSize: CALLERS / 2, applicationName: appName }),
        await open({ schema: shared, poolSize: CALLERS / 2, applicationName: appName }),
      ];
      await Promise.all(stores.map((s) => s.ping()));
      const blocker = await admin().connect();
      try {
        await blocker.query('BEGIN');
        expect((await blocker.query(`SELECT 1 FROM "${shared}".${table} WHERE ${where} FOR UPDATE`, params)).rowCount).toBe(1);
        const calls = Array.from({ length: CALLERS }, (_, i) => call(stores[i % 2]!, i));
        await expect
          .poll(async () => {
            const { rows } = await admin().query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
              [appName],
            );
            return rows[0]!.n;
          })
          .toBe(CALLERS);
        await blocker.query('COMMIT');
        return await Promise.all(calls);
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined);
        blocker.release();
      }
    };
    const ids = () => randomUUID();

    it('a message code is consumed once', async () => {
      const [user, id] = [`oob-${ids()}`, `m-${ids()}`];
      const store = await open({ schema: shared });
      await store.createMessageCode({
        id, user_id: user, purpose: 'verify', challenge_id: 'ch', code_hash: 'h', created_at: T0, expires_at: T0 + MINUTE,
      });
      const results = await race('message_codes', 'id = $1', [id], (s, i) => s.consumeMessageCode(user, ['h'], 'verify', 'ch', T0 + i));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });

    it('a push is answered once', async () => {
      const id = `push-${ids()}`;
      const store = await open({ schema: shared });
      await store.createPushChallenge({
        id, user_id: 'u', device_id: 'd', challenge_id: null, number: 42, created_at: T0, expires_at: T0 + MINUTE,
      });
      const results = await race('push_challenges', 'id = $1', [id], (s, i) =>
        s.respondPushChallenge(id, i % 2 === 0 ? 'approved' : 'denied', T0 + i),
      );
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });

    it('a pending destination is confirmed once', async () => {
      const user = `oob-${ids()}`;
      const store = await open({ schema: shared });
      await store.savePendingMessageDestination({ user_id: user, channel: 'sms', address: 'ct', created_at: T0 });
      const results = await race('message_destinations_pending', 'user_id = $1', [user], (s, i) =>
        s.confirmMessageDestination(user, T0 + i),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.getMessageDestination(user)).toMatchObject({ confirmed_at: T0 + results.indexOf(true) });
    });

    it('a rate window counts every event once and allows exactly max', async () => {
      const subject = `send:${ids()}`;
      const store = await open({ schema: shared });
      expect(await store.hitRateLimit(subject, T0, MINUTE, 3)).toMatchObject({ count: 1, allowed: true });
      const results = await race('rate_limits', 'subject = $1', [subject], (s, i) => s.hitRateLimit(subject, T0 + i, MINUTE, 3));
      expect(results.map((w) => w.count).sort((a, b) => a - b)).toEqual(Array.from({ length: CALLERS }, (_, i) => i + 2));
      expect(results.filter((w) => w.allowed)).toHaveLength(2);
    });
  });

  describe('when the database is unavailable', () => {
    it('fails to open quickly with store_unavailable when nothing listens', async () => {
      const started = Date.now();
      const error = await openPostgresStore({
        connectionString: 'postgres://postgres@127.0.0.1:1/test',
        schema: freshSchema('nowhere'),
        connectTimeoutMs: 500,
      }).catch((e: unknown) => e);
      expect(error).toEqual(unavailable);
      expect(Date.now() - started).toBeLessThan(1500);
    });

    it('fails to open within connectTimeoutMs when the server accepts but never answers', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((s) => sockets.add(s.on('error', () => undefined)));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { port } = silent.address() as net.AddressInfo;
      try {
        const started = Date.now();
        const error = await openPostgresStore({
          connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
          connectTimeoutMs: 300,
        }).catch((e: unknown) => e);
        expect(error).toEqual(unavailable);
        expect((error as Error).message).toMatch(/timeout/);
        expect(Date.now() - started).toBeLessThan(1500);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it('rejects every call with store_unavailable while the database is gone, and recovers by itself', async () => {
      let link = await relay();
      const errors: Error[] = [];
      const store = await open({
        connectionString: link.url,
        schema: shared,
        connectTimeoutMs: 400,
        poolSize: 3,
        onError: (e) => errors.push(e),
      });
      const user = `down-${randomUUID()}`;
      await store.savePendingTotp({ user_id: user, secret: 'ct', created_at: T0 });
      expect(await store.activateTotp(user, 1, ['h1', 'h2'], T0)).toBe(true);
      await Promise.all([store.ping(), store.ping(), store.ping()]); // three pooled connections
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['getUserState', () => store.getUserState(user, 'dev-a', T0)],
        ['acceptTotpStep', () => store.acceptTotpStep(user, 2)],
        ['consumeBackupCode', () => store.consumeBackupCode(user, ['h1'], T0)],
        ['ping', () => store.ping()],
        ['recordLogin', () => store.recordLogin(login({ user_id: user }))],
        ['activateTotp', () => store.activateTotp(user, 3, ['h3'], T0)],
        ['purgeExpired', () => store.purgeExpired(T0)],
      ];
      const failures: unknown[] = [];
      try {
        // Refused: the open connections are cut, new ones are refused at once.
        await link.cut();
        let started = Date.now();
        for (const [name, call] of calls) {
          failures.push(await call().then(() => expect.fail(`${name} succeeded`), (e: unknown) => e));
        }
        expect(Date.now() - started).toBeLessThan(1000);
        // A black hole: every call gives up after connectTimeoutMs, all at once (3 connecting, the rest
        // waiting for a pooled connection, bounded by the same timeout).
        link = await relay(link.port, { answer: false });
        started = Date.now();
        const settled = await Promise.allSettled(calls.map(([, call]) => call()));
        expect(Date.now() - started).toBeLessThan(1500);
        for (const r of settled) {
          expect(r.status).toBe('rejected');
          if (r.status === 'rejected') failures.push(r.reason);
        }
        for (const e of failures) expect(e).toEqual(unavailable);
        expect(failures.some((e) => /timeout/.test((e as Error).message))).toBe(true);
        await link.cut();

        // Back: the same store works again, on new connections, without being reopened.
        link = await relay(link.port);
        await expect(store.ping()).resolves.toBeUndefined();
        expect(await store.acceptTotpStep(user, 2)).toBe(true);
        expect(await store.consumeBackupCode(user, ['h1'], T0 + 1)).toBe(true);
        expect((await store.getUserState(user, 'dev-a', T0 + 2)).enrolled).toBe(true);
      } finally {
        await store.close();
        await link.cut();
      }
      // The idle connections that were cut were reported; nothing shows the password.
      expect(errors.length).toBeGreaterThanOrEqual(1);
      for (const e of errors) expect(e).toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE });
      const shown = [...errors, ...failures].map((e) => {
        const err = e as Error;
        return `${err.message} ${String(err.stack)} ${JSON.stringify(err)} ${String((err.cause as Error)?.message)}`;
      });
      expect(shown.join('\n')).not.toContain(link.password);
      expect(store.target).not.toContain(link.password);
    });

    it('survives pg_terminate_backend of its connections: calls succeed or say store_unavailable, then it works again', async () => {
      const appName = `mfa-gate-term-${run}`;
      const errors: Error[] = [];
      const store = await open({ schema: shared, applicationName: appName, onError: (e) => errors.push(e) });
      const user = `term-${randomUUID()}`;
      await store.savePendingTotp({ user_id: user, secret: 'ct', created_at: T0 });
      await store.activateTotp(user, 1, Array.from({ length: 40 }, (_, i) => `h${i}`), T0);
      await Promise.all(Array.from({ length: 10 }, () => store.ping()));
      const terminated: number[] = [];
      const terminate = async () => {
        // In the SELECT list, never the WHERE: the planner may evaluate a WHERE clause in any order, and
        // would then terminate backends the other conditions were meant to spare.
        const { rows } = await admin().query<{ pid: number }>(
          `SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = $2`,
          [DATABASE, appName],
        );
        terminated.push(...rows.map((r) => r.pid));
        return rows.length;
      };
      // "Afterwards": once the terminated backends have exited and the pool has had a moment to see their
      // sockets close. A call issued before that may still draw a dead idle connection (store_unavailable).
      const settle = async () => {
        await expect
          .poll(async () => (await admin().query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY ($1)', [terminated])).rowCount)
          .toBe(0);
        await new Promise((resolve) => setTimeout(resolve, 20));
      };
      const burst = (round: number) => [
        store.getUserState(user, 'dev-a', T0 + round),
        store.acceptTotpStep(user, 2 + round),
        store.consumeBackupCode(user, [`h${round}`], T0 + round),
        store.recordLogin(login({ user_id: user, time: T0 + round })),
        store.recordFailure(`ip:term-${user}`, T0 + round, 100),
        store.replaceBackupCodes(`${user}-other`, ['x'], T0),
        store.ping(),
      ];
      // Terminated while idle, then while busy.
      expect(await terminate()).toBeGreaterThanOrEqual(1);
      const afterIdle = await Promise.allSettled(burst(0));
      const busy = burst(1);
      await terminate();
      const whileBusy = await Promise.allSettled(busy);
      for (const r of [...afterIdle, ...whileBusy]) {
        if (r.status === 'rejected') expect(r.reason).toEqual(unavailable);
      }
      // Afterwards the same store works: the pool replaced the dead connections.
      await settle();
      const again = await Promise.allSettled(burst(2));
      expect(again.map((r) => r.status)).toEqual(again.map(() => 'fulfilled'));
      expect(await store.acceptTotpStep(user, 1000)).toBe(true);

      // Terminated in the middle of a transaction (held on a row lock the test takes): store_unavailable,
      // nothing of it committed, and the connection is not handed out again.
      const codesBefore = await store.countBackupCodes(user);
      const blocker = await admin().connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`SELECT 1 FROM "${shared}".backup_codes WHERE user_id = $1 FOR UPDATE`, [user]);
        const replacing = store.replaceBackupCodes(user, ['new-1'], T0 + 5);
        await expect.poll(async () => {
          const { rows } = await admin().query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [appName],
          );
          return rows[0]!.n;
        }).toBe(1);
        await terminate();
        await expect(replacing).rejects.toEqual(unavailable);
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      await settle();
      expect(await store.countBackupCodes(user)).toBe(codesBefore);
      expect(await Promise.all(Array.from({ length: 10 }, () => store.ping()))).toHaveLength(10);
      // Idle connections that died were reported through onError, as store_unavailable.
      expect(errors.length).toBeGreaterThanOrEqual(1);
      for (const e of errors) expect(e).toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE });
    });

    it('a statement past statementTimeoutMs is cancelled and reported as store_unavailable', async () => {
      const schema = shared;
      const store = await open({ schema, statementTimeoutMs: 200 });
      const c = challenge(`slow-${randomUUID()}`);
      await store.createChallenge(c);
      const blocker = await admin().connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`SELECT 1 FROM "${schema}".challenges WHERE id = $1 FOR UPDATE`, [c.id]);
        const started = Date.now();
        await expect(store.completeChallenge(c.id, T0 + 1)).rejects.toEqual(unavailable);
        expect(Date.now() - started).toBeLessThan(2000);
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      expect(await store.completeChallenge(c.id, T0 + 2)).toMatchObject({ id: c.id, completed_at: T0 + 2 });
    });
  });
});
