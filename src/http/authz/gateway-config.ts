// The gateway pre-auth hook's configuration: which headers name the user, which peers may say so, where the
// MFA page is and which cookie carries the MFA session. Checked once at construction: a typo in a header
// name or a portal URL is a start-up error, not a hook that silently refuses (or lets through) every request.
import { compileNetworkList } from '../../policy/network.js';
import type { NetworkList } from '../../policy/types.js';
import { SESSION_COOKIE } from '../session.js';

export const DEFAULT_USER_HEADERS: readonly string[] = Object.freeze(['Remote-User', 'X-Forwarded-User']);
/** The MFA page, resolved against the original request's origin (`https://app.example.com/mfa`). */
export const DEFAULT_PORTAL_URL = '/mfa';

export const ENV_USER_HEADERS = 'MFA_GATE_USER_HEADERS';
export const ENV_PORTAL_URL = 'MFA_GATE_PORTAL_URL';
export const ENV_TRUSTED_PROXIES = 'MFA_GATE_TRUSTED_PROXIES';

/** More would be a configuration mistake; each is looked up on every request. */
const MAX_USER_HEADERS = 8;
/** RFC 9110 section 5.1: a field name is a token. */
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the hook reads for something else (or that a client always controls): naming the user by one of
 * them is a mistake that would let the original request's own headers choose the user. */
const RESERVED_HEADERS = new Set([
  'host',
  'cookie',
  'user-agent',
  'authorization',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-original-url',
  'x-original-method',
]);

export interface GatewayConfig {
  /** Headers naming the user, in order; the first one present wins. Compared case-insensitively. */
  readonly userHeaders: readonly string[];
  /** The gateway and the authenticating proxy: headers from any other peer are ignored (the request refused). */
  readonly trustedProxies: NetworkList;
  /** The MFA page: an absolute http(s) URL, or a path resolved against the original request's origin. */
  readonly portalUrl: string;
  /** The signed MFA session cookie the MFA page sets. */
  readonly cookieName: string;
}

export interface GatewayConfigInput {
  userHeaders?: readonly string[];
  /** A compiled list, or CIDRs (compiled here; an invalid one throws). Default: none, so every request is refused. */
  trustedProxies?: NetworkList | readonly string[];
  portalUrl?: string;
  cookieName?: string;
}

export type GatewayConfigField = 'userHeaders' | 'trustedProxies' | 'portalUrl' | 'cookieName';

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
  constructor(
    readonly field: GatewayConfigField,
    readonly detail: string,
    /** Where the value came from: the option, or the environment variable. */
    source: string = field,
  ) {
    super(`${source}: ${detail}`);
  }
}

/** The configuration with defaults filled in; throws GatewayConfigError when any part is invalid. */
export function gatewayConfig(input: GatewayConfigInput = {}): GatewayConfig {
  const userHeaders = checkUserHeaders(input.userHeaders ?? DEFAULT_USER_HEADERS);
  const portalUrl = checkPortalUrl(input.portalUrl ?? DEFAULT_PORTAL_URL);
  const cookieName = input.cookieName ?? SESSION_COOKIE;
  if (!TOKEN_RE.test(cookieName) || cookieName.length > 64) {
    throw new GatewayConfigError('cookieName', `${JSON.stringify(cookieName)} is not a valid cookie name (RFC 6265 token, at most 64 characters)`);
  }
  let trustedProxies: NetworkList;
  const given = input.trustedProxies ?? [];
  if (isNetworkList(given)) {
    trustedProxies = given;
  } else {
    try {
      trustedProxies = compileNetworkList(given);
    } catch (err) {
      throw new GatewayConfigError('trustedProxies', (err as Error).message);
    }
  }
  return Object.freeze({ userHeaders: Object.freeze([...userHeaders]), trustedProxies, portalUrl, cookieName });
}

/**
 * The configuration from the environment: MFA_GATE_USER_HEADERS (comma list), MFA_GATE_PORTAL_URL and
 * MFA_GATE_TRUSTED_PROXIES (comma list of CIDRs); `overrides` win (serve passes the proxies its flag gave).
 * An empty variable counts as unset. Throws GatewayConfigError naming the variable when a value is invalid.
 */
export function gatewayConfigFromEnv(env: Readonly<Record<string, string | undefined>>, overrides: GatewayConfigInput = {}): GatewayConfig {
  const input: GatewayConfigInput = {};
  const headers = list(env[ENV_USER_HEADERS]);
  if (headers.length > 0) input.userHeaders = headers;
  const portal = env[ENV_PORTAL_URL]?.trim();
  if (portal) input.portalUrl = portal;
  const proxies = list(env[ENV_TRUSTED_PROXIES]);
  if (proxies.length > 0) input.trustedProxies = proxies;
  const overridden = new Set<string>();
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    Object.assign(input, { [key]: value });
    overridden.add(key);
  }
  try {
    return gatewayConfig(input);
  } catch (err) {
    if (!(err instanceof GatewayConfigError) || overridden.has(err.field)) throw err;
    const variable = { userHeaders: ENV_USER_HEADERS, portalUrl: ENV_PORTAL_URL, trustedProxies: ENV_TRUSTED_PROXIES, cookieName: null }[err.field];
    if (variable === null) throw err;
    throw new GatewayConfigError(err.field, err.detail, variable);
  }
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function isNetworkList(v: NetworkList | readonly string[]): v is NetworkList {
  return !Array.isArray(v) && typeof (v as NetworkList).match === 'function';
}

function checkUserHeaders(headers: readonly string[]): readonly string[] {
  if (!Array.isArray(headers) || headers.length === 0) throw new GatewayConfigError('userHeaders', 'name at least one header');
  if (headers.length > MAX_USER_HEADERS) throw new GatewayConfigError('userHeaders', `at most ${MAX_USER_HEADERS} headers`);
  const seen = new Set<string>();
  for (const h of headers) {
    if (typeof h !== 'string' || !TOKEN_RE.test(h)) throw new GatewayConfigError('userHeaders', `${JSON.stringify(h)} is not a valid header name`);
    const lower = h.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw new GatewayConfigError('userHeaders', `${h} carries something else and cannot name the user`);
    if (seen.has(lower)) throw new GatewayConfigError('userHeaders', `${h} is listed twice`);
    seen.add(lower);
  }
  return headers;
}

function checkPortalUrl(url: string): string {
  if (typeof url !== 'string' || url === '') throw new GatewayConfigError('portalUrl', 'must not be empty');
  if (/[\s\\\u0000-\u001f\u007f]/.test(url)) throw new GatewayConfigError('portalUrl', `${JSON.stringify(url)} contains whitespace, a backslash or a control character`);
  if (url.includes('#')) throw new GatewayConfigError('portalUrl', `${JSON.stringify(url)} must not have a fragment`);
  if (url.startsWith('/')) {
    if (url.startsWith('//')) throw new GatewayConfigError('portalUrl', `${JSON.stringify(url)}: write a path (/mfa) or an absolute URL with its scheme`);
    return url;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatewayConfigError('portalUrl', `${JSON.stringify(url)} is neither a path (/mfa) nor an absolute URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new GatewayConfigError('portalUrl', `${JSON.stringify(url)} must be http or https`);
  if (parsed.username || parsed.password) throw new GatewayConfigError('portalUrl', `${JSON.stringify(url)} must not carry credentials`);
  return url;
}
