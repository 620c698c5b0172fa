/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// The MFA page a gateway sends users to: GET /mfa shows the sign-in form (enrolled) or the TOTP enrollment,
// POST /mfa verifies or confirms a code, sets the signed MFA session cookie the gateway hook reads, and sends
// the browser back to `rd` when that is an allowed address. The user is whoever the authenticating proxy in
// front says (a trusted header), and only when the request really comes from that proxy.
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie } from 'hono/cookie';
import { secureHeaders } from 'hono/secure-headers';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { DecisionEngine } from '../../engine.js';
import type { Keyring } from '../../factors/crypto.js';
import { FactorErrorCode } from '../../factors/errors.js';
import type { Failure, FactorService } from '../../factors/service.js';
import { compileNetworkList } from '../../policy/index.js';
import type { CompiledPolicy, NetworkList } from '../../policy/types.js';
import type { Store } from '../../store/types.js';
import { clientIpFromProxy } from '../client-ip.js';
import { PAGE_FIELD_MAX, statusOf } from '../route-table.js';
import { peerAddress } from '../routes/decide.js';
import { readSession, SESSION_COOKIE, signSession } from '../session.js';
import { userFromHeaders } from '../user-header.js';
import { CSRF_COOKIE, csrfTokensMatch, csrfTokenValidFor, issueCsrfToken, originGuard } from './csrf.js';
import { compileRedirectDomains, MAX_RD_LENGTH, safeRedirect } from './redirect.js';
import { STYLESHEET } from './style.js';
import { BackupCodesView, ConfirmRetryView, EnrollView, MessageView, SignedInView, SignInView, type FormState } from './views.js';
import { DEFAULT_USER_HEADERS } from '../authz/gateway-config.js';

export interface PortalOptions {
  engine: Pick<DecisionEngine, 'recordMfa' | 'completeChallenge'>;
  factors: Pick<FactorService, 'enrollTotp' | 'confirmTotp' | 'verify'>;
  store: Pick<Store, 'getActiveTotp' | 'getChallenge'>;
  /** Signs the MFA session cookie and the CSRF tokens. */
  keyring: Keyring;
  /** The policy serving now (hot reload swaps it): `enforcement.remember_mfa_s` is the cookie's lifetime. */
  policy: () => CompiledPolicy;
  /** Proxies whose user header and X-Forwarded-For are believed (CIDRs, or a compiled list). */
  trustedProxies: NetworkList | readonly string[];
  /** Headers naming the signed-in user, first present wins. Default `Remote-User`, then `X-Forwarded-User`. */
  userHeaders?: readonly string[];
  /** Hosts `rd` may point to: `app.example.com` exactly, `.example.com` for the domain and its subdomains. */
  allowedRedirectDomains: readonly string[];
  /** false only for plain-HTTP tests: cookies without `Secure`, no HSTS. */
  secureCookies?: boolean;
  /** `Domain` of the session cookie, so it reaches the app's host too (e.g. `example.com`). */
  cookieDomain?: string;
  /** The TCP peer; tests inject it (app.request has no socket). */
  peer?: (c: Context) => string | null;
  clock?: () => number;
}


/** Form posts here are a few short fields; anything larger is not ours. */
const MAX_FORM_BYTES = 16 * 1024;
/** Hono's setCookie refuses more (RFC 6265bis caps Max-Age at 400 days). */
const MAX_COOKIE_AGE_S = 400 * 24 * 3600;
/** A challenge id is a UUID from the engine; anything else is dropped rather than passed on. */
const CHALLENGE_RE = new RegExp(`^[A-Za-z0-9_-]{1,${PAGE_FIELD_MAX.challenge}}$`);
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COOKIE_DOMAIN_RE = /^\.?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

interface Who {
  user: string;
  ip: string | null;
}

