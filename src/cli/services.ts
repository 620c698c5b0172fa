// The services commands share, built once from paths and the environment: store, keyring, engine and
// factor service. Only cli/ and http/ construct drivers (DESIGN.md, "Layout").
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { DecisionEngine } from '../engine.js';
import { loadKeyring, type Keyring } from '../factors/crypto.js';
import { FactorService, type AuditEvent } from '../factors/service.js';
import { auditTo } from '../log.js';
import { loadPolicy } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/types.js';
import { openSqliteStore, type SqliteStore } from '../store/index.js';

export interface Services {
  store: SqliteStore;
  keyring: Keyring;
  engine: DecisionEngine;
  factors: FactorService;
  close(): Promise<void>;
}

export interface ServiceOptions {
  db: string;
  /** A policy file, a compiled policy, or the holder's current policy (hot reload). */
  policy: string | CompiledPolicy | (() => CompiledPolicy);
  logger: Logger;
  /** Where start-up notices go (a generated key); default: the logger at warn. */
  notice?: (message: string) => void;
  /** Where audit events go; default: the logger at info. */
  audit?: (event: AuditEvent) => void;
}

export function openServices({ db, policy, logger, notice = (m) => logger.warn(m), audit = auditTo(logger) }: ServiceOptions): Services {
  const current = typeof policy === 'string' ? loadPolicy(policy) : policy;
  // The key sits beside the database unless MFA_GATE_SECRET_KEY provides it.
  const keyring = loadKeyring({ env: process.env, dataDir: dirname(db), log: notice });
  const store = openSqliteStore({ path: db });
  const engine = new DecisionEngine({
    store,
    policy: current,
    audit,
    onBackgroundError: (err) => logger.error({ err }, 'background write failed'),
  });
  const factors = new FactorService({ store, keyring, policy: current, completeChallenge: (id) => engine.completeChallenge(id), audit });
  return { store, keyring, engine, factors, close: () => store.close() };
}
