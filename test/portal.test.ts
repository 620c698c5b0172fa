// The MFA page (src/http/portal) end to end through Hono: a real SQLite store, the real factor service and
// engine, a browser-like cookie jar, codes computed with otpauth. The TCP peer is injected (app.request has
// no socket), as the gateway's authenticating proxy would be.
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import * as OTPAuth from 'otpauth';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKeyring, type Keyring } from '../src/factors/crypto.js';
import { portalRoutes, type PortalOptions } from '../src/http/portal/index.js';
import { readSession, SESSION_COOKIE } from '../src/http/session.js';
import { startService, type TestService } from './helpers/app.js';

const PROXY = '10.0.0.2';
const CLIENT_IP = '198.51.100.7';
const RD = 'https://app.example.com/reports?id=7';

interface Harness {
  s: TestService;
  keyring: Keyring;
  peer: { address: string | null };
  app: Hono;
}

const open: TestService[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function setup(options: { policy?: string; portal?: Partial<PortalOptions> } = {}): Harness {
  const s = startService(options.policy !== undefined ? { policy: options.policy } : {});
  open.push(s);
  // The same key file the service's keyring came from: the same keys.
  const keyring = loadKeyring({ env: {}, dataDir: s.dir, log: () => {} });
  const peer = { address: PROXY as string | null };
  const portal = portalRoutes({
    engine: s.engine,
    factors: s.factors,
    store: s.store,
    keyring,
    policy: () => s.engine.policy,
    trustedProxies: ['10.0.0.0/8'],
    allowedRedirectDomains: ['.example.com', 'intranet.example.org'],
    peer: () => peer.address,
    clock: () => s.clock.now,
    ...options.portal,
  });
  return { s, keyring, peer, app: new Hono().route('/', portal) };
}

/** A browser behind the gateway: the proxy adds the user and X-Forwarded-For; cookies persist. */
class Browser {
  readonly jar = new Map<string, string>();
  constructor(
    private readonly h: Harness,
    readonly user: string,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    return { 'remote-user': this.user, 'x-forwarded-for': CLIENT_IP, ...(cookie ? { cookie } : {}), ...extra };
  }

  async get(path: string, extra: Record<string, string> = {}): Promise<Response> {
    return this.absorb(await this.h.app.request(path, { headers: this.headers(extra) }));
  }

  async post(fields: Record<string, string>, extra: Record<string, string> = {}): Promise<Response> {
    return this.absorb(
      await this.h.app.request('/mfa', {
        method: 'POST',
        headers: this.headers({ 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost', ...extra }),
        body: new URLSearchParams(fields).toString(),
      }),
    );
  }

  absorb(res: Response): Response {
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0] as string;
      const i = pair.indexOf('=');
      const value = pair.slice(i + 1);
      if (/max-age=0/i.test(c) || value === '') this.jar.delete(pair.slice(0, i));
      else this.jar.set(pair.slice(0, i), value);
    }
    return res;
  }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const secretOf = (html: string) => (/data-testid="totp-secret">([^<]*)</.exec(html)?.[1] ?? '').replace(/\s+/g, '');
const backupCodesOf = (html: string) => [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1] as string);
const totp = (secret: string, now: number) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate({ timestamp: now });
const setCookieOf = (res: Response, name: string) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));

/** Enrolls `user` through the page; returns the secret, the backup codes and the csrf token. */
async function enroll(h: Harness, b: Browser, rd = RD) {
  const page = await (await b.get(`/mfa?rd=${encodeURIComponent(rd)}`)).text();
  const secret = secretOf(page);
  const csrf = csrfOf(page);
  const res = await b.post({ action: 'confirm', code: totp(secret, h.s.clock.now), csrf, rd, challenge: '' });
  expect(res.status).toBe(200);
  const codes = backupCodesOf(await res.text());
  return { secret, csrf, codes };
}

/** The next TOTP step (a code is accepted once per step). */
function nextCode(h: Harness, secret: string): string {
  h.s.clock.now += 30_000;
  return totp(secret, h.s.clock.now);
}

