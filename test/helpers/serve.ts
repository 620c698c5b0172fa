// For the real-component e2e tests (test/gateway-nginx.test.ts, test/browser.test.ts): `mfa-gate serve` as a
// child process, free ports, TOTP codes as an authenticator app computes them, the decision log read back,
// and the MFA page's HTML picked apart as a browser would read it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';

export const API_KEY = 'e2e-gateway-test-key-0123456789abcdef';

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port nothing listens on now: bound on 0, read, released (for servers that cannot take port 0, nginx). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** An executable on PATH (or in the usual sbin directories, which a non-login PATH may lack), else null. */
export function findExecutable(name: string, extra: string[] = []): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  for (const p of [...extra, `/usr/sbin/${name}`, `/usr/bin/${name}`, `/usr/local/sbin/${name}`]) if (existsSync(p)) return p;
  return null;
}

/** `CI=true` turns a missing real component from a skip into a failure. */
export const IN_CI = process.env.CI === 'true';

export interface ServeOptions {
  dir: string;
  policy: string;
  args?: string[];
  env?: Record<string, string>;
}

export interface Serve {
  base: string;
  port: number;
  /** The serve process (under --workers, the primary). */
  pid: number;
  decisionLog: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** `mfa-gate serve --port 0` with its own data directory, policy and decision log; resolves once it listens. */
export async function startServe({ dir, policy, args = [], env = {} }: ServeOptions): Promise<Serve> {
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy);
  const decisionLog = join(dir, 'decisions.jsonl');
  const child: ChildProcess = spawn(
    process.execPath,
    ['bin/mfa-gate.js', 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--policy', policyFile, '--decision-log', decisionLog, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MFA_GATE_API_KEYS: API_KEY, ...env } },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let base: string;
  try {
    base = await waitFor(
      'mfa-gate serve to listen',
      () => {
        if (child.exitCode !== null) throw new Error(`mfa-gate serve exited with ${child.exitCode}:\n${out}`);
        return /listening on (http:\/\/\S+)/.exec(out)?.[1];
      },
      30_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    base,
    port: Number(new URL(base).port),
    pid: child.pid!,
    decisionLog,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The code an authenticator app shows `steps` periods from now (0: now). */
export function totpCode(secretBase32: string, steps = 0): string {
  const totp = new TOTP({ secret: Secret.fromBase32(secretBase32.replace(/\s+/g, '')), algorithm: 'SHA1', digits: 6, period: 30 });
  return totp.generate({ timestamp: Date.now() + steps * 30_000 });
}

/** Waits until at least `margin` ms remain in the current 30 s TOTP period, so codes computed now stay current. */
export async function awayFromStepEdge(margin = 5000): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < margin) await sleep(left + 50);
}

/** A JSON API call to a served instance with the test API key: status, parsed body, headers. */
export async function callApi(server: { base: string }, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}

/**
 * One request on a connection of its own (no keep-alive agent), with the test API key: under `serve --workers` the
 * cluster picks the worker for each, and no pooled socket the server is closing can be handed back.
 */
export function fresh(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${base}${path}`,
      {
        method,
        agent: false,
        headers: {
          authorization: `Bearer ${API_KEY}`,
          connection: 'close',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            // /metrics is text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Start of the TOTP period (30 s) that `ms` falls in. */
export const totpStep = (ms: number) => Math.floor(ms / 30_000);

export interface DecisionLine {
  type: string;
  decision_id: string;
  decision: string;
  context: { user: { id: string }; ip?: string | null; action?: string; device_id?: string };
  reasons: { rule: string; decision: string; enforced: boolean; detail?: string }[];
}

/** The decision log's line for `decisionId` (the log is written off the request path: polled). */
export function decisionLine(file: string, decisionId: string): Promise<DecisionLine> {
  return waitFor(`decision ${decisionId} in ${file}`, () => {
    if (!existsSync(file)) return undefined;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes(decisionId)) continue;
      const parsed = JSON.parse(line) as DecisionLine;
      if (parsed.type === 'decision' && parsed.decision_id === decisionId) return parsed;
    }
    return undefined;
  });
}

/** Every decision line of the log so far. */
export function decisionLines(file: string): DecisionLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"decision"'))
    .map((l) => JSON.parse(l) as DecisionLine);
}

// --- The MFA page's HTML, read as a browser would (the DOM contract is src/http/portal/views.tsx) ---

export function decodeEntities(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*"([^"]*)"/g)) out[(m[1] as string).toLowerCase()] = decodeEntities(m[2] as string);
  return out;
}

/** The fields of the form marked `data-testid`, as the browser would post them (hidden inputs only). */
export function hiddenFields(html: string, formTestId: string): Record<string, string> {
  const form = new RegExp(`<form[^>]*data-testid="${formTestId}"[^>]*>([\\s\\S]*?)</form>`).exec(html);
  if (!form) throw new Error(`no form data-testid="${formTestId}" in the page:\n${html.slice(0, 2000)}`);
  const fields: Record<string, string> = {};
  for (const m of (form[1] as string).matchAll(/<input\b[^>]*>/g)) {
    const a = attributes(m[0]);
    if (a.type === 'hidden' && a.name !== undefined) fields[a.name] = a.value ?? '';
  }
  return fields;
}

/** The text of the element marked `data-testid` (tags stripped, entities decoded), or null. */
export function testIdText(html: string, testId: string): string | null {
  const m = new RegExp(`<([a-z0-9]+)\\b[^>]*data-testid="${testId}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return m ? decodeEntities((m[2] as string).replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim() : null;
}

/** An attribute of the element marked `data-testid`, or null. */
export function testIdAttribute(html: string, testId: string, name: string): string | null {
  const m = new RegExp(`<[a-z0-9]+\\b[^>]*data-testid="${testId}"[^>]*>`).exec(html);
  return m ? (attributes(m[0])[name] ?? null) : null;
}

/** The backup codes of the list marked `data-testid="backup-codes"`. */
export function backupCodes(html: string): string[] {
  const m = /<ol[^>]*data-testid="backup-codes"[^>]*>([\s\S]*?)<\/ol>/.exec(html);
  if (!m) return [];
  return [...(m[1] as string).matchAll(/<code>([^<]*)<\/code>/g)].map((c) => decodeEntities(c[1] as string).trim());
}

/** A minimal cookie jar for one site: name → value, from Set-Cookie headers. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  /** The raw Set-Cookie lines seen, last per name (to check attributes). */
  readonly raw = new Map<string, string>();

  store(setCookie: string[] | string | undefined): void {
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq <= 0) continue;
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      this.raw.set(name, line);
      if (/;\s*max-age=0\b/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** The payload of a signed session cookie (`base64url(json).mac`): user, device, MFA time. Not verified. */
export function sessionPayload(value: string): { u: string; d: string; t: number; e: number } {
  const decoded = decodeURIComponent(value);
  return JSON.parse(Buffer.from(decoded.slice(0, decoded.indexOf('.')), 'base64url').toString('utf8')) as { u: string; d: string; t: number; e: number };
}
