// For the tests that need the real PostgreSQL (127.0.0.1:5432, database `test`, trust auth; .ci/run starts
// it): whether it answers, a fresh schema per run (dropped afterwards), and a TCP proxy in front of it that a
// test can cut and restore, to make the database unreachable for one server without stopping it for the
// other test files that share it.
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { IN_CI } from './serve.js';

/** The database the tests use; MFA_GATE_TEST_DATABASE_URL overrides it (another host, a password). */
export const PG_URL = process.env.MFA_GATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether PostgreSQL answers. Without it a test file skips on a laptop, but in CI (`CI=true`) this throws, so
 * a missing database fails the run instead of silently testing nothing.
 */
export async function postgresAvailable(url = PG_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (err) {
    if (IN_CI) throw new Error(`PostgreSQL at ${url} does not answer, and CI=true: ${(err as Error).message}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A schema name no other run uses: `<prefix>_<16 hex>`. */
export const freshSchema = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

/** `url` with `?schema=NAME` (the store's own parameter; see src/store/postgres.ts). */
export function withSchema(url: string, schema: string, host?: { port: number }): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  if (host) u.port = String(host.port);
  return u.toString();
}

/** Runs one statement on its own connection. */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], url = PG_URL): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`not a schema name: ${schema}`);
  await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/**
 * A TCP proxy to PostgreSQL on a port of its own. `cut()` closes the listener and every connection through it
 * (to the server behind it the database is down: refused connections, dead sockets), `restore()` listens on
 * the same port again. `upstreamPorts()` are the local ports of its connections to PostgreSQL, which
 * pg_stat_activity shows as client_port: `pg_terminate_backend` can then target exactly these backends.
 */
export class PostgresProxy {
  port = 0;
  private server: Server | null = null;
  private readonly pairs = new Set<[Socket, Socket]>();

  constructor(private readonly target: { host: string; port: number } = { host: '127.0.0.1', port: 5432 }) {}

  async start(): Promise<number> {
    await this.listen(0);
    return this.port;
  }

  upstreamPorts(): number[] {
    return [...this.pairs].map(([, up]) => up.localPort).filter((p): p is number => typeof p === 'number');
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const [down, up] of this.pairs) {
      down.destroy();
      up.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restore(): Promise<void> {
    if (this.server === null) await this.listen(this.port);
  }

  close(): Promise<void> {
    return this.cut();
  }

  private listen(port: number): Promise<void> {
    const server = createServer((down) => {
      const up = connect(this.target.port, this.target.host);
      const pair: [Socket, Socket] = [down, up];
      this.pairs.add(pair);
      const drop = () => {
        this.pairs.delete(pair);
        down.destroy();
        up.destroy();
      };
      down.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      down.pipe(up);
      up.pipe(down);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const address = server.address();
        this.port = typeof address === 'object' && address !== null ? address.port : port;
        this.server = server;
        resolve();
      });
    });
  }
}
