// The Hono application, built from services made once at start (never per request).
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { DecisionEngine, DecisionRecord } from '../engine.js';
import { ErrorCode, MfaGateError } from '../errors.js';
import type { Keyring } from '../factors/crypto.js';
import type { OutOfBandService } from '../factors/out-of-band.js';
import type { FactorService } from '../factors/service.js';
import { compileNetworkList } from '../policy/index.js';
import type { CompiledPolicy, NetworkList } from '../policy/types.js';
import type { Store } from '../store/types.js';
import type { ApiKeyring } from './auth.js';
import { gatewayConfig, type GatewayConfigInput } from './authz/gateway-config.js';
import { authzRoutes } from './authz/routes.js';
import { MAX_BODY_BYTES } from './body.js';
import { errorResponse, fromError, notFound } from './errors.js';
import type { Metrics } from './metrics.js';
import { decideRoutes } from './routes/decide.js';
import { healthRoutes } from './routes/health.js';
import { mfaRoutes } from './routes/mfa.js';
import { outOfBandRoutes } from './routes/out-of-band.js';
import { portalRoutes } from './portal/index.js';
import { recoveryRoutes } from './routes/recovery.js';
import { userRoutes } from './routes/users.js';

export interface AppServices {
  engine: DecisionEngine;
  factors: FactorService;
  /** Codes by message and push approval (issue #7). */
  outOfBand: OutOfBandService;
  store: Store;
  keys: ApiKeyring;
  /** Signs and checks the MFA session cookie (the gateway hook and the MFA page). */
  keyring: Keyring;
  /** The gateway hook's settings (user headers, portal URL); trusted proxies come from `trustedProxies`. */
  gateway?: Omit<GatewayConfigInput, 'trustedProxies'>;
  /** The MFA page's settings: where it may send users back to, and cookie attributes. */
  portal?: { allowedRedirectDomains?: readonly string[]; secureCookies?: boolean; cookieDomain?: string };
  /** The policy serving now (hot reload swaps it); default: the engine's. */
  policy?: () => CompiledPolicy;
  policyError?: () => { message: string } | null;
  metrics?: Metrics;
  onDecision?: (record: DecisionRecord) => void;
  /** Proxies whose X-Forwarded-For is believed when a decide body has no `ip`. */
  trustedProxies?: NetworkList;
  /** Where unexpected errors go (never request bodies: they may hold codes). */
  logError?: (err: unknown, requestId: string) => void;
}

export function createApp({
  engine,
  factors,
  outOfBand,
  store,
  keys,
  keyring,
  gateway = {},
  portal = {},
  policy = () => engine.policy,
  policyError,
  metrics,
  onDecision,
  trustedProxies = compileNetworkList([]),
  logError = (err, id) => console.error(`request ${id}:`, err),
}: AppServices) {
  const app = new Hono();
  if (metrics) {
    app.use(async (c, next) => {
      const started = performance.now();
      await next();
      metrics.observeHttp(c.req.method, c.req.routePath, c.res.status, (performance.now() - started) / 1000);
    });
  }
  const tooLarge = (c: Context) => errorResponse(c, 413, ErrorCode.PAYLOAD_TOO_LARGE, `the body is larger than ${MAX_BODY_BYTES} bytes`);
  const streamedLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  app.use('/v1/*', async (c, next) => {
    // With a Content-Length, Node's parser delivers exactly that many bytes, so the header decides. Hono's
    // bodyLimit (which counts a streamed body as it arrives) is kept for chunked bodies only: it forces a full
    // web Request per call and cost more than a whole bare request on the hot path.
    const length = c.req.header('content-length');
    if (length === undefined) return c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : streamedLimit(c, next);
    if (!/^\d+$/.test(length) || Number(length) > MAX_BODY_BYTES) return tooLarge(c);
    await next();
  });
  app.route('/', healthRoutes({ store, policy, ...(policyError ? { policyError } : {}), ...(metrics ? { metrics } : {}) }));
  app.route('/', decideRoutes({ engine, keys, trustedProxies, ...(metrics ? { metrics } : {}), ...(onDecision ? { onDecision } : {}) }));
  // Before mfaRoutes: their own scope check answers for them, mfaRoutes' /v1/mfa/* one is not run again.
  app.route('/', outOfBandRoutes(outOfBand, keys, metrics));
  app.route('/', mfaRoutes(factors, outOfBand, keys, metrics));
  app.route('/', userRoutes(store, keys, keyring));
  app.route('/', recoveryRoutes(factors, keys));
  app.route(
    '/',
    authzRoutes({
      engine,
      keyring,
      config: gatewayConfig({ ...gateway, trustedProxies }),
      logError,
      ...(metrics ? { metrics } : {}),
      ...(onDecision ? { onDecision } : {}),
    }),
  );
  app.route(
    '/',
    portalRoutes({
      engine,
      factors,
      store,
      keyring,
      policy,
      trustedProxies,
      allowedRedirectDomains: portal.allowedRedirectDomains ?? [],
      ...(gateway.userHeaders ? { userHeaders: gateway.userHeaders } : {}),
      ...(portal.secureCookies !== undefined ? { secureCookies: portal.secureCookies } : {}),
      ...(portal.cookieDomain !== undefined ? { cookieDomain: portal.cookieDomain } : {}),
    }),
  );
  app.notFound(notFound);
  app.onError((err, c) => {
    if (err instanceof MfaGateError && err.status < 500) return fromError(c, err);
    if (err instanceof MfaGateError && err.code === ErrorCode.STORE_UNAVAILABLE) return fromError(c, err);
    const requestId = randomUUID();
    logError(err, requestId);
    return errorResponse(c, 500, ErrorCode.INTERNAL, `unexpected error; request id ${requestId}`, [{ request_id: requestId }]);
  });
  return app;
}
