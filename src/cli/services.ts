// The services commands share, built once from paths and the environment: store, keyring, engine and
// factor service. Only cli/ and http/ construct drivers (DESIGN.md, "Layout").
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DecisionEngine } from '../engine.js';
import { loadKeyring, type Keyring } from '../factors/crypto.js';
import { Notifier } from '../factors/notify.js';
import { OutOfBandService } from '../factors/out-of-band.js';
import { FactorService, type AuditEvent } from '../factors/service.js';
import { auditTo } from '../log.js';
import { loadPolicy } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/types.js';
import { createSender, senderConfigFromEnv, type Sender } from '../senders/index.js';
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
  /** Codes by message and push approval (issue #7), through `sender`. */
  outOfBand: OutOfBandService;
  sender: Sender;
  notifier: Notifier;
  close(): Promise<void>;
}

/**
 * The webhook sender's settings for messages sent inside a request (a code, a push): a user is waiting, so
 * at most 3 attempts of 3 s with short waits (~10 s at worst) instead of the sender's own defaults (~30 s),
 * which suit nobody waiting. A receiver that cannot take a message in that time gets a 503 answered instead.
 */
const WEBHOOK_IN_REQUEST = { timeoutMs: 3000, retries: 2, backoffMs: 250, maxBackoffMs: 1000 } as const;

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
  /** The sender of codes, pushes and notifications; default: from MFA_GATE_SENDER (src/senders). */
  sender?: Sender;
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
  sender: givenSender,
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
  let sender: Sender;
  try {
    sender = givenSender ?? createSender(withRequestTimeouts(senderConfigFromEnv(env)), { logger, env });
  } catch (err) {
    await store.close();
    throw err;
  }
  const policyOf = typeof current === 'function' ? current : () => current;
  const notifier = new Notifier({
    sender,
    store,
    keyring,
    policy: policyOf,
    onError: (info) => logger.warn({ ...info, notification: info.event, event: 'notification_failed' }, 'a security notification could not be sent'),
  });
  // Security notifications follow from the audit events (src/factors/notify.ts).
  const audited = (e: AuditEvent) => {
    audit(e);
    notifier.onAudit(e);
  };
  const engine = new DecisionEngine({
    store,
    policy: current,
    audit: audited,
    onBackgroundError: (err) => logger.error({ err }, 'background write failed'),
  });
  const factors = new FactorService({ store, keyring, policy: current, completeChallenge: (id) => engine.completeChallenge(id), audit: audited });
  const outOfBand = new OutOfBandService({ store, keyring, policy: current, sender, factors, audit: audited });
  return {
    store,
    storeLabel,
    keyring,
    engine,
    factors,
    outOfBand,
    sender,
    notifier,
    close: async () => {
      await notifier.drain();
      await sender.close();
      await store.close();
    },
  };
}

function withRequestTimeouts<C extends ReturnType<typeof senderConfigFromEnv>>(config: C): C {
  return config.kind === 'webhook' ? { ...config, ...WEBHOOK_IN_REQUEST } : config;
}