describe('GET /mfa: enrollment of a new user', () => {
  it('shows the QR code, the manual-entry secret and a labelled confirm form', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const res = await b.get(`/mfa?rd=${encodeURIComponent(RD)}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    const secret = secretOf(html);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits of base32
    expect(html).toMatch(/data-testid="totp-secret">[A-Z2-7]{4}( [A-Z2-7]{4}){7}</);
    expect(html).toMatch(/<img src="data:image\/png;base64,[^"]+" alt="QR code[^"]+"/);
    expect(html).toContain(`href="otpauth://totp/`);
    expect(html).toContain('<label for="code">Code from your authenticator app</label>');
    expect(html).toMatch(/<input type="text" id="code" name="code" autocomplete="one-time-code" inputmode="numeric"/);
    expect(html).toContain('<input type="hidden" name="action" value="confirm"/>');
    expect(html).toContain(`<input type="hidden" name="rd" value="${RD}"/>`);
    expect(html).toContain('>Confirm</button>');
    // The pending secret is the one shown.
    expect(await h.s.store.getPendingTotp('alice')).not.toBeNull();
    const csrfCookie = setCookieOf(res, 'mfa_gate_csrf') ?? '';
    expect(csrfCookie).toMatch(/HttpOnly/);
    expect(csrfCookie).toMatch(/SameSite=Strict/);
    expect(csrfCookie).toMatch(/Secure/);
    expect(csrfCookie.split(';')[0]).toBe(`mfa_gate_csrf=${csrfOf(html)}`);
  });

  it('confirming with a computed code shows the backup codes once, sets the signed session and records the MFA', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const page = await (await b.get(`/mfa?rd=${encodeURIComponent(RD)}`)).text();
    const secret = secretOf(page);
    const res = await b.post({ action: 'confirm', code: totp(secret, h.s.clock.now), csrf: csrfOf(page), rd: RD, challenge: '' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('data-testid="backup-codes"');
    const codes = backupCodesOf(html);
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(html).toContain(`<a class="button" href="${RD}" data-testid="continue">Continue</a>`);
    expect(html).not.toContain(secret);

    const cookie = setCookieOf(res, SESSION_COOKIE) ?? '';
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; Max-Age=43200/); // remember_mfa default: 12 hours
    const session = readSession(h.keyring, b.jar.get(SESSION_COOKIE), h.s.clock.now);
    expect(session).toMatchObject({ user: 'alice', mfa_at: h.s.clock.now, expires_at: h.s.clock.now + 12 * 3600 * 1000 });
    const summary = await h.s.store.getUserSummary('alice');
    expect(summary?.enrolled_at).toBe(h.s.clock.now);
    expect(summary?.known_devices).toEqual([expect.objectContaining({ key: session?.device, last_mfa_at: h.s.clock.now })]);

    // Shown once: the page now asks for a code instead.
    const again = await (await b.get('/mfa')).text();
    expect(again).not.toContain('backup-codes');
    expect(again).toContain('Code from your authenticator app or a backup code');
  });

  it('a wrong confirm code re-renders the confirm form with the error, without a new secret', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const page = await (await b.get('/mfa')).text();
    const before = await h.s.store.getPendingTotp('alice');
    const res = await b.post({ action: 'confirm', code: '000000', csrf: csrfOf(page), rd: '', challenge: '' });
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain('attempts left before the factor is locked');
    expect(html).not.toContain('totp-secret');
    expect(html).toContain('Start the setup again');
    expect(await h.s.store.getPendingTotp('alice')).toEqual(before);
    // The same secret still confirms.
    const ok = await b.post({ action: 'confirm', code: totp(secretOf(page), h.s.clock.now), csrf: csrfOf(page), rd: '', challenge: '' });
    expect(ok.status).toBe(200);
    expect(backupCodesOf(await ok.text())).toHaveLength(10);
  });

  it('a user with login history and no allowing decision is told to contact the helpdesk', async () => {
    const h = setup();
    await h.s.store.recordLogin({ user_id: 'carol', device_key: 'laptop', location_key: null, ip: null, time: h.s.clock.now - 1000, mfa: false });
    const res = await new Browser(h, 'carol').get('/mfa');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('contact your helpdesk');
    expect(await h.s.store.getPendingTotp('carol')).toBeNull();
  });

  it('honours the challenge: one that allows enrollment lets a known user enroll, and confirming completes it', async () => {
    const h = setup();
    await h.s.store.recordLogin({ user_id: 'dave', device_key: 'laptop', location_key: null, ip: null, time: h.s.clock.now - 1000, mfa: false });
    const challenge = (id: string, enrollment_allowed: boolean) => ({
      id,
      user_id: 'dave',
      decision: 'require_mfa' as const,
      device_key: 'laptop',
      location_key: null,
      ip: CLIENT_IP,
      enrollment_allowed,
      created_at: h.s.clock.now,
      expires_at: h.s.clock.now + 600_000,
    });
    await h.s.store.createChallenge(challenge('c-refuses', false));
    await h.s.store.createChallenge(challenge('c-allows', true));
    const b = new Browser(h, 'dave');
    const refused = await b.get('/mfa?challenge=c-refuses');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('contact your helpdesk');

    const page = await (await b.get('/mfa?challenge=c-allows')).text();
    const secret = secretOf(page);
    expect(secret).not.toBe('');
    expect(page).toContain('name="challenge" value="c-allows"');
    const res = await b.post({ action: 'confirm', code: totp(secret, h.s.clock.now), csrf: csrfOf(page), rd: '', challenge: 'c-allows' });
    expect(res.status).toBe(200);
    expect((await h.s.store.getChallenge('c-allows'))?.completed_at).toBe(h.s.clock.now);
    expect((await h.s.store.getChallenge('c-refuses'))?.completed_at).toBeNull();
  });
});

