// A whole service for HTTP tests: a real SQLite file in a temp dir, a real keyring, the engine, the factor
// service, the out-of-band factors with a sender (none unless given) and the security notifications, API keys
// for each scope, metrics, and the Hono app built as `serve` builds it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecisionEngine, type DecisionRecord } from '../../src/engine.js';
import { loadKeyring, type Keyring } from '../../src/factors/crypto.js';
import { Notifier } from '../../src/factors/notify.js';
import { OutOfBandService } from '../../src/factors/out-of-band.js';
import { FactorService, type AuditEvent } from '../../src/factors/service.js';
import { createApp } from '../../src/http/app.js';
import { ApiKeyring } from '../../src/http/auth.js';
import { createMetrics } from '../../src/http/metrics.js';
import { compileNetworkList, loadPolicy, parsePolicy } from '../../src/policy/index.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import { createSender, type Sender } from '../../src/senders/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/index.js';

export const KEYS = {
  all: 'test-key-all-scopes-0000000001',
  decide: 'test-key-decide-only-000000002',
  mfa: 'test-key-mfa-only-0000000000003',
  admin: 'test-key-admin-only-00000000004',
} as const;

export interface TestService {
  app: ReturnType<typeof createApp>;
  store: SqliteStore;
  engine: DecisionEngine;
  factors: FactorService;
  outOfBand: OutOfBandService;
  /** The sender given, else one of kind none (codes by message and push answer 503 sender_unavailable). */
  sender: Sender;
  /** Security notifications, driven by the audit events as in serve; drain() waits for those in flight. */
  notifier: Notifier;
  keyring: Keyring;
  metrics: ReturnType<typeof createMetrics>;
  decisions: DecisionRecord[];
  audit: AuditEvent[];
  unexpected: unknown[];
  dir: string;
  dbPath: string;
  clock: { now: number };
  close(): Promise<void>;
}

export function startService(
  options: { policy?: string | CompiledPolicy; now?: number; trustedProxies?: string[]; sender?: Sender } = {},
): TestService {
  const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-http-'));
  const dbPath = join(dir, 'store.db');
  const store = openSqliteStore({ path: dbPath });
  const clock = { now: options.now ?? Date.parse('2026-06-01T12:00:10Z') };
  const policy =
    typeof options.policy === 'string' ? parsePolicy(options.policy, 'test.yaml') : (options.policy ?? loadPolicy('policies/default.yaml'));
  const decisions: DecisionRecord[] = [];
  const audit: AuditEvent[] = [];
  const unexpected: unknown[] = [];
  const keyring = loadKeyring({ env: {}, dataDir: dir, log: () => {} });
  const metrics = createMetrics({ collectDefault: false });
  const sender = options.sender ?? createSender({ kind: 'none' });
  const notifier = new Notifier({ sender, store, keyring, policy: () => policy, clock: () => clock.now, onError: (info) => unexpected.push(info) });
  const sink = (e: AuditEvent) => {
    audit.push(e);
    metrics.observeAudit(e);
    notifier.onAudit(e);
  };
  const engine = new DecisionEngine({ store, policy, clock: () => clock.now, audit: sink });
  const factors = new FactorService({ store, keyring, policy, clock: () => clock.now, audit: sink, completeChallenge: (id) => engine.completeChallenge(id) });
  const outOfBand = new OutOfBandService({ store, keyring, policy, sender, factors, clock: () => clock.now, audit: sink });
  const keys = new ApiKeyring([
    { key: KEYS.all },
    { key: KEYS.decide, scopes: ['decide'] },
    { key: KEYS.mfa, scopes: ['mfa'] },
    { key: KEYS.admin, scopes: ['admin'] },
  ]);
  const app = createApp({
    engine,
    factors,
    outOfBand,
    store,
    keys,
    keyring,
    metrics,
    trustedProxies: compileNetworkList(options.trustedProxies ?? []),
    onDecision: (r) => decisions.push(r),
    logError: (err) => unexpected.push(err),
  });
  return {
    app,
    store,
    engine,
    factors,
    outOfBand,
    sender,
    notifier,
    keyring,
    metrics,
    decisions,
    audit,
    unexpected,
    dir,
    dbPath,
    clock,
    close: async () => {
      await notifier.drain();
      await sender.close();
      await store.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A JSON request with an API key (all scopes unless given). */
export function call(s: TestService, method: string, path: string, body?: unknown, key: string = KEYS.all) {
  return s.app.request(path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}
