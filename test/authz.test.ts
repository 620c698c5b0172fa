// The gateway pre-auth hook against a real SQLite store, a real keyring and the real engine, with the exact
// request shapes nginx auth_request, Traefik ForwardAuth, Caddy forward_auth and Envoy ext_authz send.
// Under app.request there is no TCP peer: the peer is injected (the gateway's address unless a test says).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DecisionEngine, type DecisionRecord } from '../src/engine.js';
import { createKeyring, loadKeyring, type Keyring } from '../src/factors/crypto.js';
import { gatewayConfig, type GatewayConfigInput } from '../src/http/authz/gateway-config.js';
import { authzRoutes, type AuthzOptions } from '../src/http/authz/routes.js';
import { createMetrics } from '../src/http/metrics.js';
import { SESSION_COOKIE, signSession } from '../src/http/session.js';
import { parsePolicy } from '../src/policy/index.js';
import { openSqliteStore, type SqliteStore } from '../src/store/index.js';

const POLICY = `
mfa_enforcement:
  all_users: true
  grace_period: 0_days
  risk_based_prompting:
    - new_device: prompt_mfa
    - new_location: prompt_mfa
    - sensitive_action: require_mfa
  remember_mfa: 12_hours
  step_up_max_age: 5m
sensitive_actions: ["POST /admin/**"]
networks:
  blocked: [198.51.100.0/24]
location:
  unknown_location: known
`;