describe('POST /mfa: signing in', () => {
  it('an enrolled user sees the sign-in form with one labelled field for either kind of code', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    await enroll(h, b);
    const html = await (await b.get(`/mfa?rd=${encodeURIComponent(RD)}`)).text();
    expect(html).toContain('<label for="code">Code from your authenticator app or a backup code</label>');
    expect(html).toMatch(/<input type="text" id="code" name="code" autocomplete="one-time-code" inputmode="text"/);
    expect(html).toContain('<input type="hidden" name="action" value="verify"/>');
    expect(html).toContain('>Verify</button>');
    expect(html).not.toContain('totp-secret');
  });

  it('a TOTP code signs in: 303 to the allowed rd, a fresh session for the same device', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { secret, csrf } = await enroll(h, b);
    const device = readSession(h.keyring, b.jar.get(SESSION_COOKIE), h.s.clock.now)?.device;
    const res = await b.post({ action: 'verify', code: nextCode(h, secret), csrf, rd: RD, challenge: '' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(RD);
    const session = readSession(h.keyring, b.jar.get(SESSION_COOKIE), h.s.clock.now);
    expect(session).toMatchObject({ user: 'alice', device, mfa_at: h.s.clock.now });
  });

  it('a new browser (no session cookie) gets a new random device key', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { secret } = await enroll(h, b);
    const first = readSession(h.keyring, b.jar.get(SESSION_COOKIE), h.s.clock.now)?.device;
    const other = new Browser(h, 'alice');
    const page = await (await other.get('/mfa')).text();
    const res = await other.post({ action: 'verify', code: nextCode(h, secret), csrf: csrfOf(page), rd: '/home', challenge: '' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/home');
    const second = readSession(h.keyring, other.jar.get(SESSION_COOKIE), h.s.clock.now)?.device;
    expect(second).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
    const devices = (await h.s.store.getUserSummary('alice'))?.known_devices.map((d) => d.key);
    expect(devices).toEqual(expect.arrayContaining([first, second]));
  });

  it('a backup code signs in once: 303, then the same code is refused', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { codes, csrf } = await enroll(h, b);
    const code = (codes[0] as string).toLowerCase().replace(/-/g, ' ');
    const res = await b.post({ action: 'verify', code, csrf, rd: 'https://intranet.example.org/', challenge: '' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://intranet.example.org/');
    const again = await b.post({ action: 'verify', code, csrf, rd: RD, challenge: '' });
    expect(again.status).toBe(401);
    expect((await h.s.store.getUserSummary('alice'))?.backup_codes_remaining).toBe(9);
  });

  it('completes the decision challenge it was sent with; an expired challenge still signs in', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { secret, csrf } = await enroll(h, b);
    const d = await h.s.engine.decide({ user: { id: 'alice' }, ip: CLIENT_IP, user_agent: 'test', device_id: 'unknown-device' });
    expect(d.decision).toBe('prompt_mfa');
    const id = d.challenge_id as string;
    const res = await b.post({ action: 'verify', code: nextCode(h, secret), csrf, rd: RD, challenge: id });
    expect(res.status).toBe(303);
    expect((await h.s.store.getChallenge(id))?.completed_at).toBe(h.s.clock.now);
    // Reused (already completed) challenge: the code still proves the factor.
    const reused = await b.post({ action: 'verify', code: nextCode(h, secret), csrf, rd: RD, challenge: id });
    expect(reused.status).toBe(303);
  });

  it.each([
    '//evil.com',
    '///evil.com',
    'https://evil.com',
    'https://example.com.evil.com/',
    'https://evilexample.com/',
    'https://app.example.com@evil.com/',
    'https://user:pw@app.example.com/',
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'data:text/html,hi',
    '/\\evil.com',
    '\\\\evil.com',
    '\\/evil.com',
    '/\t/evil.com',
    ' https://evil.com',
    'https:evil.com',
    'ftp://app.example.com/',
    'evil.com',
  ])('does not redirect to %j: "signed in" page instead', async (rd) => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { secret, csrf } = await enroll(h, b, rd);
    const res = await b.post({ action: 'verify', code: nextCode(h, secret), csrf, rd, challenge: '' });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('data-testid="signed-in"');
    expect(html).not.toContain('data-testid="continue"');
    expect(setCookieOf(res, SESSION_COOKIE)).toBeDefined(); // the MFA itself counted
  });

  it('a wrong code: 401, the form again with the error and the attempts left', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { csrf } = await enroll(h, b);
    const res = await b.post({ action: 'verify', code: '123456', csrf, rd: RD, challenge: '' });
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain('99 attempts left before the factor is locked');
    expect(html).toContain('role="alert"');
    expect(html).toContain('aria-invalid="true"');
    expect(csrfOf(html)).toBe(csrf);
    expect(html).toContain(`name="rd" value="${RD.replace(/&/g, '&amp;')}"`);
    expect(setCookieOf(res, SESSION_COOKIE)).toBeUndefined();
  });

  it('throttled: 429 with Retry-After and the wait on the page', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { csrf } = await enroll(h, b);
    for (let i = 0; i < 5; i++) expect((await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' })).status).toBe(401);
    const res = await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.text()).toContain('Wait 1 second, then try again');
  });

  it('locked: 423 after lock_after failures', async () => {
    const h = setup({ policy: `${POLICY}throttling:\n  backoff_after: 1\n  lock_after: 2\n` });
    const b = new Browser(h, 'alice');
    const { csrf, codes } = await enroll(h, b);
    expect((await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' })).status).toBe(401);
    h.s.clock.now += 60_000;
    const second = await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' });
    expect(second.status).toBe(401);
    expect(await second.text()).toContain('Codes from your authenticator app are now locked');
    h.s.clock.now += 60_000;
    const res = await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' });
    expect(res.status).toBe(423);
    expect(await res.text()).toContain('Codes from your authenticator app are locked after too many failed attempts. Contact your helpdesk');
    // The backup codes have their own budget: still usable.
    expect((await b.post({ action: 'verify', code: codes[0] as string, csrf, rd: RD, challenge: '' })).status).toBe(303);
  });

  it('an empty code is refused without counting a failure', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { csrf } = await enroll(h, b);
    expect((await b.post({ action: 'verify', code: '  ', csrf, rd: '', challenge: '' })).status).toBe(400);
    const res = await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' });
    expect(await res.text()).toContain('99 attempts left');
  });
});

