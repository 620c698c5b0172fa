// Who the user is, from the trusted headers the authenticating proxy sets: ONE table of cases, run against the
// shared rule (src/http/user-header.ts) and both places that read it, the gateway hook (/v1/authz/*) and the MFA
// page (GET /mfa). The two must never disagree: a hook that lets a request through for one user while the page
// signs in another (or signs in someone the hook refuses) breaks the session cookie's binding to the user.
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { ContextInput } from '../src/context.js';
import type { DecisionRecord } from '../src/engine.js';
import { createKeyring } from '../src/factors/crypto.js';
import { DEFAULT_USER_HEADERS, gatewayConfig } from '../src/http/authz/gateway-config.js';
import { authzRoutes } from '../src/http/authz/routes.js';
import { portalRoutes } from '../src/http/portal/index.js';
import { MAX_USER_ID, userFromHeaders } from '../src/http/user-header.js';
import { loadPolicy } from '../src/policy/index.js';

const PROXY = '10.0.0.2';
const keyring = createKeyring(randomBytes(32));
const policy = loadPolicy('policies/default.yaml');

interface Case {
  name: string;
  headers: Record<string, string>;
  /** The configured user headers; default Remote-User, then X-Forwarded-User. */
  userHeaders?: readonly string[];
  /** The user both call sites must see; null: no user (the hook refuses, the page says "sign in first"). */
  user: string | null;
}

const CASES: Case[] = [
  { name: 'Remote-User', headers: { 'remote-user': 'alice' }, user: 'alice' },
  { name: 'only X-Forwarded-User: the fallback', headers: { 'x-forwarded-user': 'bob' }, user: 'bob' },
  { name: 'both: the first configured wins', headers: { 'remote-user': 'alice', 'x-forwarded-user': 'bob' }, user: 'alice' },
  { name: 'first present, the next empty', headers: { 'remote-user': 'alice', 'x-forwarded-user': '' }, user: 'alice' },
  { name: 'no user header', headers: {}, user: null },
  { name: 'first present but empty: nobody, the next is not consulted', headers: { 'remote-user': '', 'x-forwarded-user': 'mallory' }, user: null },
  { name: 'first present but whitespace: nobody, the next is not consulted', headers: { 'remote-user': '   ', 'x-forwarded-user': 'mallory' }, user: null },
  { name: 'only the fallback, empty', headers: { 'x-forwarded-user': '' }, user: null },
  { name: 'surrounding whitespace is not part of the name', headers: { 'remote-user': ' alice\t' }, user: 'alice' },
  { name: 'a control character: nobody, the next is not consulted', headers: { 'remote-user': 'al\u0001ice', 'x-forwarded-user': 'bob' }, user: null },
  { name: `${MAX_USER_ID} characters`, headers: { 'remote-user': 'u'.repeat(MAX_USER_ID) }, user: 'u'.repeat(MAX_USER_ID) },
  { name: `${MAX_USER_ID + 1} characters: nobody`, headers: { 'remote-user': 'u'.repeat(MAX_USER_ID + 1), 'x-forwarded-user': 'bob' }, user: null },
  { name: 'header names are case-insensitive', headers: { 'REMOTE-USER': 'alice' }, user: 'alice' },
  {
    name: 'configured headers only: the defaults are not read',
    userHeaders: ['X-Auth-Request-User'],
    headers: { 'remote-user': 'alice', 'x-auth-request-user': 'carol' },
    user: 'carol',
  },
  { name: 'configured header empty: nobody', userHeaders: ['X-Auth-Request-User'], headers: { 'remote-user': 'alice', 'x-auth-request-user': '' }, user: null },
];