export function portalRoutes({
  engine,
  factors,
  store,
  keyring,
  policy,
  trustedProxies,
  userHeaders = DEFAULT_USER_HEADERS,
  allowedRedirectDomains,
  secureCookies = true,
  cookieDomain,
  peer = peerAddress,
  clock = Date.now,
}: PortalOptions): Hono {
  // Invalid configuration fails here, at start, never on a request.
  const trusted = isNetworkList(trustedProxies) ? trustedProxies : compileNetworkList([...trustedProxies]);
  const redirects = compileRedirectDomains(allowedRedirectDomains);
  if (userHeaders.length === 0 || userHeaders.some((h) => !HEADER_NAME_RE.test(h))) {
    throw new TypeError(`userHeaders must be header names, got ${JSON.stringify(userHeaders)}`);
  }
  if (cookieDomain !== undefined && !COOKIE_DOMAIN_RE.test(cookieDomain)) {
    throw new TypeError(`cookieDomain must be a domain name such as "example.com", got ${JSON.stringify(cookieDomain)}`);
  }
  const crossOrigin = originGuard(redirects.allows);

  function identify(c: Context): Who | null {
    const address = peer(c);
    if (address === null || trusted.size === 0 || trusted.match(address) === null) return null;
    // The gateway hook's rule (src/http/user-header.ts): the first configured header present decides.
    const { user } = userFromHeaders((name) => c.req.header(name), userHeaders);
    if (user === null) return null;
    return { user, ip: clientIpFromProxy(address, c.req.header('x-forwarded-for'), trusted) };
  }

  /** The user's CSRF token: the cookie's when it was issued to this user, else a new one set as the cookie. */
  function csrfToken(c: Context, user: string): string {
    const existing = getCookie(c, CSRF_COOKIE);
    if (existing !== undefined && csrfTokenValidFor(keyring, user, existing)) return existing;
    const token = issueCsrfToken(keyring, user);
    setCookie(c, CSRF_COOKIE, token, { httpOnly: true, secure: secureCookies, sameSite: 'Strict', path: '/' });
    return token;
  }

  /** A verified factor: record the MFA for this device and give the browser the session that proves it. */
  async function completeMfa(c: Context, who: Who): Promise<void> {
    const now = clock();
    const existing = readSession(keyring, getCookie(c, SESSION_COOKIE), now);
    // The same browser keeps its device key, so the hook keeps recognising it; a new one gets a random key.
    const device = existing !== null && existing.user === who.user ? existing.device : randomUUID();
    await engine.recordMfa({ user_id: who.user, device_key: device, ip: who.ip });
    const ttl = policy().enforcement.remember_mfa_s;
    setCookie(c, SESSION_COOKIE, signSession(keyring, { user: who.user, device, mfa_at: now, expires_at: now + ttl * 1000 }), {
      httpOnly: true,
      secure: secureCookies,
      sameSite: 'Lax',
      path: '/',
      maxAge: Math.min(ttl, MAX_COOKIE_AGE_S),
      ...(cookieDomain !== undefined ? { domain: cookieDomain } : {}),
    });
  }

  const app = new Hono();
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: ["'self'"],
      // The enrollment QR code is a PNG data URL.
      imgSrc: ["'self'", 'data:'],
      ...(redirects.formActionSources !== null ? { formAction: redirects.formActionSources } : {}),
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    // same-origin: the page's URL (with rd and the challenge id) never leaks to other sites, while our own
    // form posts keep a real Origin header (no-referrer would make browsers send `Origin: null`).
    referrerPolicy: 'same-origin',
    xFrameOptions: 'DENY',
    strictTransportSecurity: secureCookies ? 'max-age=31536000' : false,
  });
  app.use('/mfa/*', headers);
  app.use('/mfa', headers, async (c, next) => {
    await next();
    // Codes, secrets and backup codes: nothing here may be kept by a browser or shared cache.
    c.res.headers.set('Cache-Control', 'no-store');
  });

  app.get('/mfa/style.css', (c) => {
    c.header('Content-Type', 'text/css; charset=utf-8');
    c.header('Cache-Control', 'public, max-age=3600');
    c.header('X-Content-Type-Options', 'nosniff');
    return c.body(STYLESHEET);
  });

  app.get('/mfa', async (c) => {
    const who = identify(c);
    if (!who) return notSignedIn(c);
    const state: FormState = { csrf: csrfToken(c, who.user), rd: rdParam(c.req.query('rd')), challenge: challengeParam(c.req.query('challenge')) };
    if (await store.getActiveTotp(who.user)) return render(c, <SignInView state={state} />);
    return enrollment(c, who, state);
  });

  async function enrollment(c: Context, who: Who, state: FormState) {
    const req = { user_id: who.user, ip: who.ip };
    let r = await factors.enrollTotp(state.challenge ? { ...req, challenge_id: state.challenge } : req);
    // An expired or foreign challenge is no reason to refuse: without one, the service decides on the user's
    // history (a user with login history still needs an allowing decision or an administrator's approval).
    if (!r.ok && r.error === FactorErrorCode.INVALID_CHALLENGE && state.challenge) r = await factors.enrollTotp(req);
    if (r.ok) return render(c, <EnrollView state={state} secret={r.secret} otpauthUri={r.otpauth_uri} qrPngDataUrl={r.qr.png_data_url} />);
    if (r.error === FactorErrorCode.FACTOR_REQUIRED) return render(c, <SignInView state={state} />); // enrolled meanwhile
    if (r.error === FactorErrorCode.ENROLLMENT_NOT_ALLOWED) {
      return render(
        c,
        <MessageView
          title="Setup needs your helpdesk"
          message="Two-step verification cannot be set up from this device or location without an administrator's approval. Please contact your helpdesk: once they approve it, reload this page to continue."
        />,
        403,
      );
    }
    return render(c, <MessageView title="Setup failed" message={r.message} />, status(r));
  }

  app.post(
    '/mfa',
    bodyLimit({
      maxSize: MAX_FORM_BYTES,
      onError: (c) => render(c, <MessageView title="Request too large" message="The form was larger than this page accepts." />, 413),
    }),
    async (c) => {
      const who = identify(c);
      if (!who) return notSignedIn(c);
      const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const field = (name: string, max: number) => {
        const v = body[name];
        return typeof v === 'string' && v.length <= max ? v : '';
      };
      const state: FormState = { csrf: '', rd: rdParam(field('rd', PAGE_FIELD_MAX.rd)), challenge: challengeParam(field('challenge', PAGE_FIELD_MAX.challenge)) };
      // Both CSRF layers before anything is verified: a forged post must not consume a code or count a failure.
      if ((await crossOrigin(c)) || !csrfTokensMatch(keyring, who.user, getCookie(c, CSRF_COOKIE), field('csrf', PAGE_FIELD_MAX.csrf) || undefined)) {
        return render(
          c,
          <MessageView
            title="This form has expired"
            message="The form was not sent from this page, or it is too old. Nothing was checked. Reload the page and try again."
            link={{ href: restartHref(state), text: 'Reload the sign-in page' }}
          />,
          403,
        );
      }
      state.csrf = field('csrf', PAGE_FIELD_MAX.csrf);
      const code = field('code', PAGE_FIELD_MAX.code).trim();
      const action = field('action', PAGE_FIELD_MAX.action);
      if (action !== 'verify' && action !== 'confirm') {
        return render(c, <MessageView title="Unknown action" message="This form cannot be handled." link={{ href: restartHref(state), text: 'Back to the sign-in page' }} />, 400);
      }
      if (code === '') {
        const error = 'Enter the code.';
        return action === 'confirm'
          ? render(c, <ConfirmRetryView state={state} error={error} restartHref={restartHref(state)} />, 400)
          : render(c, <SignInView state={state} error={error} />, 400);
      }
      return action === 'confirm' ? confirm(c, who, state, code) : verify(c, who, state, code);
    },
  );

  async function verify(c: Context, who: Who, state: FormState, code: string) {
    const req = { user_id: who.user, code, ip: who.ip };
    let r = await factors.verify(state.challenge ? { ...req, challenge_id: state.challenge } : req);
    // The challenge is checked before the code (nothing consumed): an expired one only means the decision that
    // sent the user here is not marked complete; the code still proves the factor for the session cookie.
    if (!r.ok && r.error === FactorErrorCode.INVALID_CHALLENGE && state.challenge) r = await factors.verify(req);
    if (!r.ok) {
      if (r.error === FactorErrorCode.NOT_ENROLLED) {
        return render(
          c,
          <MessageView title="Set up two-step verification" message="Your account has no authenticator app yet." link={{ href: restartHref(state), text: 'Set one up now' }} />,
          409,
        );
      }
      if (r.retry_after_s !== undefined) c.header('Retry-After', String(r.retry_after_s));
      return render(c, <SignInView state={state} error={failureText(r, code)} />, status(r));
    }
    await completeMfa(c, who);
    const target = safeRedirect(state.rd, redirects);
    if (target !== null) return c.redirect(target, 303);
    return render(c, <SignedInView refusedRedirect={state.rd !== ''} />);
  }

  async function confirm(c: Context, who: Who, state: FormState, code: string) {
    const r = await factors.confirmTotp({ user_id: who.user, code, ip: who.ip });
    if (!r.ok) {
      if (r.error === FactorErrorCode.NO_PENDING_ENROLLMENT) {
        return render(
          c,
          <MessageView title="Setup expired" message="This setup was finished or replaced in the meantime." link={{ href: restartHref(state), text: 'Go to the sign-in page' }} />,
          409,
        );
      }
      if (r.retry_after_s !== undefined) c.header('Retry-After', String(r.retry_after_s));
      return render(c, <ConfirmRetryView state={state} error={failureText(r, code)} restartHref={restartHref(state)} />, status(r));
    }
    if (state.challenge) await completeOwnChallenge(who.user, state.challenge);
    await completeMfa(c, who);
    return render(c, <BackupCodesView codes={r.backup_codes} continueHref={safeRedirect(state.rd, redirects)} />);
  }

  /** Confirming the new factor with a valid code is a verified factor: it completes the user's own challenge. */
  async function completeOwnChallenge(user: string, id: string): Promise<void> {
    const challenge = await store.getChallenge(id);
    if (challenge && challenge.user_id === user && challenge.completed_at === null && challenge.expires_at > clock()) {
      await engine.completeChallenge(id);
    }
  }

  return app;
}