describe('POST /mfa: CSRF', () => {
  it.each([
    ['no token field', (t: string) => ({ field: undefined, cookie: t, origin: 'http://localhost' })],
    ['no token cookie', (t: string) => ({ field: t, cookie: undefined, origin: 'http://localhost' })],
    ['a mismatched field', (t: string) => ({ field: `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`, cookie: t, origin: 'http://localhost' })],
    ['a cross-origin Origin', (t: string) => ({ field: t, cookie: t, origin: 'https://evil.com' })],
    ['Origin: null', (t: string) => ({ field: t, cookie: t, origin: 'null' })],
    ['neither Origin nor Sec-Fetch-Site', (t: string) => ({ field: t, cookie: t, origin: undefined })],
    ['a cross-site Sec-Fetch-Site', (t: string) => ({ field: t, cookie: t, origin: undefined, site: 'cross-site' })],
  ])('%s: 403, nothing verified, the code still works afterwards', async (_name, shape) => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { codes, csrf } = await enroll(h, b);
    const s = shape(csrf) as { field?: string; cookie?: string; origin?: string; site?: string };
    const cookie = [`${SESSION_COOKIE}=${b.jar.get(SESSION_COOKIE)}`, ...(s.cookie ? [`mfa_gate_csrf=${s.cookie}`] : [])].join('; ');
    const res = await h.app.request('/mfa', {
      method: 'POST',
      headers: {
        'remote-user': 'alice',
        'content-type': 'application/x-www-form-urlencoded',
        cookie,
        ...(s.origin !== undefined ? { origin: s.origin } : {}),
        ...(s.site !== undefined ? { 'sec-fetch-site': s.site } : {}),
      },
      body: new URLSearchParams({ action: 'verify', code: codes[0] as string, rd: RD, challenge: '', ...(s.field ? { csrf: s.field } : {}) }).toString(),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(setCookieOf(res, SESSION_COOKIE)).toBeUndefined();
    expect(await res.text()).toContain('Nothing was checked');
    // Not consumed, no failure counted.
    expect((await h.s.store.getUserSummary('alice'))?.backup_codes_remaining).toBe(10);
    const wrong = await b.post({ action: 'verify', code: '123456', csrf, rd: '', challenge: '' });
    expect(await wrong.text()).toContain('99 attempts left');
    expect((await b.post({ action: 'verify', code: codes[0] as string, csrf, rd: RD, challenge: '' })).status).toBe(303);
  });

  it("another user's token (cookie and field both) is refused", async () => {
    const h = setup();
    const mallory = new Browser(h, 'mallory');
    const token = csrfOf(await (await mallory.get('/mfa')).text());
    const b = new Browser(h, 'alice');
    const { secret } = await enroll(h, b);
    b.jar.set('mfa_gate_csrf', token);
    const res = await b.post({ action: 'verify', code: nextCode(h, secret), csrf: token, rd: RD, challenge: '' });
    expect(res.status).toBe(403);
  });

  it('accepts same-origin posts by Sec-Fetch-Site, by X-Forwarded-Host behind a proxy, or from an allowed domain', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { secret, csrf } = await enroll(h, b);
    const shapes: Record<string, string>[] = [
      { origin: '', 'sec-fetch-site': 'same-origin' }, // an empty Origin fails; the browser's Sec-Fetch-Site passes
      { origin: 'https://login.corp.test', 'x-forwarded-host': 'login.corp.test' },
      { origin: 'https://login.corp.test:8443', host: 'login.corp.test' },
      { origin: 'https://auth.example.com' },
    ];
    for (const extra of shapes) {
      const res = await b.post({ action: 'verify', code: nextCode(h, secret), csrf, rd: RD, challenge: '' }, extra);
      expect(res.status, JSON.stringify(extra)).toBe(303);
    }
  });
});

