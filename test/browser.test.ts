// Acceptance (issue 5): Debian's Chromium (/usr/bin/chromium), driven by playwright-core (no browser
// download), goes through the MFA page of a real `mfa-gate serve` as a person would: it enrolls (the secret
// read from the page's manual-entry text, the code computed with otpauth as an authenticator app would),
// confirms, sees the backup codes, then signs in with a code and, in a fresh session, with a backup code.
// A screenshot of each page is saved under test/artifacts/ (git-ignored).
//
// In front of mfa-gate, a tiny proxy plays the authenticating gateway: it says the user is bob
// (Remote-User, overwriting whatever the browser sent) and forwards /mfa to mfa-gate from 127.0.0.1, the
// trusted proxy; every other path is the "application", a page that says who it was given.
//
// Skipped when /usr/bin/chromium is missing, unless CI=true (then it fails).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IN_CI, startServe, totpCode, type Serve } from './helpers/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test/artifacts';
const USER = 'bob';
/** A phone-sized window: the page is meant to be readable on one. */
const VIEWPORT = { width: 390, height: 844 };

const POLICY = `
mfa_enforcement:
  all_users: true
  grace_period: 0s
  risk_based_prompting:
    - new_device: prompt_mfa
factors:
  totp_issuer: Example Corp
`;

let dir = '';
let serve: Serve | undefined;
let proxy: Server | undefined;
let browser: Browser | undefined;
let site = '';
const contexts: BrowserContext[] = [];

async function newPage(): Promise<Page> {
  // Each context is a fresh, empty session (no cookies, no storage) in the browser's own new temp profile.
  const context = await browser!.newContext({ viewport: VIEWPORT, locale: 'en-GB' });
  contexts.push(context);
  return context.newPage();
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

describe.skipIf(!existsSync(CHROMIUM) && !IN_CI)('the MFA page in a real Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; CI=true requires it (.ci/run installs Debian's chromium)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'mfa-gate-browser-'));
    serve = await startServe({
      dir,
      policy: POLICY,
      args: ['--trusted-proxies', '127.0.0.1/32', '--allowed-redirect-domains', '127.0.0.1', '--insecure-cookies'],
    });
    const target = new URL(serve.base);

    proxy = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/mfa' || path.startsWith('/mfa?') || path.startsWith('/mfa/')) {
        const headers: Record<string, string | string[] | undefined> = { ...req.headers, 'remote-user': USER, 'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1' };
        delete headers['x-forwarded-user'];
        const up = request({ host: target.hostname, port: target.port, method: req.method, path, headers, localAddress: '127.0.0.1' }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        req.pipe(up);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Example app</title><h1 data-testid="app">Example app: hello ${USER}</h1><p>${path.replace(/[<>&"]/g, '')}</p>`);
    });
    await new Promise<void>((r) => proxy?.listen(0, '127.0.0.1', r));
    site = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await serve?.stop();
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const rd = () => `${site}/reports?year=2026`;
  const portal = () => `${site}/mfa?rd=${encodeURIComponent(rd())}`;
  let secret = '';
  let codes: string[] = [];

  it('enrolls: reads the setup key, confirms with a code from it, and shows the backup codes once', async () => {
    const page = await newPage();
    const res = await page.goto(portal());
    expect(res?.status()).toBe(200);
    await expect(page.title()).resolves.toContain('Set up two-step verification');
    await page.getByTestId('totp-qr').waitFor();
    expect(await page.getByTestId('totp-qr').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    await shot(page, '1-enroll');

    // The manual-entry text is grouped in fours, as apps show it; apps ignore the spaces.
    secret = ((await page.getByTestId('totp-secret').textContent()) ?? '').replace(/\s+/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(await page.getByTestId('totp-uri').getAttribute('href')).toContain(`secret=${secret}`);

    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByTestId('backup-codes').waitFor();
    await expect(page.title()).resolves.toContain('Save your backup codes');
    codes = await page.getByTestId('backup-codes').locator('li').allTextContents();
    codes = codes.map((c) => c.trim());
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    await shot(page, '2-backup-codes');

    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'mfa_gate_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false });

    // Continue goes back where the gateway sent us from.
    await Promise.all([page.waitForURL(rd()), page.getByTestId('continue').click()]);
    await expect(page.getByTestId('app').textContent()).resolves.toBe(`Example app: hello ${USER}`);
  }, 60_000);

  it('signs in with a code from the app (after a wrong one is refused with the attempts left)', async () => {
    const page = await newPage();
    await page.goto(portal());
    await expect(page.title()).resolves.toContain('Two-step verification');
    await shot(page, '3-sign-in');

    await page.getByLabel('Code from your authenticator app or a backup code').fill(wrongCode(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByTestId('error').waitFor();
    expect(await page.getByTestId('error').textContent()).toMatch(/not valid.*attempts? left/);
    await shot(page, '4-sign-in-error');

    // The confirming code was this period's: the next period's is the one an app shows next.
    await page.getByLabel('Code from your authenticator app or a backup code').fill(totpCode(secret, 1));
    await Promise.all([page.waitForURL(rd()), page.getByRole('button', { name: 'Verify' }).click()]);
    await expect(page.getByTestId('app').textContent()).resolves.toBe(`Example app: hello ${USER}`);
    expect((await page.context().cookies()).some((c) => c.name === 'mfa_gate_session')).toBe(true);
    await shot(page, '5-back-in-the-app');
  }, 60_000);

  it('signs in with a backup code in a fresh session, and that code is then used up', async () => {
    const page = await newPage();
    await page.goto(portal());
    const field = page.getByLabel('Code from your authenticator app or a backup code');
    await field.fill(codes[0] as string);
    await shot(page, '6-backup-code-sign-in');
    await Promise.all([page.waitForURL(rd()), page.getByRole('button', { name: 'Verify' }).click()]);
    await expect(page.getByTestId('app').textContent()).resolves.toBe(`Example app: hello ${USER}`);
    expect((await page.context().cookies()).find((c) => c.name === 'mfa_gate_session')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    const again = await newPage();
    await again.goto(portal());
    await again.getByLabel('Code from your authenticator app or a backup code').fill(codes[0] as string);
    await again.getByRole('button', { name: 'Verify' }).click();
    await again.getByTestId('error').waitFor();
    expect(again.url()).toContain('/mfa');
    await shot(again, '7-backup-code-reused');
  }, 60_000);
});

/** A six-digit code that is none of the codes the window accepts now. */
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1, 2].map((s) => totpCode(secret, s)));
  for (let n = 0; ; n++) {
    const c = String((123456 + n * 7919) % 1_000_000).padStart(6, '0');
    if (!valid.has(c)) return c;
  }
}
