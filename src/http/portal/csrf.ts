// CSRF defences of POST /mfa, two independent layers:
// 1. A double-submit token: the same random value in an HttpOnly SameSite=Strict cookie and in a hidden form
//    field, compared in constant time. The token also carries an HMAC over the user and the random part, so a
//    cookie planted from a sibling subdomain (cookie tossing) is useless: it must have been issued to this user.
// 2. An Origin / Sec-Fetch-Site check with hono/csrf, so a cross-site form post is refused before the token
//    is looked at.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { csrf as honoCsrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import type { Keyring } from '../../factors/crypto.js';

export const CSRF_COOKIE = 'mfa_gate_csrf';
export const CSRF_FIELD = 'csrf';
/** HKDF purpose of the token MAC: a key used for nothing else. */
const PURPOSE = 'mfa-csrf';
/** 144 random bits (OWASP CSRF cheat sheet: at least 128), 24 base64url characters. */
const RANDOM_BYTES = 18;
const TOKEN_RE = /^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{43}$/;

export function issueCsrfToken(keyring: Keyring, user: string): string {
  const random = randomBytes(RANDOM_BYTES).toString('base64url');
  return `${random}.${Buffer.from(keyring.hmac(PURPOSE, `${user}\n${random}`), 'hex').toString('base64url')}`;
}

/** Was this token issued to `user` under a key of the ring? */
export function csrfTokenValidFor(keyring: Keyring, user: string, token: string | undefined): boolean {
  if (token === undefined || !TOKEN_RE.test(token)) return false;
  const [random, mac] = token.split('.') as [string, string];
  const given = Buffer.from(mac, 'base64url');
  let valid = false;
  for (const candidate of keyring.hmacCandidates(PURPOSE, `${user}\n${random}`)) {
    const expected = Buffer.from(candidate, 'hex');
    if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
  }
  return valid;
}

/** The double-submit check: cookie and field present, equal (in constant time), and issued to this user. */
export function csrfTokensMatch(keyring: Keyring, user: string, cookie: string | undefined, field: string | undefined): boolean {
  if (cookie === undefined || field === undefined) return false;
  const a = Buffer.from(cookie);
  const b = Buffer.from(field);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return false;
  return csrfTokenValidFor(keyring, user, cookie);
}

/**
 * A cross-origin check built on hono/csrf: passes when the browser says `Sec-Fetch-Site: same-origin`, or
 * when the `Origin` host is this page's host as the browser saw it. Behind a proxy that host is in `Host`
 * (nginx with `proxy_set_header Host $host`) or `X-Forwarded-Host` (Traefik, Caddy, Envoy), and the port is
 * often rewritten, so host names are compared without ports; an Origin on one of the operator's allowed
 * redirect domains also passes (the double-submit token still has to match). `Origin: null` never passes.
 * The caller runs it only after the peer proved to be a trusted proxy, so X-Forwarded-Host is the proxy's.
 * Returns true when the request must be refused.
 */
export function originGuard(isAllowedHost: (hostname: string) => boolean): (c: Context) => Promise<boolean> {
  const mw = honoCsrf({
    origin: (origin, c) => {
      let host: string;
      try {
        host = new URL(origin).hostname;
      } catch {
        return false;
      }
      return requestHosts(c).includes(host) || isAllowedHost(host);
    },
  });
  return async (c) => {
    let passed = false;
    try {
      await mw(c, async () => {
        passed = true;
      });
    } catch (err) {
      if (err instanceof HTTPException) return true;
      throw err;
    }
    return !passed;
  };
}

function requestHosts(c: Context): string[] {
  const hosts: string[] = [];
  const add = (value: string | undefined) => {
    // X-Forwarded-Host may list several proxies' values; the first is what the client asked for.
    const first = value?.split(',')[0]?.trim();
    if (!first) return;
    try {
      hosts.push(new URL(`http://${first}`).hostname);
    } catch {
      // not a host: ignored
    }
  };
  add(c.req.header('x-forwarded-host'));
  add(c.req.header('host'));
  hosts.push(new URL(c.req.url).hostname);
  return hosts;
}