describe('who the user is', () => {
  it('an untrusted peer gets the 401 page and nothing happens, whatever headers it sends', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const { secret, csrf, codes } = await enroll(h, b);
    h.peer.address = '203.0.113.9';
    const get = await b.get('/mfa');
    expect(get.status).toBe(401);
    const html = await get.text();
    expect(html).toContain('Sign in through your gateway first');
    expect(html).not.toContain('name="code"');
    expect(get.headers.getSetCookie()).toEqual([]);
    const post = await b.post({ action: 'verify', code: codes[0] as string, csrf, rd: RD, challenge: '' });
    expect(post.status).toBe(401);
    expect(post.headers.getSetCookie()).toEqual([]);
    expect((await h.s.store.getUserSummary('alice'))?.backup_codes_remaining).toBe(10);

    // A new user from an untrusted peer: no enrollment is started.
    expect((await new Browser(h, 'eve').get('/mfa')).status).toBe(401);
    expect(await h.s.store.getPendingTotp('eve')).toBeNull();
    // No peer at all (not on a socket): the same.
    h.peer.address = null;
    expect((await b.get('/mfa')).status).toBe(401);

    h.peer.address = PROXY;
    expect((await b.post({ action: 'verify', code: nextCode(h, secret), csrf, rd: RD, challenge: '' })).status).toBe(303);
  });

  it('a trusted peer without a user header gets the 401 page; X-Forwarded-User is the fallback', async () => {
    const h = setup();
    const none = await h.app.request('/mfa');
    expect(none.status).toBe(401);
    const fwd = await h.app.request('/mfa', { headers: { 'x-forwarded-user': 'frank' } });
    expect(fwd.status).toBe(200);
    expect(await h.s.store.getPendingTotp('frank')).not.toBeNull();
    const control = await h.app.request('/mfa', { headers: { 'remote-user': 'bad\u0001name' } });
    expect(control.status).toBe(401);
  });

  it('configurable user headers replace the defaults', async () => {
    const h = setup({ portal: { userHeaders: ['X-Auth-Request-User'] } });
    expect((await h.app.request('/mfa', { headers: { 'remote-user': 'alice' } })).status).toBe(401);
    expect((await h.app.request('/mfa', { headers: { 'x-auth-request-user': 'alice' } })).status).toBe(200);
  });
});

