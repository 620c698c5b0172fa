// The gateway pre-auth hook (DESIGN.md, `/v1/authz/*`): before every request a gateway asks whether it may
// pass. The user comes from a header the authenticating proxy set, the action is the original request's
// `METHOD /path`, the client IP is X-Forwarded-For read right to left, the device is the one the signed MFA
// session cookie names. All of that is believed only from a trusted proxy; anything else, and any error, is
// refused (401): the hook fails closed and never answers 200 unless the engine allowed.
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { ContextInput } from '../../context.js';
import type { DecisionEngine, DecisionRecord } from '../../engine.js';
import type { Keyring } from '../../factors/crypto.js';
import { clientIpFromProxy } from '../client-ip.js';
import type { Metrics } from '../metrics.js';
import { peerAddress } from '../routes/decide.js';
import { readSession } from '../session.js';
import { userFromHeaders } from '../user-header.js';
import type { GatewayConfig } from './gateway-config.js';
import {
  fromAuthRequest,
  fromExtAuthz,
  fromForwardAuth,
  portalRedirect,
  UndecidableRequest,
  type HeaderGetter,
  type OriginalRequest,
} from './original-request.js';

export const AUTH_REQUEST_PATH = '/v1/authz/auth-request';
export const FORWARD_AUTH_PATH = '/v1/authz/forward-auth';
export const EXT_AUTHZ_PREFIX = '/v1/authz/ext-authz';

/** The answer's kind: the engine's decision, or `error` for a request refused or an internal error. */
export const DECISION_HEADER = 'X-MFA-Decision';
/** The decision's id (as in the decision log), on every answer the engine made. */
export const DECISION_ID_HEADER = 'X-MFA-Decision-Id';
/** The MFA page URL with `rd` and `challenge`: nginx turns its 401 into a 302 there (auth_request_set). */
export const REDIRECT_HEADER = 'X-MFA-Redirect';
/** On allow: the user, for the gateway to pass on to the application. */
export const USER_HEADER = 'Remote-User';

export type GatewayShape = 'auth-request' | 'forward-auth' | 'ext-authz';

export interface AuthzOptions {
  engine: Pick<DecisionEngine, 'decideDetailed'>;
  /** Verifies the MFA session cookie. */
  keyring: Keyring;
  config: GatewayConfig;
  /** The direct TCP peer's address (default: the socket's, via @hono/node-server); tests inject one. */
  peer?: (c: Context) => string | null;
  metrics?: Pick<Metrics, 'observeDecision'>;
  /** Every decision, for the decision log. */
  onDecision?: (record: DecisionRecord) => void;
  /** Unexpected errors (the answer is then 401); never given request headers or cookies. */
  logError?: (err: unknown, requestId: string) => void;
  /** For the session cookie's expiry (default Date.now). */
  clock?: () => number;
}

/** The most session cookies of our name one request may carry that are checked (a cookie jar tossed from a
 * sibling domain may add some); each costs an HMAC per key. */
const MAX_SESSION_CANDIDATES = 4;
const MAX_USER_AGENT = 2048;