const GATEWAY = '10.0.0.2';
const AUTH_PROXY = '10.0.0.3';
const CLIENT = '203.0.113.7';
const BLOCKED_CLIENT = '198.51.100.9';
const APP = 'app.example.com';
const PORTAL = 'https://auth.example.com/mfa';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const START = Date.parse('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;

interface Hook {
  app: Hono;
  store: SqliteStore;
  engine: DecisionEngine;
  keyring: Keyring;
  clock: { now: number };
  decisions: DecisionRecord[];
  errors: unknown[];
  /** The direct peer the next requests come from. */
  peer: { address: string | null };
  metrics: ReturnType<typeof createMetrics>;
  close(): Promise<void>;
}

function startHook(options: { config?: GatewayConfigInput; engine?: AuthzOptions['engine'] } = {}): Hook {
  const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-authz-'));
  const store = openSqliteStore({ path: join(dir, 'store.db') });
  const keyring = loadKeyring({ env: {}, dataDir: dir, log: () => {} });
  const clock = { now: START };
  const engine = new DecisionEngine({ store, policy: parsePolicy(POLICY, 'test.yaml'), clock: () => clock.now });
  const decisions: DecisionRecord[] = [];
  const errors: unknown[] = [];
  const peer = { address: GATEWAY as string | null };
  const metrics = createMetrics({ collectDefault: false });
  const config = gatewayConfig({ trustedProxies: [`${GATEWAY}/32`, AUTH_PROXY], portalUrl: PORTAL, ...options.config });
  const app = new Hono();
  app.route(
    '/',
    authzRoutes({
      engine: options.engine ?? engine,
      keyring,
      config,
      peer: () => peer.address,
      metrics,
      onDecision: (r) => decisions.push(r),
      logError: (err) => errors.push(err),
      clock: () => clock.now,
    }),
  );
  return {
    app,
    store,
    engine,
    keyring,
    clock,
    decisions,
    errors,
    peer,
    metrics,
    close: async () => {
      await store.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The original request the end user made, as the gateway saw it. */
interface Original {
  method?: string;
  /** Path and query. */
  uri?: string;
  /** null: the authenticating proxy set no user header. */
  user?: string | null;
  cookie?: string;
  /** The address the gateway saw the client connect from. */
  client?: string;
  /** X-Forwarded-For the client itself sent (a spoof). */
  clientXff?: string;
  extra?: Record<string, string>;
}

interface Shape {
  name: string;
  /** 401 (nginx: the redirect in X-MFA-Redirect) or 302 (Location). */
  challengeStatus: 401 | 302;
  request(o: Original): { path: string; init: RequestInit };
}

function userHeader(o: Original): Record<string, string> {
  return o.user === null ? {} : { 'remote-user': o.user ?? 'alice' };
}
function browserHeaders(o: Original): Record<string, string> {
  return {
    'user-agent': UA,
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'accept-language': 'en-GB,en;q=0.9',
    ...(o.cookie !== undefined ? { cookie: o.cookie } : {}),
  };
}
/** X-Forwarded-For after a proxy appended the address it saw to what it was given. */
function appended(o: Original, ...hops: string[]): string {
  return [...(o.clientXff ? [o.clientXff] : []), o.client ?? CLIENT, ...hops].join(', ');
}

const SHAPES: Shape[] = [
  {
    // examples/nginx: auth_request /internal/authz; location = /internal/authz { internal; proxy_pass
    // http://mfa-gate/v1/authz/auth-request; proxy_pass_request_body off; proxy_set_header Content-Length "";
    // proxy_set_header X-Original-URL $scheme://$http_host$request_uri; X-Original-Method $request_method;
    // X-Forwarded-For $proxy_add_x_forwarded_for; } The subrequest carries the original headers (cookie,
    // user agent, the authenticating proxy's Remote-User), Host becomes the upstream's.
    name: 'nginx auth_request',
    challengeStatus: 401,
    request: (o) => ({
      path: '/v1/authz/auth-request',
      init: {
        method: 'GET',
        headers: {
          host: 'mfa-gate:8080',
          connection: 'close',
          'x-original-url': `https://${APP}${o.uri ?? '/app/page'}`,
          'x-original-method': o.method ?? 'GET',
          'x-forwarded-for': appended(o),
          ...userHeader(o),
          ...browserHeaders(o),
          ...o.extra,
        },
      },
    }),
  },
  {
    // Traefik ForwardAuth (pkg/middlewares/auth/forward.go): a GET to the address with the original headers
    // copied (hop-by-hop removed), X-Forwarded-For (trustForwardHeader: the prior chain + the peer it saw, here
    // the authenticating proxy in front), X-Forwarded-Method, -Proto, -Port, -Host, -Uri; Go adds
    // Accept-Encoding; Host is the address's. The entrypoint added X-Forwarded-Server and X-Real-Ip.
    name: 'Traefik ForwardAuth',
    challengeStatus: 302,
    request: (o) => ({
      path: '/v1/authz/forward-auth',
      init: {
        method: 'GET',
        headers: {
          host: 'mfa-gate:8080',
          'accept-encoding': 'gzip',
          'x-forwarded-for': appended(o, AUTH_PROXY),
          'x-forwarded-method': o.method ?? 'GET',
          'x-forwarded-proto': 'https',
          'x-forwarded-port': '443',
          'x-forwarded-host': APP,
          'x-forwarded-uri': o.uri ?? '/app/page',
          'x-forwarded-server': 'traefik-7d9f',
          'x-real-ip': AUTH_PROXY,
          ...userHeader(o),
          ...browserHeaders(o),
          ...o.extra,
        },
      },
    }),
  },
  {
    // Caddy forward_auth: reverse_proxy with `method GET`, `rewrite /v1/authz/forward-auth`, header_up
    // X-Forwarded-Method {method} and X-Forwarded-Uri {uri}; reverse_proxy sets X-Forwarded-For, -Proto,
    // -Host and keeps the original Host.
    name: 'Caddy forward_auth',
    challengeStatus: 302,
    request: (o) => ({
      path: '/v1/authz/forward-auth',
      init: {
        method: 'GET',
        headers: {
          host: APP,
          'x-forwarded-for': appended(o),
          'x-forwarded-method': o.method ?? 'GET',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': APP,
          'x-forwarded-uri': o.uri ?? '/app/page',
          ...userHeader(o),
          ...browserHeaders(o),
          ...o.extra,
        },
      },
    }),
  },
  {
    // Envoy ext_authz, HTTP service with path_prefix /v1/authz/ext-authz: the original method and path
    // (with query) after the prefix, the original :authority as Host, Content-Length 0, the original headers
    // (allowed_headers: cookie, user-agent, remote-user, x-forwarded-*), x-forwarded-for with the client
    // appended by the HCM (use_remote_address), x-forwarded-proto, x-request-id, x-envoy-*.
    name: 'Envoy ext_authz',
    challengeStatus: 302,
    request: (o) => ({
      path: `/v1/authz/ext-authz${o.uri ?? '/app/page'}`,
      init: {
        method: o.method ?? 'GET',
        headers: {
          host: APP,
          'content-length': '0',
          'x-forwarded-for': appended(o),
          'x-forwarded-proto': 'https',
          'x-request-id': randomUUID(),
          'x-envoy-expected-rq-timeout-ms': '250',
          ...userHeader(o),
          ...browserHeaders(o),
          ...o.extra,
        },
      },
    }),
  },
];

function send(h: Hook, shape: Shape, o: Original = {}): Promise<Response> {
  const { path, init } = shape.request(o);
  return Promise.resolve(h.app.request(path, init));
}

/** Where the answer sends the user for MFA (Location, or nginx's X-MFA-Redirect). */
function redirectOf(shape: Shape, res: Response): URL {
  const target = shape.challengeStatus === 302 ? res.headers.get('location') : res.headers.get('x-mfa-redirect');
  expect(target).toBeTruthy();
  if (shape.challengeStatus === 302) expect(res.headers.get('x-mfa-redirect')).toBe(target);
  return new URL(target as string);
}

function expectChallenge(shape: Shape, res: Response, decision: 'prompt_mfa' | 'require_mfa', original: string | null): URL {
  expect(res.status).toBe(shape.challengeStatus);
  expect(res.headers.get('x-mfa-decision')).toBe(decision);
  expect(res.headers.get('remote-user')).toBeNull();
  const url = redirectOf(shape, res);
  expect(`${url.origin}${url.pathname}`).toBe(PORTAL);
  if (original !== null) expect(url.searchParams.get('rd')).toBe(original);
  return url;
}

function expectRefused(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get('x-mfa-decision')).toBe('error');
  expect(res.headers.get('remote-user')).toBeNull();
  expect(res.headers.get('location')).toBeNull();
}

async function expectAllowed(res: Response, user = 'alice') {
  expect(res.status).toBe(200);
  expect(res.headers.get('x-mfa-decision')).toBe('allow');
  expect(res.headers.get('remote-user')).toBe(user);
  expect(await res.text()).toBe('');
}

/** Enrolled, with a recent MFA on device `device` from CLIENT, and the session cookie the MFA page would set. */
async function mfaDone(h: Hook, user = 'alice', device = `dev-${user}`): Promise<string> {
  await h.store.setEnrolled(user, h.clock.now);
  await h.engine.recordMfa({ user_id: user, device_key: device, ip: CLIENT });
  return cookieFor(h.keyring, user, device, h.clock.now);
}

function cookieFor(keyring: Keyring, user: string, device: string, now: number, ttl = 12 * HOUR): string {
  return `theme=dark; ${SESSION_COOKIE}=${signSession(keyring, { user, device, mfa_at: now, expires_at: now + ttl })}; _ga=GA1.2.3`;
}

describe.each(SHAPES)('$name', (shape) => {
  let h: Hook;
  beforeEach(() => {
    h = startHook();
  });
  afterEach(async () => {
    await h.close();
  });

  it('sends a new device to the MFA page with the original URL and the challenge', async () => {
    await h.store.setEnrolled('alice', h.clock.now);
    const res = await send(h, shape, { uri: '/app/page?tab=2&q=a%20b' });
    const url = expectChallenge(shape, res, 'prompt_mfa', `https://${APP}/app/page?tab=2&q=a%20b`);
    const record = h.decisions.at(-1) as DecisionRecord;
    expect(url.searchParams.get('challenge')).toBe(record.decision.challenge_id);
    expect(res.headers.get('x-mfa-decision-id')).toBe(record.decision.decision_id);
    expect(record.context).toMatchObject({ user: { id: 'alice' }, ip: CLIENT, user_agent: UA, action: 'GET /app/page' });
    expect(record.context.device_id).toBeUndefined();
    expect(record.signals.new_device).toBe(true);
  });

  it('lets a known device with a recent MFA and a valid session cookie through, naming the user', async () => {
    const cookie = await mfaDone(h);
    const res = await send(h, shape, { cookie });
    await expectAllowed(res);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(h.decisions.at(-1)?.context.device_id).toBe('dev-alice');
  });

  it("treats another user's session cookie as a new device", async () => {
    await mfaDone(h);
    // bob's cookie naming alice's device: a valid signature, but not alice's session.
    const cookie = cookieFor(h.keyring, 'bob', 'dev-alice', h.clock.now);
    expectChallenge(shape, await send(h, shape, { cookie }), 'prompt_mfa', `https://${APP}/app/page`);
    expect(h.decisions.at(-1)?.context.device_id).toBeUndefined();
  });

  it('ignores a forged, tampered or expired session cookie', async () => {
    await mfaDone(h);
    const other = createKeyring(randomBytes(32));
    const forged = cookieFor(other, 'alice', 'dev-alice', h.clock.now);
    const genuine = signSession(h.keyring, { user: 'alice', device: 'dev-bob', mfa_at: h.clock.now, expires_at: h.clock.now + HOUR });
    const [payload, mac] = genuine.split('.') as [string, string];
    const claimed = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), d: 'dev-alice' })).toString('base64url');
    const tampered = `${SESSION_COOKIE}=${claimed}.${mac}`;
    const expired = cookieFor(h.keyring, 'alice', 'dev-alice', h.clock.now - 2 * HOUR, HOUR);
    for (const cookie of [forged, tampered, expired]) {
      expectChallenge(shape, await send(h, shape, { cookie }), 'prompt_mfa', `https://${APP}/app/page`);
      expect(h.decisions.at(-1)?.context.device_id).toBeUndefined();
    }
  });

  it('asks for a fresh MFA on a sensitive path once step_up_max_age has passed', async () => {
    const cookie = await mfaDone(h);
    await expectAllowed(await send(h, shape, { method: 'POST', uri: '/admin/x', cookie }));
    expect(h.decisions.at(-1)?.context.action).toBe('POST /admin/x');

    h.clock.now += 5 * 60_000;
    await expectAllowed(await send(h, shape, { method: 'POST', uri: '/admin/x', cookie }));
    h.clock.now += 1_000;
    const res = await send(h, shape, { method: 'POST', uri: '/admin/x?confirm=1', cookie });
    const url = expectChallenge(shape, res, 'require_mfa', `https://${APP}/admin/x?confirm=1`);
    expect(url.searchParams.get('challenge')).toBe(h.decisions.at(-1)?.decision.challenge_id);
    expect(h.decisions.at(-1)?.context.action).toBe('POST /admin/x');
    // The same device, not sensitive: remember_mfa (12 h) still holds.
    await expectAllowed(await send(h, shape, { method: 'GET', uri: '/admin/x', cookie }));
  });

  it('does not let an encoded or dotted path dodge a sensitive action', async () => {
    const cookie = await mfaDone(h);
    h.clock.now += 10 * 60_000;
    for (const uri of ['/%61dmin/x', '/app/../admin/x', '//admin//x']) {
      expectChallenge(shape, await send(h, shape, { method: 'POST', uri, cookie }), 'require_mfa', null);
      expect(h.decisions.at(-1)?.context.action).toBe('POST /admin/x');
    }
  });

  it('refuses the headers of a peer that is not a trusted proxy (user, IP, path)', async () => {
    const cookie = await mfaDone(h);
    for (const address of ['203.0.113.50', '10.0.0.4', null]) {
      h.peer.address = address;
      expectRefused(await send(h, shape, { cookie }));
      expectRefused(await send(h, shape, { cookie, extra: { 'x-forwarded-user': 'alice' } }));
    }
    expect(h.decisions).toHaveLength(0);
    // Node reports an IPv4 peer on a dual-stack socket as IPv4-mapped IPv6: still the gateway.
    h.peer.address = `::ffff:${GATEWAY}`;
    await expectAllowed(await send(h, shape, { cookie }));
  });

  it('reads X-Forwarded-For right to left: the entry the client wrote itself does not win', async () => {
    const cookie = await mfaDone(h);
    await expectAllowed(await send(h, shape, { cookie, clientXff: '192.0.2.1' }));
    expect(h.decisions.at(-1)?.context.ip).toBe(CLIENT);
    // A client in a blocked network claiming a clean address is still denied.
    const res = await send(h, shape, { cookie, client: BLOCKED_CLIENT, clientXff: `192.0.2.1, ${CLIENT}` });
    expect(res.status).toBe(403);
    expect(h.decisions.at(-1)?.context.ip).toBe(BLOCKED_CLIENT);
  });

  it('denies a blocked network with 403', async () => {
    const cookie = await mfaDone(h);
    const res = await send(h, shape, { cookie, client: BLOCKED_CLIENT });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-mfa-decision')).toBe('deny');
    expect(res.headers.get('remote-user')).toBeNull();
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('x-mfa-redirect')).toBeNull();
  });

  it('refuses a request without a user header', async () => {
    expectRefused(await send(h, shape, { user: null }));
    expectRefused(await send(h, shape, { user: '' }));
    expect(h.decisions).toHaveLength(0);
  });

  it('never answers 200 when the store is gone (fail_mode require_mfa)', async () => {
    const cookie = await mfaDone(h);
    await h.store.close();
    const res = await send(h, shape, { cookie });
    expect(res.status).not.toBe(200);
    expect(res.status).toBe(shape.challengeStatus);
    expect(res.headers.get('x-mfa-decision')).toBe('require_mfa');
    expect(res.headers.get('remote-user')).toBeNull();
    const url = redirectOf(shape, res);
    expect(url.searchParams.get('rd')).toBe(`https://${APP}/app/page`);
    expect(url.searchParams.has('challenge')).toBe(false);
  });

  it('fails closed (401) when deciding throws, and logs the error', async () => {
    const failing = startHook({ engine: { decideDetailed: () => Promise.reject(new Error('boom')) } });
    try {
      const cookie = await mfaDone(failing);
      const res = await send(failing, shape, { cookie });
      expectRefused(res);
      expect(failing.errors).toEqual([expect.objectContaining({ message: 'boom' })]);
      expect(await res.text()).not.toContain('boom');
    } finally {
      await failing.close();
    }
  });
});