describe('every page', () => {
  it('carries the security headers, no-store and a phone-ready, labelled document', async () => {
    const h = setup();
    const b = new Browser(h, 'alice');
    const pages: Response[] = [await b.get('/mfa')];
    pages.push(await b.post({ action: 'verify', code: '1', csrf: 'x', rd: '', challenge: '' }));
    h.peer.address = '203.0.113.9';
    pages.push(await b.get('/mfa'));
    for (const res of pages) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("img-src 'self' data:");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toMatch(/form-action 'self' http:\/\/example\.com:\* https:\/\/example\.com:\* http:\/\/\*\.example\.com:\* https:\/\/\*\.example\.com:\* http:\/\/intranet\.example\.org:\* https:\/\/intranet\.example\.org:\*/);
      expect(csp).not.toContain('unsafe');
      expect(csp).not.toContain('script-src');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<html lang="en">');
      expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1"/>');
      expect(html).toContain('<link rel="stylesheet" href="mfa/style.css"/>');
      expect(html).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
      // Every visible input has a label pointing at it.
      for (const m of html.matchAll(/<input type="text" id="([^"]+)"/g)) expect(html).toContain(`<label for="${m[1]}">`);
    }
  });

  it('serves the stylesheet', async () => {
    const h = setup();
    const res = await h.app.request('/mfa/style.css');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('input[type=text]');
  });

  it('secureCookies false and a cookie domain: no Secure, no HSTS, Domain on the session cookie', async () => {
    const h = setup({ portal: { secureCookies: false, cookieDomain: 'example.com' } });
    const b = new Browser(h, 'alice');
    const page = await b.get('/mfa');
    expect(page.headers.get('strict-transport-security')).toBeNull();
    expect(setCookieOf(page, 'mfa_gate_csrf')).not.toMatch(/Secure/);
    const html = await page.text();
    const res = await b.post({ action: 'confirm', code: totp(secretOf(html), h.s.clock.now), csrf: csrfOf(html), rd: RD, challenge: '' });
    const cookie = setCookieOf(res, SESSION_COOKIE) ?? '';
    expect(cookie).toMatch(/; Domain=example\.com/);
    expect(cookie).not.toMatch(/Secure/);
    expect(cookie).toMatch(/HttpOnly/);
  });

  it('refuses invalid configuration at construction', () => {
    const h = setup();
    const base = { engine: h.s.engine, factors: h.s.factors, store: h.s.store, keyring: h.keyring, policy: () => h.s.engine.policy, trustedProxies: [] };
    expect(() => portalRoutes({ ...base, allowedRedirectDomains: ['https://example.com'] })).toThrow(/allowedRedirectDomains/);
    expect(() => portalRoutes({ ...base, allowedRedirectDomains: ['*.example.com'] })).toThrow(/\.example\.com/);
    expect(() => portalRoutes({ ...base, allowedRedirectDomains: [], cookieDomain: 'example.com; Path=/x' })).toThrow(/cookieDomain/);
    expect(() => portalRoutes({ ...base, allowedRedirectDomains: [], userHeaders: ['Remote User'] })).toThrow(/userHeaders/);
    expect(() => portalRoutes({ ...base, allowedRedirectDomains: [], trustedProxies: ['not-a-cidr'] })).toThrow();
  });
});

const POLICY = readFileSync('policies/default.yaml', 'utf8');
