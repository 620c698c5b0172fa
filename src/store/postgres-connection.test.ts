// The PostgreSQL store's connection settings and error classification, without a database.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js';
import { checkMigrations } from './migrations/types.js';
import {
  checkSchemaName,
  describeTarget,
  migrationLockKey,
  poolConfig,
  splitConnectionString,
} from './postgres-connection.js';
import { StoreUnavailableError, detachClient, isUnavailable } from './postgres-errors.js';

describe('splitConnectionString', () => {
  it('takes schema (and options) out and leaves every other byte as it was', () => {
    expect(splitConnectionString('postgres://u:p%40ss@db:5433/app?schema=tenant_1&sslmode=require')).toEqual({
      connectionString: 'postgres://u:p%40ss@db:5433/app?sslmode=require',
      schema: 'tenant_1',
    });
    expect(splitConnectionString('postgres://db/app?sslmode=require&schema=s&application_name=x#frag')).toEqual({
      connectionString: 'postgres://db/app?sslmode=require&application_name=x#frag',
      schema: 's',
    });
    expect(splitConnectionString('postgres://db/app?schema=s')).toEqual({ connectionString: 'postgres://db/app', schema: 's' });
    expect(splitConnectionString('postgres://db/app?options=-c%20statement_timeout%3D5s')).toEqual({
      connectionString: 'postgres://db/app',
      options: '-c statement_timeout=5s',
    });
    expect(splitConnectionString('postgres://db/app')).toEqual({ connectionString: 'postgres://db/app' });
  });

  it('decodes the schema value (a bad one is then refused by checkSchemaName)', () => {
    expect(splitConnectionString('postgres://db/app?schema=a%20b').schema).toBe('a b');
    expect(() => checkSchemaName('a b')).toThrow(/schema name/);
  });
});

describe('checkSchemaName', () => {
  it('accepts plain lower-case identifiers', () => {
    for (const name of ['public', 'mfa_gate', '_x', 'a1', 'a'.repeat(63)]) expect(checkSchemaName(name)).toBe(name);
  });

  it('refuses anything that would need quoting, reserved names and injection attempts', () => {
    for (const name of ['', 'Public', '1a', 'a-b', 'a.b', 'pg_temp', 'a'.repeat(64), 'x"; DROP SCHEMA public; --', 'x -c y=z']) {
      expect(() => checkSchemaName(name), name).toThrow(RangeError);
    }
  });
});

describe('describeTarget', () => {
  it('names host, port, database and schema, never the credentials', () => {
    const target = describeTarget('postgres://admin:hunter2@db.internal:6543/mfa?sslmode=require', 'tenant');
    expect(target).toBe('db.internal:6543/mfa (schema tenant)');
    expect(describeTarget('postgres://admin:hunter2@db/mfa', 's')).toBe('db:5432/mfa (schema s)');
    expect(describeTarget('not a url with hunter2', 's')).toBe('(schema s)');
  });
});

describe('migrationLockKey', () => {
  it('is a stable signed 64-bit key per schema', () => {
    const key = migrationLockKey('public');
    expect(key).toBe(migrationLockKey('public'));
    expect(key).not.toBe(migrationLockKey('other'));
    const n = BigInt(key);
    expect(n >= -(2n ** 63n) && n < 2n ** 63n).toBe(true);
  });
});

describe('poolConfig', () => {
  const base = {
    connectionString: 'postgres://db/app',
    schema: 'tenant',
    poolSize: 7,
    connectTimeoutMs: 1234,
    applicationName: 'mfa-gate',
  };

  it('puts the search_path in the startup options, after the caller’s own', () => {
    expect(poolConfig(base)).toMatchObject({
      options: '-c search_path=tenant',
      max: 7,
      connectionTimeoutMillis: 1234,
      application_name: 'mfa-gate',
      keepAlive: true,
    });
    expect(poolConfig({ ...base, options: '-c work_mem=8MB' }).options).toBe('-c work_mem=8MB -c search_path=tenant');
  });

  it('sets statement_timeout only when asked', () => {
    expect(poolConfig(base)).not.toHaveProperty('statement_timeout');
    expect(poolConfig({ ...base, statementTimeoutMs: 0 })).not.toHaveProperty('statement_timeout');
    expect(poolConfig({ ...base, statementTimeoutMs: 250 })).toMatchObject({ statement_timeout: 250 });
  });

  it("builds clients whose 'error' event never goes unheard (an unheard one throws: a crash)", () => {
    const Client = poolConfig(base).Client as unknown as new () => pg.Client;
    const guarded = new Client();
    expect(() => guarded.emit('error', new Error('terminating connection due to administrator command'))).not.toThrow();
    // What the guard prevents: a plain client with no listener throws the error from the emit.
    expect(() => new pg.Client().emit('error', new Error('boom'))).toThrow('boom');
    // Other listeners still hear it (the pool's, the query's).
    const heard: Error[] = [];
    guarded.on('error', (e: Error) => heard.push(e));
    guarded.emit('error', new Error('second'));
    expect(heard.map((e) => e.message)).toEqual(['second']);
  });

  it('parses INT8 as a number on its own type table', () => {
    const types = poolConfig(base).types!;
    expect(types.getTypeParser(20, 'text')('1700000000000')).toBe(1_700_000_000_000);
    expect(types.getTypeParser(25, 'text')('x')).toBe('x');
  });
});

describe('isUnavailable', () => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

  it('recognises unreachable servers, dead connections, shutdowns and exhausted slots', () => {
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'ECONNRESET', '08006', '08001', '57P01', '57P02', '57P03', '53300', '57014']) {
      expect(isUnavailable(withCode(code)), code).toBe(true);
    }
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
    ]) {
      expect(isUnavailable(new Error(message)), message).toBe(true);
    }
    // Node's happy-eyeballs connect reports every address it tried.
    expect(isUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]))).toBe(true);
    // A wrapped cause (a migration that failed because the connection died).
    expect(isUnavailable(new Error('migration 1 failed', { cause: withCode('57P01') }))).toBe(true);
  });

  it('lets bugs and constraint violations through', () => {
    for (const code of ['23505', '42P01', '42601', '22P02', '40P01', '28P01', '3D000']) {
      expect(isUnavailable(withCode(code)), code).toBe(false);
    }
    expect(isUnavailable(new RangeError('now must be an integer'))).toBe(false);
    expect(isUnavailable('ECONNREFUSED')).toBe(false);
  });

  it('wraps with code store_unavailable and the original as cause', () => {
    const cause = withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');
    const error = new StoreUnavailableError('db:5432/app (schema s)', cause);
    expect(error).toMatchObject({ code: 'store_unavailable', status: 503, cause });
    expect(error.message).toBe(
      'the PostgreSQL store db:5432/app (schema s) is unavailable: connect ECONNREFUSED 127.0.0.1:5432 (ECONNREFUSED)',
    );
  });

  it('detachClient drops the pg client pg-pool hangs on pool errors', () => {
    const error = Object.assign(new Error('terminated'), { client: { password: 'hunter2' } });
    expect(detachClient(error)).not.toHaveProperty('client');
  });
});

describe('POSTGRES_MIGRATIONS', () => {
  it('is a valid list', () => {
    expect(() => checkMigrations(POSTGRES_MIGRATIONS)).not.toThrow();
  });
});