export function authzRoutes({
  engine,
  keyring,
  config,
  peer = peerAddress,
  metrics,
  onDecision,
  logError = (err, id) => console.error(`authz request ${id}:`, err),
  clock = Date.now,
}: AuthzOptions): Hono {
  const { trustedProxies, userHeaders, portalUrl, cookieName } = config;

  async function hook(c: Context, shape: GatewayShape): Promise<Response> {
    try {
      const address = peer(c);
      if (address === null || trustedProxies.size === 0 || trustedProxies.match(address) === null) {
        return refused(c, 'the request did not come from a trusted proxy');
      }
      const h: HeaderGetter = (name) => c.req.header(name);
      const who = userFromHeaders(h, userHeaders);
      if (who.user === null) return refused(c, who.reason);
      const user = who.user;

      let original: OriginalRequest;
      try {
        original =
          shape === 'auth-request'
            ? fromAuthRequest(h)
            : shape === 'forward-auth'
              ? fromForwardAuth(h)
              : fromExtAuthz(c.req.method, c.req.url, EXT_AUTHZ_PREFIX, h);
      } catch (err) {
        if (err instanceof UndecidableRequest) return refused(c, err.message);
        throw err;
      }

      const input: ContextInput = {
        user: { id: user },
        ip: clientIpFromProxy(address, h('x-forwarded-for'), trustedProxies),
        user_agent: (h('user-agent') ?? '').slice(0, MAX_USER_AGENT),
        action: `${original.method} ${original.path}`,
      };
      const device = sessionDevice(h('cookie'), user);
      if (device !== null) input.device_id = device;

      const record = await engine.decideDetailed(input);
      metrics?.observeDecision(record.decision, record.latency_ms / 1000);
      onDecision?.(record);
      return answer(c, shape, user, original, record);
    } catch (err) {
      const requestId = randomUUID();
      try {
        logError(err, requestId);
      } catch {
        // The answer stays 401 whatever the logger does.
      }
      return respond(c, 401, 'error', {}, 'mfa-gate: internal error\n');
    }
  }

  /** The device of a valid, unexpired session cookie for this user; a cookie for another user or a forged one
   * is ignored (the engine then keys the device by user agent). */
  function sessionDevice(cookieHeader: string | undefined, user: string): string | null {
    if (!cookieHeader) return null;
    const now = clock();
    let checked = 0;
    for (const value of cookieValues(cookieHeader, cookieName)) {
      if (checked++ >= MAX_SESSION_CANDIDATES) break;
      const session = readSession(keyring, value, now);
      if (session !== null && session.user === user && session.device !== '') return session.device;
    }
    return null;
  }

  function answer(c: Context, shape: GatewayShape, user: string, original: OriginalRequest, record: DecisionRecord): Response {
    const d = record.decision;
    const id = { [DECISION_ID_HEADER]: d.decision_id };
    switch (d.decision) {
      case 'allow':
        return respond(c, 200, 'allow', { ...id, [USER_HEADER]: user });
      case 'deny':
        return respond(c, 403, 'deny', id);
      case 'prompt_mfa':
      case 'require_mfa': {
        const redirect = portalRedirect(portalUrl, original.url, d.challenge_id);
        const headers = { ...id, [REDIRECT_HEADER]: redirect };
        // nginx's auth_request accepts only 2xx, 401 and 403: the 401 carries the redirect in a header.
        if (shape === 'auth-request') return respond(c, 401, d.decision, headers);
        return respond(c, 302, d.decision, { ...headers, Location: redirect });
      }
      default:
        // A decision kind this hook does not know: never let it through.
        return respond(c, 401, 'error', id, 'mfa-gate: unknown decision\n');
    }
  }

  const app = new Hono();
  // nginx and Traefik send GET, Caddy rewrites to GET; the original method is in a header, so any is accepted.
  app.all(AUTH_REQUEST_PATH, (c) => hook(c, 'auth-request'));
  app.all(FORWARD_AUTH_PATH, (c) => hook(c, 'forward-auth'));
  // Envoy appends the original path to the prefix and sends the original method: `*` also matches the bare prefix.
  app.all(`${EXT_AUTHZ_PREFIX}/*`, (c) => hook(c, 'ext-authz'));
  return app;
}

function refused(c: Context, reason: string): Response {
  return respond(c, 401, 'error', {}, `mfa-gate: ${reason}\n`);
}

function respond(c: Context, status: 200 | 302 | 401 | 403, decision: string, headers: Record<string, string>, body: string | null = null): Response {
  const all: Record<string, string> = { [DECISION_HEADER]: decision, 'Cache-Control': 'no-store', ...headers };
  if (body === null) return c.body(null, status, all);
  all['Content-Type'] = 'text/plain; charset=utf-8';
  return c.body(body, status, all);
}

/** Every value of cookie `name` in a Cookie header (a jar may hold several with one name: paths, domains). */
export function cookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  for (const part of header.split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        continue;
      }
    }
    if (value !== '') values.push(value);
  }
  return values;
}
