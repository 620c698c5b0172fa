import { serve } from '@hono/node-server';
import { join } from 'node:path';
import { createDecisionLog } from '../decision-log.js';
import { PolicyError } from '../errors.js';
import { createApp } from '../http/app.js';
import { loadApiKeys } from '../http/auth.js';
import { createMetrics } from '../http/metrics.js';
import { createLogger } from '../log.js';
import { compileNetworkList, tryParseDuration } from '../policy/index.js';
import { PolicyHolder } from '../policy/holder.js';
import { preloadGeoData } from '../signals/index.js';
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
  usage: `usage: mfa-gate serve [--host H] [--port N] [--policy FILE] [--data-dir DIR] [--database-url URL]
                      [--decision-log FILE|stdout] [--known-limit N] [--known-max-age DURATION]
                      [--trusted-proxies CIDR,...] [--portal-url URL] [--user-headers H,...]
                      [--allowed-redirect-domains D,...] [--insecure-cookies]

Serves the decision and factor API. Every option also reads an environment variable:

  --host H               MFA_GATE_HOST             default 127.0.0.1
  --port N               MFA_GATE_PORT             default 8080
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

    const logger = createLogger();
    const metrics = createMetrics();
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
    const decisionLogDest = values['decision-log'] || join(dataDir, 'decisions.jsonl');
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
      apiKeys = loadApiKeys({ env, dataDir });
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
      const base = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
      const key = apiKeys.generated ?? '<your API key>';
      console.log(`mfa-gate listening on ${base}
  policy        ${values.policy} (version ${holder.current.version.slice(0, 12)}; edits reload, SIGHUP too)
  store         ${storeLabel}
  sender        ${services.sender.kind}${services.sender.kind === 'none' ? ' (codes by message and push unavailable; see --help)' : ''}
  decision log  ${decisionLogDest}
  API keys      ${apiKeys.source === 'generated' ? `generated into ${apiKeys.file} — this admin key is shown only now:\n                ${apiKeys.generated}` : `from ${apiKeys.source === 'env' ? 'MFA_GATE_API_KEYS' : apiKeys.file}`}

Try it:
  curl -s ${base}/healthz
  curl -s -X POST ${base}/v1/decide -H 'authorization: Bearer ${key}' -H 'content-type: application/json' \\
    -d '{"user":{"id":"alice"},"ip":"81.2.69.142","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}'
  API document: ${base}/openapi.json`);
    });

    const purge = async () => {
      try {
        const purged = await store.purgeExpired(Date.now());
        logger.info({ event: 'purged', ...purged }, 'expired rows purged');
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'purging expired rows failed; retrying at the next interval');
      }
    };
    let purgeTimer = setTimeout(function run() {
      void purge().finally(() => {
        purgeTimer = setTimeout(run, PURGE_EVERY_MS);
        purgeTimer.unref();
      });
    }, FIRST_PURGE_MS);
    purgeTimer.unref();

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      clearTimeout(purgeTimer);
      logger.info({ event: 'shutdown', signal }, 'stopping: no new connections, finishing in-flight requests');
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
