import { serve } from '@hono/node-server';
import cluster from 'node:cluster';
import { statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createDecisionLog } from '../decision-log.js';
import { PolicyError } from '../errors.js';
import { createApp } from '../http/app.js';
import { loadApiKeys, type LoadedApiKeys } from '../http/auth.js';
import { workerScrape } from '../http/cluster-metrics.js';
import { createMetrics } from '../http/metrics.js';
import { Registry } from 'prom-client';
import { createLogger } from '../log.js';
import { compileNetworkList, loadPolicy, tryParseDuration } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/types.js';
import { PolicyHolder } from '../policy/holder.js';
import { preloadGeoData } from '../signals/index.js';
import { MAX_WORKERS, runPrimary, workerSlot } from './cluster.js';
import { UsageError, parse, type Command } from './command.js';
import { openServices } from './services.js';

// Issue #4: in-flight requests get this long to finish after SIGTERM before the process exits anyway.
const SHUTDOWN_GRACE_MS = 10_000;
// Retention (issue #6): expired rows are purged a minute after start (not during it: a large first purge
// must not delay readiness), then every ten minutes. Several instances may purge at once; deletes are
// idempotent, so no coordination is needed.
const FIRST_PURGE_MS = 60_000;
const PURGE_EVERY_MS = 10 * 60_000;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the decision service (HTTP)',
  usage: `usage: mfa-gate serve [--host H] [--port N] [--workers N|auto] [--policy FILE] [--data-dir DIR]
                      [--database-url URL] [--decision-log FILE|stdout] [--known-limit N] [--known-max-age DURATION]
                      [--trusted-proxies CIDR,...] [--portal-url URL] [--user-headers H,...]
                      [--allowed-redirect-domains D,...] [--insecure-cookies]

Serves the decision and factor API. Every option also reads an environment variable:

  --host H               MFA_GATE_HOST             default 127.0.0.1
  --port N               MFA_GATE_PORT             default 8080
  --workers N|auto       MFA_GATE_WORKERS          processes serving the port, default 1; auto = one per core. One
                                                   process uses one core: give it the cores the machine has for it
  --policy FILE          MFA_GATE_POLICY           default policies/default.yaml (reloaded on change and on SIGHUP)
  --data-dir DIR         MFA_GATE_DATA_DIR         default ./data: the SQLite store (mfa-gate.db), secret.key, api-keys
  --database-url URL     MFA_GATE_DATABASE_URL     postgres://user:pass@host:5432/db[?schema=NAME]: PostgreSQL instead
                                                   of SQLite, for several instances (each needs the same
                                                   MFA_GATE_SECRET_KEY; see README "Several instances")
  --known-limit N        MFA_GATE_KNOWN_LIMIT      known devices (and locations) kept per user, default 50
  --known-max-age D      MFA_GATE_KNOWN_MAX_AGE    a device or location unseen this long is new again, default 180d
  --decision-log DEST    MFA_GATE_DECISION_LOG     default DIR/decisions.jsonl; "stdout" for standard output
  --trusted-proxies LIST MFA_GATE_TRUSTED_PROXIES  CIDRs of the gateway / authenticating proxy: only their
                                                   X-Forwarded-For and user headers are believed (default: none)
  --portal-url URL       MFA_GATE_PORTAL_URL       the MFA page as the browser reaches it (default /mfa on the app's host)
  --user-headers LIST    MFA_GATE_USER_HEADERS     headers naming the signed-in user (default Remote-User,X-Forwarded-User)
  --allowed-redirect-domains LIST  MFA_GATE_ALLOWED_REDIRECT_DOMAINS  hosts the MFA page may send users back to
                                                   (".example.com" for subdomains; relative paths always)
  --insecure-cookies     MFA_GATE_INSECURE_COOKIES=1  session cookie without Secure (plain-HTTP tests only)

API keys: MFA_GATE_API_KEYS=key1,key2:decide+mfa (a key without scopes has all: decide, mfa, admin), else
DIR/api-keys (one per line, mode 0600); with neither, an admin key is generated there and printed once.
Secrets: MFA_GATE_SECRET_KEY (base64, 32 bytes), else DIR/secret.key, generated on first start.
Sender of codes by message, push requests and security notifications (the policy's factors.message,
factors.push and notifications): MFA_GATE_SENDER=webhook|log|none (default none; log is for development
and refused when NODE_ENV=production), MFA_GATE_WEBHOOK_URL, MFA_GATE_WEBHOOK_SECRET (at least 32 bytes; the
receiver checks the X-MFA-Gate-Signature with it).`,
  async run(argv) {
    const env = process.env;
    const { values } = parse(argv, {
      host: { type: 'string', default: env.MFA_GATE_HOST ?? '127.0.0.1' },
      port: { type: 'string', default: env.MFA_GATE_PORT ?? '8080' },
      workers: { type: 'string', default: env.MFA_GATE_WORKERS ?? '1' },
      policy: { type: 'string', default: env.MFA_GATE_POLICY ?? 'policies/default.yaml' },
      'data-dir': { type: 'string', default: env.MFA_GATE_DATA_DIR ?? 'data' },
      'database-url': { type: 'string', default: env.MFA_GATE_DATABASE_URL ?? '' },
      'known-limit': { type: 'string', default: env.MFA_GATE_KNOWN_LIMIT ?? '' },
      'known-max-age': { type: 'string', default: env.MFA_GATE_KNOWN_MAX_AGE ?? '' },
      'decision-log': { type: 'string', default: env.MFA_GATE_DECISION_LOG ?? '' },
      'trusted-proxies': { type: 'string', default: env.MFA_GATE_TRUSTED_PROXIES ?? '' },
      'portal-url': { type: 'string', default: env.MFA_GATE_PORTAL_URL ?? '/mfa' },
      'user-headers': { type: 'string', default: env.MFA_GATE_USER_HEADERS ?? 'Remote-User,X-Forwarded-User' },
      'allowed-redirect-domains': { type: 'string', default: env.MFA_GATE_ALLOWED_REDIRECT_DOMAINS ?? '' },
      'insecure-cookies': { type: 'boolean', default: env.MFA_GATE_INSECURE_COOKIES === '1' },
    });
    const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
    const gateway = { portalUrl: values['portal-url'], userHeaders: list(values['user-headers']) };
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: "${values.port}" is not a port number`);
    const workers = values.workers === 'auto' ? availableParallelism() : Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
      throw new UsageError(`--workers: "${values.workers}" is not a number of processes from 1 to ${MAX_WORKERS}, or auto`);
    }
    const dataDir = values['data-dir'];
    const retention: { knownDevices?: number; knownLocations?: number; knownMaxAgeMs?: number } = {};
    if (values['known-limit'] !== '') {
      const n = Number(values['known-limit']);
      if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--known-limit: "${values['known-limit']}" is not a positive integer`);
      retention.knownDevices = n;
      retention.knownLocations = n;
    }
    if (values['known-max-age'] !== '') {
      const seconds = tryParseDuration(values['known-max-age']);
      if (seconds === null || seconds <= 0) throw new UsageError(`--known-max-age: "${values['known-max-age']}" is not a duration (e.g. 180d, 90_days)`);
      retention.knownMaxAgeMs = seconds * 1000;
    }
    let trustedProxies;
    try {
      trustedProxies = compileNetworkList(values['trusted-proxies'].split(',').map((s) => s.trim()).filter(Boolean));
    } catch (err) {
      throw new UsageError(`--trusted-proxies: ${(err as Error).message}`);
    }

    const decisionLogDest = values['decision-log'] || join(dataDir, 'decisions.jsonl');
    if (workers > 1 && (decisionLogDest === 'stdout' || notARegularFile(decisionLogDest))) {
      // Several processes writing one pipe (or terminal, or device) interleave any write over PIPE_BUF (4 KiB),
      // so lines would tear; appends to a regular file are whole.
      throw new UsageError(`--decision-log ${decisionLogDest} needs --workers 1: several processes would interleave their lines; give a regular file`);
    }
    const logger = createLogger();
    if (workers > 1 && cluster.isPrimary) {
      return runCluster({ workers, logger, policyPath: values.policy, dataDir, databaseUrl: values['database-url'], retention, decisionLogDest, env });
    }
    const slot = workerSlot();
    const registry = new Registry();
    const metrics = createMetrics({ registry, ...(slot !== null ? { scrape: workerScrape(registry, slot) } : {}) });
    let holder: PolicyHolder;
    try {
      holder = new PolicyHolder({
        path: values.policy,
        log: logger,
        onReload: (r) => {
          metrics.observeReload(r);
          if (r.ok && r.changed) logger.info({ event: 'policy_reloaded', version: r.version }, 'policy reloaded');
        },
      });
    } catch (err) {
      console.error(err instanceof PolicyError ? err.message : `mfa-gate serve: ${(err as Error).message}`);
      return 1;
    }
    metrics.setPolicyVersion(holder.current.version);
    const decisionLog = createDecisionLog({ destination: decisionLogDest });
    const audit = (e: Parameters<typeof decisionLog.audit>[0]) => {
      decisionLog.audit(e);
      metrics.observeAudit(e);
    };
    let services;
    let apiKeys;
    try {
      services = await openServices({
        dataDir,
        databaseUrl: values['database-url'],
        retention,
        policy: () => holder.current,
        logger,
        audit,
      });
      // A worker never generates: the primary made the keys file before forking, so all workers share it.
      apiKeys = loadApiKeys({ env, dataDir, generate: slot === null });
    } catch (err) {
      holder.close();
      console.error(`mfa-gate serve: ${(err as Error).message}`);
      return 1;
    }
    const { store, storeLabel, engine, factors, keyring } = services;
    // geoip-lite loads its data on first use (~200 ms); pay that at start, not on the first request.
    preloadGeoData();
    const app = createApp({
      engine,
      factors,
      outOfBand: services.outOfBand,
      store,
      keys: apiKeys.keys,
      keyring,
      gateway,
      portal: { allowedRedirectDomains: list(values['allowed-redirect-domains']), secureCookies: !values['insecure-cookies'] },
      policy: () => holder.current,
      policyError: () => holder.lastError,
      metrics,
      trustedProxies,
      onDecision: (record) => decisionLog.write(record),
      logError: (err, requestId) => logger.error({ err, request_id: requestId }, 'unexpected error'),
    });
    const uninstallSighup = holder.installSighup();

    const server = serve({ fetch: app.fetch, hostname: values.host, port }, (info) => {
      // Under --workers the primary prints this once, for all of them.
      if (slot !== null) return;
      console.log(
        banner({
          address: info,
          policyPath: values.policy,
          version: holder.current.version,
          storeLabel,
          senderKind: services.sender.kind,
          decisionLogDest,
          apiKeys,
          workers: 1,
        }),
      );
    });

    const purge = async () => {
      try {
        const purged = await store.purgeExpired(Date.now());
        logger.info({ event: 'purged', ...purged }, 'expired rows purged');
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'purging expired rows failed; retrying at the next interval');
      }
    };
    // Under --workers only the first slot purges: the others would repeat the same deletes.
    let purgeTimer: NodeJS.Timeout | undefined =
      slot === null || slot === 0
        ? setTimeout(function run() {
            void purge().finally(() => {
              purgeTimer = setTimeout(run, PURGE_EVERY_MS);
              purgeTimer.unref();
            });
          }, FIRST_PURGE_MS)
        : undefined;
    purgeTimer?.unref();

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      clearTimeout(purgeTimer);
      logger.info({ event: 'shutdown', signal, ...(slot !== null ? { worker: slot } : {}) }, 'stopping: no new connections, finishing in-flight requests');
      const force = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS);
      force.unref();
      // close() stops accepting and calls back once in-flight requests are done.
      server.close(() => {
        uninstallSighup();
        holder.close();
        // services.close(): notifications in flight delivered, the sender closed, then the store.
        void Promise.allSettled([services.close(), decisionLog.close()]).then(() => process.exit(0));
      });
      (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    return -1;
  },
};