/** The gateway hook with an engine that allows everyone: 200 names the user in Remote-User, 401 is "no user". */
function hook(userHeaders: readonly string[]) {
  const seen: string[] = [];
  const engine = {
    decideDetailed: async (input: ContextInput) => {
      seen.push(input.user.id);
      return { decision: { decision: 'allow', decision_id: 'd-1' }, latency_ms: 0 } as unknown as DecisionRecord;
    },
  };
  const app = new Hono().route(
    '/',
    authzRoutes({ engine, keyring, config: gatewayConfig({ userHeaders, trustedProxies: [PROXY] }), peer: () => PROXY, logError: (err) => { throw err; } }),
  );
  return {
    seen,
    request: (headers: Record<string, string>) =>
      app.request('/v1/authz/auth-request', {
        headers: { 'x-original-url': 'https://app.example.com/page', 'x-original-method': 'GET', ...headers },
      }),
  };
}

/** The MFA page with an enrolled user: 200 is the sign-in form for the user asked about, 401 "sign in first". */
function page(userHeaders: readonly string[]) {
  const seen: string[] = [];
  const unused = async () => {
    throw new Error('not on GET /mfa for an enrolled user');
  };
  const app = new Hono().route(
    '/',
    portalRoutes({
      engine: { recordMfa: unused, completeChallenge: unused },
      factors: { enrollTotp: unused, confirmTotp: unused, verify: unused },
      store: {
        getActiveTotp: async (user: string) => {
          seen.push(user);
          return {} as never;
        },
        getChallenge: unused,
      },
      keyring,
      policy: () => policy,
      trustedProxies: [PROXY],
      userHeaders,
      allowedRedirectDomains: [],
      peer: () => PROXY,
    }),
  );
  return { seen, request: (headers: Record<string, string>) => app.request('/mfa', { headers }) };
}

describe('the user from trusted headers: one rule, both call sites', () => {
  describe.each(CASES)('$name', ({ headers, userHeaders = DEFAULT_USER_HEADERS, user }) => {
    it('the shared rule', () => {
      const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
      const got = userFromHeaders((name) => lower.get(name.toLowerCase()), userHeaders);
      expect(got.user).toBe(user);
    });

    it('the gateway hook', async () => {
      const h = hook(userHeaders);
      const res = await h.request(headers);
      if (user === null) {
        expect(res.status).toBe(401);
        expect(res.headers.get('x-mfa-decision')).toBe('error');
        expect(h.seen).toEqual([]);
      } else {
        expect(res.status).toBe(200);
        expect(res.headers.get('remote-user')).toBe(user);
        expect(h.seen).toEqual([user]);
      }
    });

    it('the MFA page', async () => {
      const p = page(userHeaders);
      const res = await p.request(headers);
      if (user === null) {
        expect(res.status).toBe(401);
        expect(await res.text()).toContain('Sign in through your gateway first');
        expect(p.seen).toEqual([]);
      } else {
        expect(res.status).toBe(200);
        expect(p.seen).toEqual([user]);
      }
    });
  });

  it('the rule on raw values (no Headers normalisation): whitespace of any kind is empty', () => {
    const get = (values: Record<string, string>) => (name: string) => values[name];
    for (const blank of ['', ' ', '\t', ' \t ', '\u00a0']) {
      expect(userFromHeaders(get({ 'Remote-User': blank, 'X-Forwarded-User': 'mallory' }), DEFAULT_USER_HEADERS)).toMatchObject({ user: null });
    }
    expect(userFromHeaders(get({ 'X-Forwarded-User': ' bob ' }), DEFAULT_USER_HEADERS)).toEqual({ user: 'bob', header: 'X-Forwarded-User' });
    expect(userFromHeaders(get({}), DEFAULT_USER_HEADERS)).toEqual({ user: null, reason: 'no user header' });
    // The reason names the header, never the value (it goes into the hook's 401 text).
    const empty = userFromHeaders(get({ 'Remote-User': '' }), DEFAULT_USER_HEADERS);
    expect(empty).toEqual({ user: null, reason: 'the Remote-User header is empty (no authenticated user)' });
  });
});
