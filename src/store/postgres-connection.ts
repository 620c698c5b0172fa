// The PostgreSQL store's connection settings: the schema (from the option or a `?schema=` parameter), the
// pool's configuration, and a name for the database in messages that never shows credentials.
import { createHash } from 'node:crypto';
import pg from 'pg';

// An unquoted PostgreSQL identifier as the server folds it (lower case), at most NAMEDATALEN - 1 bytes.
// Upper case is refused rather than quoted: `MySchema` unquoted means `myschema` to psql, and a schema whose
// name depends on quoting is a trap for whoever inspects the database by hand. `pg_` is reserved.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws unless `schema` is a plain lower-case identifier (it is interpolated into SQL and `-c search_path`). */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw new RangeError(
      `invalid PostgreSQL schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _ ` +
        '(not starting with a digit or pg_, at most 63 characters)',
    );
  }
  return schema;
}

export interface SplitConnectionString {
  /** The connection string without the parameters taken out below (what pg sees). */
  connectionString: string;
  /** The `schema` query parameter, when present. */
  schema?: string;
  /** The `options` query parameter (server settings, `-c name=value ...`), when present. */
  options?: string;
}

/**
 * Takes `schema` (Prisma's name for it; libpq would refuse the unknown parameter) and `options` out of a
 * `postgres://...?...` connection string, leaving every other byte as it was. `options` comes out because
 * pg lets a parameter of the connection string override the same option given in code: the store appends
 * its `-c search_path=...` to the caller's options instead of losing one or the other.
 */
export function splitConnectionString(connectionString: string): SplitConnectionString {
  const q = connectionString.indexOf('?');
  if (q < 0) return { connectionString };
  const hash = connectionString.indexOf('#', q);
  const query = connectionString.slice(q + 1, hash < 0 ? undefined : hash);
  const kept: string[] = [];
  const out: SplitConnectionString = { connectionString };
  for (const pair of query.split('&')) {
    const [name] = pair.split('=', 1);
    const value = new URLSearchParams(pair).values().next().value ?? '';
    if (name === 'schema') out.schema = value;
    else if (name === 'options') out.options = value;
    else if (pair !== '') kept.push(pair);
  }
  const rest = hash < 0 ? '' : connectionString.slice(hash);
  out.connectionString = connectionString.slice(0, q) + (kept.length > 0 ? `?${kept.join('&')}` : '') + rest;
  return out;
}

/**
 * `host:port/database (schema x)` for messages and info(): never the user or password. Best effort: a
 * string that is not a URL is named by its schema only.
 */
export function describeTarget(connectionString: string, schema: string): string {
  try {
    const url = new URL(connectionString);
    const host = url.hostname || url.searchParams.get('host') || 'localhost';
    return `${host}:${url.port || '5432'}${url.pathname || '/'} (schema ${schema})`;
  } catch {
    return `(schema ${schema})`;
  }
}

/**
 * The key of the transaction-scoped advisory lock the migrations take: 64 bits of a hash of the schema
 * name, so stores migrating different schemas of one database do not wait for each other. Advisory locks
 * are per database already. A string, bound as `$1::bigint` (a JS number cannot hold every int8).
 */
export function migrationLockKey(schema: string): string {
  return createHash('sha256').update(`mfa-gate:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

// Pool-level type parsers: INT8 (BIGINT, count(*)) as a JS number instead of pg's default string. Epoch ms
// and counts stay far below 2^53. Set on this pool's clients only; pg.types (process-wide) is left alone,
// so other pg users in the process keep their parsing.
const TYPES = new pg.TypeOverrides();
TYPES.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export interface PoolSettings {
  connectionString: string;
  schema: string;
  /** Server settings from the connection string's `options`, kept before ours. */
  options?: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs?: number;
  applicationName: string;
}

/**
 * pg's Client emits 'error' when its connection dies, and an 'error' event nobody listens to throws: the
 * process would crash. pg-pool listens while a client is idle in the pool, pool.query and withClient
 * (postgres.ts) while they use it, but there are windows with no listener at all (a client still connecting
 * when its backend is terminated; seen once, as an uncaught 57P01, in a full test run under load). So every
 * client the pool creates carries one listener of its own from construction: the error still reaches whoever
 * else listens (the query it fails, the pool, which drops the client), and a dead connection can never take
 * the server down with it.
 */
class GuardedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', ignore);
  }
}
const ignore = (): void => {};

export function poolConfig(s: PoolSettings): pg.PoolConfig {
  return {
    Client: GuardedClient,
    connectionString: s.connectionString,
    // A startup parameter, so every connection the pool ever opens (also after an outage) is on the schema
    // from its first statement, without a SET round trip per connection or a race with the first query.
    options: [s.options, `-c search_path=${s.schema}`].filter(Boolean).join(' '),
    application_name: s.applicationName,
    max: s.poolSize,
    // Bounds both the wait for a free pooled connection and the TCP + startup of a new one: a database
    // that does not answer fails calls quickly (store_unavailable) instead of hanging requests.
    connectionTimeoutMillis: s.connectTimeoutMs,
    // Detects a peer that vanished without closing (host down, network cut) on idle pooled connections.
    keepAlive: true,
    ...(s.statementTimeoutMs === undefined || s.statementTimeoutMs === 0
      ? {}
      : { statement_timeout: s.statementTimeoutMs }),
    types: TYPES,
  };
}