/** Whether `path` exists and is something other than a regular file (/dev/stdout, a FIFO, a device). */
function notARegularFile(path: string): boolean {
  try {
    return !statSync(path).isFile();
  } catch {
    return false; // not there yet: the decision log creates a regular file
  }
}

interface BannerInput {
  address: AddressInfo;
  policyPath: string;
  version: string;
  storeLabel: string;
  senderKind: string;
  decisionLogDest: string;
  apiKeys: LoadedApiKeys;
  workers: number;
}

/** What `serve` prints once it listens: where, with what, and a first request to try. */
function banner({ address, policyPath, version, storeLabel, senderKind, decisionLogDest, apiKeys, workers }: BannerInput): string {
  const base = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const key = apiKeys.generated ?? '<your API key>';
  return `mfa-gate listening on ${base}${workers > 1 ? ` (${workers} worker processes)` : ''}
  policy        ${policyPath} (version ${version.slice(0, 12)}; edits reload, SIGHUP too)
  store         ${storeLabel}
  sender        ${senderKind}${senderKind === 'none' ? ' (codes by message and push unavailable; see --help)' : ''}
  decision log  ${decisionLogDest}
  API keys      ${apiKeys.source === 'generated' ? `generated into ${apiKeys.file} — this admin key is shown only now:\n                ${apiKeys.generated}` : `from ${apiKeys.source === 'env' ? 'MFA_GATE_API_KEYS' : apiKeys.file}`}

Try it:
  curl -s ${base}/healthz
  curl -s -X POST ${base}/v1/decide -H 'authorization: Bearer ${key}' -H 'content-type: application/json' \\
    -d '{"user":{"id":"alice"},"ip":"81.2.69.142","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}'
  API document: ${base}/openapi.json`;
}

