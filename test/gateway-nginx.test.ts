// Acceptance (issue 5): a real nginx (Debian's) running examples/nginx/nginx.conf as shipped, in front of a
// small upstream app and a real `mfa-gate serve`. Through nginx, with basic-auth credentials as a browser
// would send them:
//   - the first request is refused and sent to the MFA page;
//   - enrolling there (the secret read from the page, the code computed as an authenticator app would) lets
//     the same request through, and the app sees Remote-User: alice;
//   - POST /admin/** (sensitive, require_mfa) asks for a fresh code once step_up_max_age has passed;
//   - a client's own Remote-User, X-Forwarded-User, X-Forwarded-For, X-Original-URL/-Method change nothing.
//
// step_up_max_age is 2s here (the schema allows any whole number of seconds; serve has no clock to advance),
// so "after step_up_max_age" is a wait of about 3 s, not 5 minutes.
//
// The client connects from 127.0.0.2 while nginx reaches mfa-gate from 127.0.0.1 (the only trusted proxy),
// so the client's real address and any address it claims differ from the proxy's.
//
// Skipped when nginx is not installed, unless CI=true (then missing nginx fails). nginx runs as root with
// `user www-data` from the example, so the temp directory and the password file are made world-readable.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupCodes,
  CookieJar,
  decisionLine,
  findExecutable,
  freePort,
  hiddenFields,
  IN_CI,
  sessionPayload,
  sleep,
  startServe,
  testIdAttribute,
  testIdText,
  totpCode,
  waitFor,
  type Serve,
} from './helpers/serve.js';

const NGINX = findExecutable('nginx');
const CLIENT_ADDRESS = '127.0.0.2';
const USER = 'alice';
const PASSWORD = 'correct horse battery staple';
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const STEP_UP_MAX_AGE_S = 2;

const POLICY = `
mfa_enforcement:
  all_users: true
  grace_period: 0s              # a new user enrolls at once
  risk_based_prompting:
    - new_device: prompt_mfa
    - sensitive_action: require_mfa
  remember_mfa: 12h
  step_up_max_age: ${STEP_UP_MAX_AGE_S}s
sensitive_actions:
  - "POST /admin/**"
`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

let dir = '';
let serve: Serve | undefined;
let upstream: Server | undefined;
let nginx: ChildProcess | undefined;
let nginxOut = '';
let site = '';
const seen: Seen[] = [];
const jar = new CookieJar();

/** One request from the client's address (127.0.0.2), a new connection each time. */
function send(
  url: string,
  { method = 'GET', headers = {}, body, auth = true, cookies = true }: { method?: string; headers?: Record<string, string>; body?: string; auth?: boolean; cookies?: boolean } = {},
): Promise<Reply> {
  const h: Record<string, string> = { 'user-agent': CHROME, accept: 'text/html', ...headers };
  if (auth) h.authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const cookie = cookies ? jar.header() : undefined;
  if (cookie) h.cookie = cookie;
  if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: h, localAddress: CLIENT_ADDRESS, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (cookies) jar.store(res.headers['set-cookie']);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A form post from the MFA page, with the Origin a browser sends. */
function postForm(url: string, fields: Record<string, string>): Promise<Reply> {
  return send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(site).origin },
    body: new URLSearchParams(fields).toString(),
  });
}

const absolute = (location: string) => new URL(location, site).href;
const lastSeen = () => seen[seen.length - 1];

/** A redirect to the MFA page for `original`, as the hook builds it. */
function expectPortalRedirect(r: Reply, original: string): URL {
  expect(r.status, r.body).toBe(302);
  const location = new URL(absolute(r.headers.location as string));
  expect(location.origin + location.pathname).toBe(`${site}/mfa`);
  expect(location.searchParams.get('rd')).toBe(original);
  expect(location.searchParams.get('challenge')).toMatch(/^[A-Za-z0-9_-]+$/);
  return location;
}