function isNetworkList(v: NetworkList | readonly string[]): v is NetworkList {
  return typeof (v as NetworkList).match === 'function';
}

async function render(c: Context, page: string | Promise<string>, code: ContentfulStatusCode = 200) {
  return c.html(`<!doctype html>${await page}`, code);
}

function notSignedIn(c: Context) {
  return render(
    c,
    <MessageView
      title="Sign in first"
      message="Sign in through your gateway first: this page only works after your organisation's sign-in, opened from the application you were using."
    />,
    401,
  );
}

function status(f: Failure): ContentfulStatusCode {
  const s = statusOf(f.error);
  return (s >= 400 && s < 500 ? s : 400) as ContentfulStatusCode;
}

/** The service's rule (src/factors/service.ts): six digits are a TOTP, anything else a backup code. */
const looksLikeTotp = (code: string) => /^\s*\d{3}\s?\d{3}\s*$/.test(code);

function failureText(f: Failure, code: string): string {
  const totp = looksLikeTotp(code);
  const which = totp ? 'Codes from your authenticator app' : 'Backup codes';
  const other = totp ? 'a backup code' : 'a code from your authenticator app';
  switch (f.error) {
    case FactorErrorCode.INVALID_CODE: {
      const n = f.attempts_remaining;
      if (n === undefined) return 'That code is not valid.';
      if (n === 0) return `That code is not valid. ${which} are now locked after too many failed attempts: contact your helpdesk to unlock them, or use ${other}.`;
      return `That code is not valid. ${n} ${n === 1 ? 'attempt' : 'attempts'} left before the factor is locked.`;
    }
    case FactorErrorCode.TOO_MANY_ATTEMPTS: {
      const s = f.retry_after_s;
      return `Too many failed attempts. Wait ${s === undefined ? 'a little' : `${s} ${s === 1 ? 'second' : 'seconds'}`}, then try again.`;
    }
    case FactorErrorCode.FACTOR_LOCKED:
      return `${which} are locked after too many failed attempts. Contact your helpdesk to unlock them; until then you can still sign in with ${other}, if you have one.`;
    default:
      return capitalise(f.message);
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function rdParam(v: string | undefined): string {
  return v !== undefined && v.length <= MAX_RD_LENGTH ? v : '';
}

function challengeParam(v: string | undefined): string {
  return v !== undefined && CHALLENGE_RE.test(v) ? v : '';
}

/** Back to GET /mfa with the same destination and challenge (relative: works under a path prefix). */
function restartHref(state: FormState): string {
  const q = new URLSearchParams();
  if (state.rd) q.set('rd', state.rd);
  if (state.challenge) q.set('challenge', state.challenge);
  const s = q.toString();
  return s ? `mfa?${s}` : 'mfa';
}