interface ClusterInput {
  workers: number;
  logger: ReturnType<typeof createLogger>;
  policyPath: string;
  dataDir: string;
  databaseUrl: string;
  retention: Parameters<typeof openServices>[0]['retention'];
  decisionLogDest: string;
  env: NodeJS.ProcessEnv;
}

/**
 * The primary of `serve --workers N` (src/cli/cluster.ts): everything that must happen once happens here before
 * any worker starts (the policy checked, the store opened and migrated, the secret key and API keys generated
 * on a first start), then the workers are forked and supervised. Resolves with the exit code.
 */
async function runCluster({ workers, logger, policyPath, dataDir, databaseUrl, retention, decisionLogDest, env }: ClusterInput): Promise<number> {
  // Loaded once to refuse a bad policy before any worker starts; the workers load and watch it themselves.
  let policy: CompiledPolicy;
  try {
    policy = loadPolicy(policyPath);
  } catch (err) {
    console.error(err instanceof PolicyError ? err.message : `mfa-gate serve: ${(err as Error).message}`);
    return 1;
  }
  let prepared: { storeLabel: string; senderKind: string; apiKeys: LoadedApiKeys };
  try {
    const services = await openServices({ dataDir, databaseUrl, retention, policy, logger });
    try {
      prepared = { storeLabel: services.storeLabel, senderKind: services.sender.kind, apiKeys: loadApiKeys({ env, dataDir }) };
    } finally {
      await services.close();
    }
  } catch (err) {
    console.error(`mfa-gate serve: ${(err as Error).message}`);
    return 1;
  }
  return runPrimary({
    workers,
    logger,
    shutdownGraceMs: SHUTDOWN_GRACE_MS,
    onListening: (address) => console.log(banner({ address, policyPath, version: policy.version, decisionLogDest, workers, ...prepared })),
  });
}
