// The services commands share, built once from paths and the environment: store, keyring, engine and
// factor service. Only cli/ and http/ construct drivers (DESIGN.md, "Layout").
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DecisionEngine } from '../engine.js';
import { loadKeyring, type Keyring } from '../factors/crypto.js';
import { FactorService, type AuditEvent } from '../factors/service.js';
import { auditTo } from '../log.js';
import { loadPolicy } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/types.js';
import { openPostgresStore, openSqliteStore, type RetentionOptions, type Store } from '../store/index.js';

/** The SQLite file inside the data directory. */
export const SQLITE_FILE = 'mfa-gate.db';

export interface Services {
  store: Store;
  /** What the store is, for the start-up banner: `SQLite <path>` or `PostgreSQL <host/db, no password>`. */
  storeLabel: string;
  keyring: Keyring;
  engine: DecisionEngine;
  factors: FactorService;
  close(): Promise<void>;
}

export interface ServiceOptions {
  /**
   * The data directory: the SQLite store (mfa-gate.db) unless `databaseUrl` is given, and secret.key unless
   * MFA_GATE_SECRET_KEY is set.
   */
  dataDir: string;
  /** `postgres://...` (MFA_GATE_DATABASE_URL): the PostgreSQL store instead of SQLite. */
  databaseUrl?: string;
  /** The SQLite file when not `dataDir/mfa-gate.db` (the CLI's --db). */
  sqlitePath?: string;
  retention?: Partial<RetentionOptions>;
  /** A policy file, a compiled policy, or the holder's current policy (hot reload). */
  policy: string | CompiledPolicy | (() => CompiledPolicy);
  logger: Logger;
  /** Where start-up notices go (a generated key); default: the logger at warn. */
  notice?: (message: string) => void;
  /** Where audit events go; default: the logger at info. */
  audit?: (event: AuditEvent) => void;
  env?: NodeJS.ProcessEnv;
}

/** The URL with its password masked, for banners and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

export async function openServices({
  dataDir,
  databaseUrl,
  sqlitePath,
  retention,
  policy,
  logger,
  notice = (m) => logger.warn(m),
  audit = auditTo(logger),
  env = process.env,
}: ServiceOptions): Promise<Services> {
  const current = typeof policy === 'string' ? loadPolicy(policy) : policy;
  const shared = databaseUrl !== undefined && databaseUrl !== '';
  if (shared && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error(`database URL ${redactUrl(databaseUrl)}: only postgres:// (or postgresql://) URLs are supported`);
  }
  // Several instances on one database must share one key: a key generated into each instance's own data
  // directory would encrypt secrets the other instances cannot read, and every cross-instance verification
  // would fail. So with PostgreSQL the key must be given (or already be in the data directory).
  const keyring = loadKeyring({ env, dataDir, log: notice, generate: !shared });
  let store: Store;
  let storeLabel: string;
  if (shared) {
    storeLabel = `PostgreSQL ${redactUrl(databaseUrl)}`;
    try {
      store = await openPostgresStore({
        connectionString: databaseUrl,
        ...(retention ? { retention } : {}),
        // Only the message: a pg error can carry the query and its parameters.
        onError: (err: Error) => logger.warn({ err: { message: err.message } }, 'PostgreSQL connection error'),
      });
    } catch (err) {
      throw new Error(`${storeLabel}: ${(err as Error).message}`, { cause: err });
    }
  } else {
    const path = sqlitePath ?? join(dataDir, SQLITE_FILE);
    store = openSqliteStore({ path, ...(retention ? { retention } : {}) });
    storeLabel = `SQLite ${path}`;
  }
  const engine = new DecisionEngine({
    store,
    policy: current,
    audit,
    onBackgroundError: (err) => logger.error({ err }, 'background write failed'),
  });
  const factors = new FactorService({ store, keyring, policy: current, completeChallenge: (id) => engine.completeChallenge(id), audit });
  return { store, storeLabel, keyring, engine, factors, close: () => store.close() };
}
