// What the gateway asks about: the original request's method, URL and path, read from the shape each proxy
// sends. Pure functions of the headers; the caller has already checked that the peer is a trusted proxy.
//
//   nginx auth_request     X-Original-Method, X-Original-URL (set by proxy_set_header, see examples/nginx)
//   Traefik ForwardAuth    X-Forwarded-Method, -Proto, -Host, -Uri (+ -For), original headers copied
//   Caddy forward_auth     the same X-Forwarded-* set
//   Envoy ext_authz (HTTP) the original method as the request's, the original path after the path_prefix,
//                          the original Host and the allowed original headers (x-forwarded-proto, cookie, ...)

/** A request the hook cannot decide on (a missing or malformed header): answered 401, never let through. */
export class UndecidableRequest extends Error {
  override name = 'UndecidableRequest';
}

export interface OriginalRequest {
  /** Upper case. */
  method: string;
  /** Absolute http(s) URL: where the MFA page sends the user back to. */
  url: string;
  /** The normalised path (no query) the action is made of: `${method} ${path}`. */
  path: string;
}

export type HeaderGetter = (name: string) => string | undefined;

/** nginx, Apache and most servers refuse longer request lines; a longer "original URL" is not one. */
const MAX_URL = 8192;
const METHOD_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
/** A host name, IPv4 or bracketed IPv6 literal, with an optional port: no userinfo, path or whitespace. */
const HOST_RE = /^(?:[A-Za-z0-9_~-][A-Za-z0-9_.~-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function required(h: HeaderGetter, name: string): string {
  const v = h(name)?.trim();
  if (!v) throw new UndecidableRequest(`the gateway did not send ${name}`);
  return v;
}

function method(value: string, header: string): string {
  if (!METHOD_RE.test(value)) throw new UndecidableRequest(`${header} is not an HTTP method`);
  return value.toUpperCase();
}

function proto(value: string | undefined, header: string): 'http' | 'https' {
  const p = (value?.trim() || 'http').toLowerCase();
  if (p !== 'http' && p !== 'https') throw new UndecidableRequest(`${header} must be http or https`);
  return p;
}

function host(value: string, header: string): string {
  if (!HOST_RE.test(value)) throw new UndecidableRequest(`${header} is not a host`);
  return value;
}

/** `${proto}://${host}${uri}` as a URL; throws UndecidableRequest when it is not one. */
function originalUrl(p: string, h: string, uri: string, header: string): URL {
  if (!uri.startsWith('/')) throw new UndecidableRequest(`${header} must be a path starting with /`);
  const text = `${p}://${h}${uri}`;
  if (text.length > MAX_URL) throw new UndecidableRequest(`the original URL is longer than ${MAX_URL} characters`);
  try {
    return new URL(text);
  } catch {
    throw new UndecidableRequest(`${header} does not make a URL`);
  }
}

/** nginx `auth_request`: X-Original-Method and X-Original-URL (`$scheme://$http_host$request_uri`). */
export function fromAuthRequest(h: HeaderGetter): OriginalRequest {
  const m = method(required(h, 'X-Original-Method'), 'X-Original-Method');
  const text = required(h, 'X-Original-URL');
  if (text.length > MAX_URL) throw new UndecidableRequest(`X-Original-URL is longer than ${MAX_URL} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UndecidableRequest('X-Original-URL is not an absolute URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || !url.host) {
    throw new UndecidableRequest('X-Original-URL must be an http(s) URL without credentials');
  }
  return { method: m, url: url.href, path: actionPath(rawPathOf(text) ?? url.pathname) };
}

/** Traefik ForwardAuth and Caddy forward_auth: X-Forwarded-Method, -Proto, -Host and -Uri (path and query). */
export function fromForwardAuth(h: HeaderGetter): OriginalRequest {
  const m = method(required(h, 'X-Forwarded-Method'), 'X-Forwarded-Method');
  const p = proto(h('x-forwarded-proto'), 'X-Forwarded-Proto');
  const hostName = host(required(h, 'X-Forwarded-Host'), 'X-Forwarded-Host');
  const uri = required(h, 'X-Forwarded-Uri');
  const url = originalUrl(p, hostName, uri, 'X-Forwarded-Uri');
  return { method: m, url: url.href, path: actionPath(uri) };
}

/**
 * Envoy ext_authz HTTP service: the check request carries the original method, the original path (with its
 * query) after `prefix`, the original Host, and x-forwarded-proto among the forwarded headers.
 */
export function fromExtAuthz(requestMethod: string, requestUrl: string, prefix: string, h: HeaderGetter): OriginalRequest {
  const m = method(requestMethod, 'the request method');
  const u = new URL(requestUrl);
  if (!u.pathname.startsWith(prefix)) throw new UndecidableRequest(`the path does not start with ${prefix}`);
  const rest = u.pathname.slice(prefix.length) || '/';
  if (!rest.startsWith('/')) throw new UndecidableRequest(`the original path must follow ${prefix}/`);
  const uri = `${rest}${u.search}`;
  const url = originalUrl(proto(h('x-forwarded-proto'), 'x-forwarded-proto'), host(required(h, 'Host'), 'Host'), uri, 'the path');
  return { method: m, url: url.href, path: actionPath(rest) };
}

/** The path of an absolute URL as written (before WHATWG normalisation), or null. */
function rawPathOf(url: string): string | null {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?/.exec(url);
  if (!m) return null;
  return m[1] ?? '/';
}

/**
 * The path as an application is likely to see it, so a sensitive `POST /admin/**` is not dodged by
 * `/%61dmin/x`, `/x/../admin/x` or `//admin/x`: the query and fragment dropped, percent-escapes decoded
 * (once, as the application will; an invalid escape kept as written), backslashes read as slashes, empty and
 * `.` segments dropped and `..` applied. A trailing slash is kept.
 */
export function actionPath(raw: string): string {
  let p = raw;
  const cut = p.search(/[?#]/);
  if (cut >= 0) p = p.slice(0, cut);
  p = p.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
  p = p.replace(/\\/g, '/');
  const out: string[] = [];
  const segments = p.split('/');
  for (const s of segments) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  const last = segments[segments.length - 1];
  const trailing = out.length > 0 && segments.length > 1 && (last === '' || last === '.' || last === '..');
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

/**
 * Where to send the user for MFA: the portal (a path is resolved against the original URL's origin) with
 * `rd` (the original URL, to return to) and `challenge` (the decision's challenge id, when there is one).
 */
export function portalRedirect(portalUrl: string, original: string, challengeId?: string): string {
  const base = new URL(portalUrl, original).href;
  const sep = base.includes('?') ? '&' : '?';
  const challenge = challengeId ? `&challenge=${encodeURIComponent(challengeId)}` : '';
  return `${base}${sep}rd=${encodeURIComponent(original)}${challenge}`;
}
