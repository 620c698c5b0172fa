// Who the user is, as the authenticating proxy in front says in a trusted header: one rule for the gateway hook
// (src/http/authz/routes.ts) and the MFA page (src/http/portal/routes.tsx), so the hook never lets a request
// through for one user while the page signs in another. The caller checks first that the request came from a
// trusted proxy; this only reads the headers.
//
// The rule: the configured headers are tried in order, and the FIRST ONE PRESENT DECIDES. An absent header
// passes to the next one; a header that is present but empty (or only whitespace) means "no user" and the
// later headers are NOT consulted.
//
// Why not skip an empty header and try the next: the proxy that sets the first header sets it empty to say
// "nobody is signed in" (an anonymous or bypassed path). Proxies overwrite or strip the header they set, but
// usually pass other headers through as the client sent them, so the later names in the list (fallbacks for
// other proxy set-ups, X-Forwarded-User by default) may well be the client's own. Falling through on an empty
// value would let an unauthenticated client name any user by adding `X-Forwarded-User: victim`. Stopping fails
// closed: the worst case of a proxy that sends an empty first header and the real user in a later one is a
// refused request, which a configuration change (userHeaders) fixes.

/** The longest user id believed, as the decision API's schema (schemas/context.schema.json). */
export const MAX_USER_ID = 256;
/** Control characters could split a log line or a MAC input; a proxy never names a user with one. */
const CONTROL_RE = /[\x00-\x1f\x7f]/;

export type HeaderLookup = (name: string) => string | undefined;

/** The user, or null with the reason (for the gateway's 401 text; never echoes the header's value). */
export type UserFromHeaders = { user: string; header: string } | { user: null; reason: string };

/** The user named by the first of `names` present in the request (see the rule above); leading and trailing
 * whitespace is not part of the name. */
export function userFromHeaders(get: HeaderLookup, names: readonly string[]): UserFromHeaders {
  for (const header of names) {
    const value = get(header);
    if (value === undefined) continue;
    const user = value.trim();
    if (user === '') return { user: null, reason: `the ${header} header is empty (no authenticated user)` };
    if (user.length > MAX_USER_ID) return { user: null, reason: `the user id is longer than ${MAX_USER_ID} characters` };
    if (CONTROL_RE.test(user)) return { user: null, reason: 'the user id has a control character' };
    return { user, header };
  }
  return { user: null, reason: 'no user header' };
}