/** nginx's {SSHA} password scheme: base64(sha1(password + salt) + salt). */
function sshaLine(user: string, password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `${user}:{SSHA}${Buffer.concat([digest, salt]).toString('base64')}\n`;
}

/** examples/nginx/nginx.conf with its ${...} placeholders filled in, as envsubst would. */
function renderNginxConf(values: Record<string, string>): string {
  const template = readFileSync('examples/nginx/nginx.conf', 'utf8');
  const conf = template.replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`examples/nginx/nginx.conf: no value for ${whole}`);
    return v;
  });
  return conf;
}

describe.skipIf(NGINX === null && !IN_CI)('through a real nginx (examples/nginx/nginx.conf)', () => {
  beforeAll(async () => {
    if (NGINX === null) throw new Error('nginx is not installed; CI=true requires it (.ci/run installs Debian\'s nginx)');
    dir = mkdtempSync(join(tmpdir(), 'mfa-gate-nginx-'));
    chmodSync(dir, 0o755);

    serve = await startServe({
      dir,
      policy: POLICY,
      args: ['--trusted-proxies', '127.0.0.1/32', '--allowed-redirect-domains', '127.0.0.1,localhost', '--insecure-cookies'],
    });

    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        seen.push(entry);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: entry.method, path: entry.url, remote_user: req.headers['remote-user'] ?? null }));
      });
    });
    await new Promise<void>((r) => upstream?.listen(0, '127.0.0.1', r));
    const appPort = (upstream.address() as { port: number }).port;

    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    const prefix = join(dir, 'nginx');
    mkdirSync(join(prefix, 'logs'), { recursive: true });
    chmodSync(prefix, 0o755);
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, sshaLine(USER, PASSWORD), { mode: 0o644 });
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      renderNginxConf({
        LISTEN: `127.0.0.1:${port}`,
        SERVER_NAME: '127.0.0.1',
        MFA_GATE: `127.0.0.1:${serve.port}`,
        APP: `127.0.0.1:${appPort}`,
        HTPASSWD: htpasswd,
        LOG_DIR: join(prefix, 'logs'),
      }),
    );
    nginx = spawn(NGINX, ['-e', 'stderr', '-p', prefix, '-c', conf, '-g', `daemon off; pid ${join(prefix, 'nginx.pid')}; error_log stderr warn;`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    nginx.stdout?.on('data', (b: Buffer) => (nginxOut += b.toString()));
    nginx.stderr?.on('data', (b: Buffer) => (nginxOut += b.toString()));
    await waitFor(
      'nginx to listen',
      async () => {
        if (nginx?.exitCode !== null) throw new Error(`nginx exited with ${nginx?.exitCode}:\n${nginxOut}`);
        return send(`${site}/`, { auth: false, cookies: false }).then(
          () => true,
          () => undefined,
        );
      },
      20_000,
    );
  }, 60_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx?.once('exit', r));
      nginx.kill('SIGQUIT');
      const timer = setTimeout(() => nginx?.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await serve?.stop();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  let session = '';
  let secret = '';
  let mfaAt = 0;

  it('asks for the password first (auth_basic), and a Remote-User from the client is no substitute', async () => {
    const r = await send(`${site}/dashboard`, { auth: false, headers: { 'remote-user': USER, 'x-forwarded-user': USER } });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="Example app"');
    expect(seen).toHaveLength(0);
  });

  it('refuses the first request and sends the browser to the MFA page, keeping the original URL', async () => {
    const r = await send(`${site}/dashboard?tab=1`);
    expectPortalRedirect(r, `${site}/dashboard?tab=1`);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(seen).toHaveLength(0);
  });

  it('enrolls on the MFA page with a code computed from the secret it shows; then the same request passes', async () => {
    const first = await send(`${site}/dashboard?tab=1`);
    const portal = expectPortalRedirect(first, `${site}/dashboard?tab=1`);

    const page = await send(portal.href);
    expect(page.status, page.body).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(jar.cookies.has('mfa_gate_csrf')).toBe(true);
    secret = (testIdText(page.body, 'totp-secret') ?? '').replace(/\s+/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(testIdAttribute(page.body, 'totp-qr', 'src')).toMatch(/^data:image\/png;base64,/);
    const fields = hiddenFields(page.body, 'confirm-form');
    expect(fields).toMatchObject({ action: 'confirm', rd: `${site}/dashboard?tab=1`, challenge: portal.searchParams.get('challenge') });
    expect(fields.csrf).toBe(jar.cookies.get('mfa_gate_csrf'));

    // Without the CSRF field nothing is checked (and no code is used up).
    const forged = await postForm(`${site}/mfa`, { ...fields, csrf: '', code: totpCode(secret) });
    expect(forged.status).toBe(403);
    expect(jar.cookies.has('mfa_gate_session')).toBe(false);

    const confirmed = await postForm(portal.href, { ...fields, code: totpCode(secret) });
    mfaAt = Date.now();
    expect(confirmed.status, confirmed.body).toBe(200);
    const codes = backupCodes(confirmed.body);
    expect(codes.length).toBe(10);
    const setCookie = jar.raw.get('mfa_gate_session') ?? '';
    expect(setCookie).toMatch(/;\s*HttpOnly/i);
    expect(setCookie).toMatch(/;\s*SameSite=Lax/i);
    expect(setCookie).not.toMatch(/;\s*Secure/i); // --insecure-cookies: this site is plain HTTP
    session = jar.cookies.get('mfa_gate_session') ?? '';
    expect(sessionPayload(session).u).toBe(USER);

    // The page's Continue link goes back to the original URL, which now passes.
    const next = testIdAttribute(confirmed.body, 'continue', 'href');
    expect(next).toBe(`${site}/dashboard?tab=1`);
    const passed = await send(absolute(next as string));
    expect(passed.status, passed.body).toBe(200);
    const app = lastSeen();
    expect(app).toMatchObject({ method: 'GET', url: '/dashboard?tab=1' });
    expect(app?.headers['remote-user']).toBe(USER);
    expect(app?.headers.authorization).toBeUndefined(); // the password stays in nginx
    expect(app?.headers['x-mfa-decision-id']).toMatch(/^[0-9a-f-]{36}$/);
    const line = await decisionLine(serve!.decisionLog, app?.headers['x-mfa-decision-id'] as string);
    expect(line).toMatchObject({ decision: 'allow', context: { user: { id: USER }, ip: CLIENT_ADDRESS, action: 'GET /dashboard' } });
  }, 30_000);

  it(`asks for a fresh code for POST /admin/** once step_up_max_age (${STEP_UP_MAX_AGE_S}s) has passed, and again after that`, async () => {
    // Older than step_up_max_age: the enrollment's MFA no longer covers a sensitive action...
    await sleep(Math.max(0, mfaAt + (STEP_UP_MAX_AGE_S + 1.2) * 1000 - Date.now()));
    const before = seen.length;
    const stepUp = await send(`${site}/admin/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"op":"rotate"}' });
    const portal = expectPortalRedirect(stepUp, `${site}/admin/x`);
    expect(seen).toHaveLength(before);
    // ...while an ordinary request still passes (remember_mfa is 12h).
    expect((await send(`${site}/dashboard`)).status).toBe(200);

    // An enrolled user gets the code form; a code from the next period (the last one was used to confirm).
    const page = await send(portal.href);
    expect(page.status, page.body).toBe(200);
    expect(testIdText(page.body, 'totp-secret')).toBeNull();
    const fields = hiddenFields(page.body, 'verify-form');
    expect(fields).toMatchObject({ action: 'verify', rd: `${site}/admin/x` });
    const verified = await postForm(portal.href, { ...fields, code: totpCode(secret, 1) });
    mfaAt = Date.now();
    expect(verified.status, verified.body).toBe(303);
    expect(verified.headers.location).toBe(`${site}/admin/x`);
    // The same browser keeps its device key; the MFA time is new.
    const renewed = jar.cookies.get('mfa_gate_session') ?? '';
    expect(sessionPayload(renewed).d).toBe(sessionPayload(session).d);
    expect(sessionPayload(renewed).t).toBeGreaterThan(sessionPayload(session).t);
    session = renewed;

    const passed = await send(`${site}/admin/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"op":"rotate"}' });
    expect(passed.status, passed.body).toBe(200);
    expect(lastSeen()).toMatchObject({ method: 'POST', url: '/admin/x', body: '{"op":"rotate"}' });
    expect(lastSeen()?.headers['remote-user']).toBe(USER);
    const line = await decisionLine(serve!.decisionLog, lastSeen()?.headers['x-mfa-decision-id'] as string);
    expect(line.context.action).toBe('POST /admin/x');
    expect(line.reasons.map((r) => r.rule)).toContain('satisfied_by_recent_mfa');

    // And once that code is older than step_up_max_age, the next sensitive request asks again.
    await sleep(Math.max(0, mfaAt + (STEP_UP_MAX_AGE_S + 1.2) * 1000 - Date.now()));
    const again = await send(`${site}/admin/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expectPortalRedirect(again, `${site}/admin/x`);
  }, 30_000);

  it('a spoofed Remote-User, X-Forwarded-User, X-Forwarded-For or X-Original-* from the client changes nothing', async () => {
    const spoofed = {
      'remote-user': 'admin',
      'x-forwarded-user': 'admin',
      'x-forwarded-for': '81.2.69.142',
      'x-original-url': `${site}/public`,
      'x-original-method': 'GET',
      'x-mfa-decision-id': 'forged',
    };
    const r = await send(`${site}/whoami`, { headers: spoofed });
    expect(r.status, r.body).toBe(200);
    const app = lastSeen();
    expect(app?.url).toBe('/whoami');
    expect(app?.headers['remote-user']).toBe(USER);
    expect(app?.headers['x-forwarded-user']).toBeUndefined();
    // nginx appends the address it saw; the client's claim stays to its left, where mfa-gate does not look.
    expect(app?.headers['x-forwarded-for']).toBe(`81.2.69.142, ${CLIENT_ADDRESS}`);
    const id = app?.headers['x-mfa-decision-id'] as string;
    expect(id).not.toBe('forged');
    const line = await decisionLine(serve!.decisionLog, id);
    expect(line.context.user.id).toBe(USER);
    expect(line.context.ip).toBe(CLIENT_ADDRESS);
    expect(line.context.action).toBe('GET /whoami');

    // A sensitive request does not become an ordinary one by claiming another URL or method.
    const before = seen.length;
    const sensitive = await send(`${site}/admin/x`, { method: 'POST', headers: { ...spoofed, 'content-type': 'application/json' }, body: '{}' });
    expectPortalRedirect(sensitive, `${site}/admin/x`);
    expect(seen).toHaveLength(before);

    // Past nginx, straight to mfa-gate from the client's address: the headers are not believed at all.
    const hook = await send(`${serve!.base}/v1/authz/auth-request`, {
      auth: false,
      headers: { 'remote-user': USER, 'x-original-url': `${site}/admin/x`, 'x-original-method': 'GET', 'x-forwarded-for': '127.0.0.1' },
    });
    expect(hook.status).toBe(401);
    expect(hook.headers['x-mfa-decision']).toBe('error');
    const page = await send(`${serve!.base}/mfa`, { auth: false, cookies: false, headers: { 'remote-user': USER } });
    expect(page.status).toBe(401);
    expect(page.body).not.toContain('totp-secret');
  }, 30_000);
});