describe('the gateway hook, shape-independent', () => {
  let h: Hook;
  beforeEach(() => {
    h = startHook();
  });
  afterEach(async () => {
    await h.close();
  });
  const [nginx, traefik, , envoy] = SHAPES as [Shape, Shape, Shape, Shape];

  it('takes the first configured user header present, and X-Forwarded-User when Remote-User is absent', async () => {
    const cookie = await mfaDone(h, 'carol');
    await expectAllowed(await send(h, traefik, { user: null, cookie, extra: { 'x-forwarded-user': 'carol' } }), 'carol');
    // Remote-User comes first: bob's header cannot borrow carol's session, nor the other way round.
    expectChallenge(traefik, await send(h, traefik, { user: 'bob', cookie, extra: { 'x-forwarded-user': 'carol' } }), 'require_mfa', `https://${APP}/app/page`);
    expect(h.decisions.at(-1)?.context.user.id).toBe('bob');
    // Present but empty: the authenticating proxy said "nobody"; the next header is not consulted.
    expectRefused(await send(h, traefik, { user: '', cookie, extra: { 'x-forwarded-user': 'carol' } }));
  });

  it('honours configured user headers only', async () => {
    const custom = startHook({ config: { userHeaders: ['X-Auth-Request-User'] } });
    try {
      const cookie = await mfaDone(custom);
      expectRefused(await send(custom, traefik, { cookie }));
      await expectAllowed(await send(custom, traefik, { user: null, cookie, extra: { 'x-auth-request-user': 'alice' } }));
    } finally {
      await custom.close();
    }
  });

  it('refuses a trusted proxy request missing what the shape needs', async () => {
    const cookie = await mfaDone(h);
    const drop = async (shape: Shape, header: string) => {
      const { path, init } = shape.request({ cookie });
      const headers = new Headers(init.headers);
      headers.delete(header);
      return h.app.request(path, { ...init, headers });
    };
    expectRefused(await drop(nginx, 'x-original-url'));
    expectRefused(await drop(nginx, 'x-original-method'));
    expectRefused(await drop(traefik, 'x-forwarded-uri'));
    expectRefused(await drop(traefik, 'x-forwarded-method'));
    expectRefused(await drop(traefik, 'x-forwarded-host'));
    expectRefused(await send(h, nginx, { cookie, extra: { 'x-original-url': '/relative/only' } }));
    expectRefused(await send(h, nginx, { cookie, extra: { 'x-original-url': 'javascript:alert(1)' } }));
    expectRefused(await send(h, traefik, { cookie, extra: { 'x-forwarded-host': 'evil.example/x' } }));
    expectRefused(await send(h, traefik, { cookie, extra: { 'x-forwarded-proto': 'gopher' } }));
    expectRefused(await send(h, traefik, { cookie, extra: { 'x-forwarded-uri': 'https://evil.example/' } }));
    expect(h.decisions).toHaveLength(0);
    expect(h.errors).toHaveLength(0);
  });

  it('resolves the default portal path against the original host', async () => {
    const relative = startHook({ config: { portalUrl: undefined } });
    try {
      await relative.store.setEnrolled('alice', relative.clock.now);
      const res = await send(relative, envoy, { uri: '/x?y=1' });
      expect(res.status).toBe(302);
      const location = res.headers.get('location') as string;
      expect(location.startsWith(`https://${APP}/mfa?rd=${encodeURIComponent(`https://${APP}/x?y=1`)}&challenge=`)).toBe(true);
    } finally {
      await relative.close();
    }
  });

  it('accepts the bare ext-authz prefix and any method Envoy forwards', async () => {
    const cookie = await mfaDone(h);
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const { init } = envoy.request({ method, cookie });
      const res = await h.app.request('/v1/authz/ext-authz', init);
      expect(res.status).toBe(200);
      expect(h.decisions.at(-1)?.context.action).toBe(`${method} /`);
    }
  });

  it('observes every decision in the metrics', async () => {
    await mfaDone(h);
    await send(h, traefik);
    const text = await h.metrics.registry.metrics();
    expect(text).toMatch(/mfa_gate_decisions_total\{decision="prompt_mfa"\} 1/);
  });

  it('fails closed when the decision log throws', async () => {
    const throwing = startHook();
    try {
      const cookie = await mfaDone(throwing);
      throwing.decisions.push = vi.fn(() => {
        throw new Error('disk full');
      });
      expectRefused(await send(throwing, nginx, { cookie }));
      expect(throwing.errors).toHaveLength(1);
    } finally {
      await throwing.close();
    }
  });
});
