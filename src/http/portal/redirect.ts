// Where the MFA page may send the browser back to: a relative path on this site, or an http(s) URL whose host
// the operator listed. Anything else is an open redirect (a phishing page could send users through our
// trusted sign-in and on to itself), so the page then says "signed in" and stays put.
import { isIP } from 'node:net';

/** Longer than any URL a gateway forwards (nginx's default large_client_header_buffers line is 8 KiB, but
 * browsers and proxies commonly cap URLs around 2 KiB): a longer `rd` is refused rather than echoed. */
export const MAX_RD_LENGTH = 2048;

// One DNS label (RFC 1123): letters, digits, inner hyphens, at most 63 characters.
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

export interface RedirectAllowlist {
  /** Is this URL hostname (lower case, as WHATWG URL gives it; IPv6 in brackets) allowed? */
  allows(hostname: string): boolean;
  /**
   * CSP `form-action` sources equivalent to the list (Chromium checks form-action on the 303 after a POST), or
   * null when an entry cannot be written as a CSP source (an IPv6 literal): then the directive is left out
   * rather than blocking a redirect the list allows.
   */
  formActionSources: string[] | null;
}

/**
 * Compiles `allowedRedirectDomains`: `app.example.com` allows exactly that host; `.example.com` allows
 * example.com and every subdomain (the cookie `Domain` reading). Ports are not part of an entry: a host
 * is trusted on any port. Throws on an entry that is not a host name or IP, so a typo fails at start.
 */
export function compileRedirectDomains(entries: readonly string[]): RedirectAllowlist {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  let sources: string[] | null = ["'self'"];
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    const wildcard = entry.startsWith('.');
    const host = wildcard ? entry.slice(1) : entry;
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (isIP(bare) === 6) {
      if (wildcard) throw new TypeError(`allowedRedirectDomains: "${raw}": an IP address has no subdomains`);
      exact.add(`[${bare}]`);
      sources = null;
      continue;
    }
    if (!HOSTNAME_RE.test(host) || host.length > 253) {
      throw new TypeError(
        `allowedRedirectDomains: "${raw}" is not a host name; write "app.example.com" for one host or ".example.com" for a domain and its subdomains (no scheme, port, path or "*")`,
      );
    }
    if (wildcard && isIP(host) === 4) throw new TypeError(`allowedRedirectDomains: "${raw}": an IP address has no subdomains`);
    exact.add(host);
    sources?.push(`http://${host}:*`, `https://${host}:*`);
    if (wildcard) {
      suffixes.push(`.${host}`);
      sources?.push(`http://*.${host}:*`, `https://*.${host}:*`);
    }
  }
  return {
    allows: (hostname) => exact.has(hostname) || suffixes.some((s) => hostname.endsWith(s)),
    formActionSources: sources,
  };
}

/**
 * The URL to redirect to after a completed MFA, or null when `rd` must not be followed. A relative path must
 * start with exactly one `/` (`//host` is protocol-relative); backslashes, whitespace and control characters
 * are refused outright because browsers read `\` as `/` and drop tabs and newlines from URLs, turning
 * `/\evil.com` or `/<TAB>/evil.com` into `//evil.com`.
 */
export function safeRedirect(rd: string | undefined, allowlist: RedirectAllowlist): string | null {
  if (!rd || rd.length > MAX_RD_LENGTH) return null;
  // Printable ASCII only: what a gateway forwards is already percent-encoded, and a Location header is bytes.
  if (/[^\x21-\x7e]|\\/.test(rd)) return null;
  if (rd.startsWith('/')) return rd.startsWith('//') ? null : rd;
  let url: URL;
  try {
    url = new URL(rd);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  // `https://app.example.com@evil.com` already parses to host evil.com; credentials on an allowed host are
  // refused too, since nothing legitimate sends them through a sign-in redirect.
  if (url.username !== '' || url.password !== '') return null;
  if (!allowlist.allows(url.hostname)) return null;
  return url.href;
}
