import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API_KEYS_FILE_NAME, ApiKeyError, ApiKeyring, GENERATED_KEY_PREFIX, SCOPES, loadApiKeys, requireScope, type Scope } from './auth.js';

// A pass-through node:fs whose openSync a test can intercept, to replay one interleaving of two processes exactly.
const fsHook = vi.hoisted(() => ({ beforeOpen: undefined as ((path: string, flags: unknown) => void) | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = ((...args: Parameters<typeof fs.openSync>) => {
    fsHook.beforeOpen?.(String(args[0]), args[1]);
    return fs.openSync(...args);
  }) as typeof fs.openSync;
  return { ...fs, default: { ...fs, openSync }, openSync };
});

const K1 = 'k1-aaaaaaaaaaaaaaaaaaaa';
const K2 = 'k2-bbbbbbbbbbbbbbbbbbbb';
const K3 = 'k3-cccccccccccccccccccc';
const keyIdOf = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'mfa-gate-auth-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  fsHook.beforeOpen = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): ApiKeyError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiKeyError);
    return err as ApiKeyError;
  }
  throw new Error('expected an ApiKeyError');
}

function writeKeys(dir: string, text: string, mode = 0o600): string {
  const path = join(dir, API_KEYS_FILE_NAME);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode); // writeFileSync's mode is filtered by the umask
  return path;
}

const scopesOf = (keys: ApiKeyring, key: string): Scope[] => {
  const r = keys.authenticate(`Bearer ${key}`);
  return r.ok ? [...r.scopes].sort() : [];
};

describe('loadApiKeys: MFA_GATE_API_KEYS', () => {
  it('a key without scopes has all of them; one scope; several joined by +', () => {
    const { keys, source, generated } = loadApiKeys({ env: { MFA_GATE_API_KEYS: `${K1},${K2}:decide,${K3}:decide+mfa` } });
    expect(source).toBe('env');
    expect(generated).toBeUndefined();
    expect(scopesOf(keys, K1)).toEqual([...SCOPES].sort());
    expect(scopesOf(keys, K2)).toEqual(['decide']);
    expect(scopesOf(keys, K3)).toEqual(['decide', 'mfa']);
    expect(keys.keyIds).toEqual([K1, K2, K3].map(keyIdOf));
  });

  it('ignores whitespace around entries, keys and scopes', () => {
    const { keys } = loadApiKeys({ env: { MFA_GATE_API_KEYS: `  ${K1} ,\n ${K2} : decide + admin ,${K3}:mfa \n` } });
    expect(scopesOf(keys, K1)).toEqual([...SCOPES].sort());
    expect(scopesOf(keys, K2)).toEqual(['admin', 'decide']);
    expect(scopesOf(keys, K3)).toEqual(['mfa']);
  });

  it('wins over a keys file (which is then not even read)', () => {
    const dir = tmp();
    writeKeys(dir, `${K2}\n`, 0o644); // unsafe mode: would throw if read
    const { keys, source } = loadApiKeys({ env: { MFA_GATE_API_KEYS: K1 }, dataDir: dir });
    expect(source).toBe('env');
    expect(keys.authenticate(`Bearer ${K1}`).ok).toBe(true);
    expect(keys.authenticate(`Bearer ${K2}`)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('an empty or blank variable counts as unset', () => {
    const dir = tmp();
    writeKeys(dir, `${K2}\n`);
    for (const value of ['', '  ']) {
      const { keys, source } = loadApiKeys({ env: { MFA_GATE_API_KEYS: value }, dataDir: dir });
      expect(source).toBe('file');
      expect(keys.authenticate(`Bearer ${K2}`).ok).toBe(true);
    }
  });
});

describe('loadApiKeys: invalid configuration throws at start, naming the problem but never the key', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown scope', `${K1},${K2}:decide+write`, /MFA_GATE_API_KEYS entry 2: unknown scope "write"; scopes are decide, mfa, admin/],
    ['empty key before scopes', `${K1}, :decide`, /entry 2: the key is empty/],
    ['empty entry', `${K1},,${K2}`, /entry 2: the key is empty/],
    ['short key', `${K1},short-key-123`, /entry 2: the key is 13 characters long; at least 16 are required/],
    ['duplicate key', `${K1},${K2},${K1}:decide`, new RegExp(`entry 3: the key repeats MFA_GATE_API_KEYS entry 1 \\(key id ${keyIdOf(K1)}\\)`)],
    ['empty scope list', `${K1}:`, /entry 1: the scope list is empty/],
    ['key with a space', 'abcdefgh ijklmnopqr', /entry 1: the key may only contain/],
  ];
  it.each(cases)('%s', (_name, value, message) => {
    const err = errorOf(() => loadApiKeys({ env: { MFA_GATE_API_KEYS: value } }));
    expect(err.message).toMatch(message);
    for (const key of [K1, K2, 'short-key-123', 'abcdefgh ijklmnopqr']) expect(err.message).not.toContain(key);
  });

  it('does not echo text after a stray ":" that may be part of a key', () => {
    const err = errorOf(() => loadApiKeys({ env: { MFA_GATE_API_KEYS: 'abcdefghijklmnop:QRSTuvwx1234' } }));
    expect(err.message).toBe('MFA_GATE_API_KEYS entry 1: unknown scope (not shown); scopes are decide, mfa, admin');
  });

  it('no keys anywhere and nowhere to generate one', () => {
    expect(errorOf(() => loadApiKeys({ env: {} })).message).toContain('set MFA_GATE_API_KEYS or give a data directory');
    const dir = tmp();
    expect(errorOf(() => loadApiKeys({ env: {}, dataDir: dir, generate: false })).message).toContain(
      `set MFA_GATE_API_KEYS or write ${join(dir, API_KEYS_FILE_NAME)}`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an ApiKeyring built directly validates the same way', () => {
    expect(errorOf(() => new ApiKeyring([])).message).toBe('no API keys configured');
    expect(errorOf(() => new ApiKeyring([{ key: K1, scopes: ['root'] }])).message).toBe(
      'API key 1: unknown scope "root"; scopes are decide, mfa, admin',
    );
  });
});

describe('loadApiKeys: keys file', () => {
  it('reads one key per line with scopes; # comments and blank lines are ignored; errors give the line', () => {
    const dir = tmp();
    const path = writeKeys(dir, `# gateway\n${K1}:decide\n\n   # ops\r\n${K2}\n${K3} : mfa+decide # not a comment\n`);
    const err = errorOf(() => loadApiKeys({ env: {}, dataDir: dir }));
    expect(err.message).toContain(`${path} line 6: unknown scope`); // "#" only starts a comment at the line's start

    writeKeys(dir, `# gateway\n${K1}:decide\n\n   # ops\r\n${K2}\n${K3} : mfa+decide\n`);
    const { keys, source, file, generated } = loadApiKeys({ env: {}, dataDir: dir });
    expect(source).toBe('file');
    expect(file).toBe(path);
    expect(generated).toBeUndefined();
    expect(scopesOf(keys, K1)).toEqual(['decide']);
    expect(scopesOf(keys, K2)).toEqual([...SCOPES].sort());
    expect(scopesOf(keys, K3)).toEqual(['decide', 'mfa']);
  });

  it('names the line of a bad entry, counting comments and blank lines', () => {
    const dir = tmp();
    const path = writeKeys(dir, `# keys\n${K1}\n\n${K2}:decide\n${K1}:mfa\n`);
    const err = errorOf(() => loadApiKeys({ env: {}, dataDir: dir }));
    expect(err.message).toBe(`${path} line 5: the key repeats ${path} line 2 (key id ${keyIdOf(K1)})`);
  });

  it('refuses a file holding no key', () => {
    const dir = tmp();
    const path = writeKeys(dir, '# nothing yet\n\n');
    expect(errorOf(() => loadApiKeys({ env: {}, dataDir: dir })).message).toBe(`${path} holds no API key`);
  });

  it.skipIf(process.platform === 'win32')('refuses a file other users can access (mode & 0o077)', () => {
    const dir = tmp();
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      const path = writeKeys(dir, `${K1}\n`, mode);
      const err = errorOf(() => loadApiKeys({ env: {}, dataDir: dir }));
      expect(err.message).toBe(`${path} has mode 0${mode.toString(8)} and is accessible to other users; run: chmod 600 ${path}`);
      rmSync(path);
    }
    writeKeys(dir, `${K1}\n`, 0o400);
    expect(loadApiKeys({ env: {}, dataDir: dir }).keys.authenticate(`Bearer ${K1}`).ok).toBe(true);
  });
});

describe('loadApiKeys: first start generates one admin key', () => {
  it('writes it with mode 0600, returns it once, and later starts read it back', () => {
    const dir = join(tmp(), 'nested', 'data');
    const first = loadApiKeys({ env: { MFA_GATE_API_KEYS: '' }, dataDir: dir });
    const path = join(dir, API_KEYS_FILE_NAME);
    expect(first.source).toBe('generated');
    expect(first.file).toBe(path);
    const key = first.generated!;
    // mgk_ + base64url of 32 bytes (43 chars, no padding)
    expect(key).toMatch(new RegExp(`^${GENERATED_KEY_PREFIX}[A-Za-z0-9_-]{43}$`));
    if (process.platform !== 'win32') {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
    expect(readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([key]);
    expect(readdirSync(dir)).toEqual([API_KEYS_FILE_NAME]); // no temporary file left behind
    expect(scopesOf(first.keys, key)).toEqual([...SCOPES].sort());

    const again = loadApiKeys({ env: {}, dataDir: dir });
    expect(again.source).toBe('file');
    expect(again.generated).toBeUndefined();
    expect(again).not.toHaveProperty('generated');
    expect(again.keys.authenticate(`Bearer ${key}`)).toEqual({ ok: true, scopes: new Set(SCOPES), keyId: keyIdOf(key) });
    expect(again.keys.keyIds).toEqual(first.keys.keyIds);
  });

  it('a file already created by another process is used, not overwritten', () => {
    const dir = tmp();
    writeKeys(dir, `${K1}\n`);
    for (let i = 0; i < 2; i++) {
      const r = loadApiKeys({ env: {}, dataDir: dir });
      expect(r.source).toBe('file');
      expect(r.generated).toBeUndefined();
      expect(r.keys.keyIds).toEqual([keyIdOf(K1)]);
    }
    expect(readFileSync(join(dir, API_KEYS_FILE_NAME), 'utf8')).toBe(`${K1}\n`);
  });

  it('losing the race (file created between our read and our write) uses the winner\'s key, unchanged', () => {
    const dir = tmp();
    const path = join(dir, API_KEYS_FILE_NAME);
    let reads = 0;
    fsHook.beforeOpen = (p, flags) => {
      if (p !== path || (flags !== 'r' && flags !== undefined) || reads++ > 0) return;
      // Our first read finds nothing; the other process then writes its key before we write ours.
      const err = Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      writeKeys(dir, `${K1}\n`);
      throw err;
    };
    const r = loadApiKeys({ env: {}, dataDir: dir });
    expect(reads).toBe(2);
    expect(r.source).toBe('file');
    expect(r.generated).toBeUndefined();
    expect(r.keys.keyIds).toEqual([keyIdOf(K1)]);
    expect(readFileSync(path, 'utf8')).toBe(`${K1}\n`);
    expect(readdirSync(dir)).toEqual([API_KEYS_FILE_NAME]); // our temporary file is gone
  });

  it('processes starting at once agree on one generated key, and only one of them prints it', async () => {
    const dir = tmp();
    const authTs = fileURLToPath(new URL('./auth.ts', import.meta.url));
    const child = join(dir, 'child.mjs');
    writeFileSync(
      child,
      `const { loadApiKeys } = await import(${JSON.stringify(authTs)});\n` +
        // A shared start time after every child has loaded, so their reads and writes really overlap.
        `const start = Number(process.argv[3]); while (Date.now() < start);\n` +
        `const r = loadApiKeys({ env: {}, dataDir: process.argv[2] });\n` +
        `process.stdout.write(JSON.stringify({ ids: r.keys.keyIds, source: r.source, generated: r.generated ?? null }));\n`,
    );
    const run = promisify(execFile);
    const keyDir = join(dir, 'data');
    const start = String(Date.now() + 1500);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => run(process.execPath, ['--import', 'tsx', child, keyDir, start], { cwd: process.cwd() })),
    );
    const outputs = results.map((r) => JSON.parse(r.stdout) as { ids: string[]; source: string; generated: string | null });
    expect(new Set(outputs.map((o) => o.ids.join()))).toHaveLength(1);
    const generators = outputs.filter((o) => o.source === 'generated');
    expect(generators).toHaveLength(1);
    expect(outputs.filter((o) => o.generated !== null)).toHaveLength(1);
    const key = generators[0]!.generated!;
    expect(outputs[0]!.ids).toEqual([keyIdOf(key)]);
    expect(loadApiKeys({ env: {}, dataDir: keyDir }).keys.authenticate(`Bearer ${key}`).ok).toBe(true);
    expect(readdirSync(keyDir)).toEqual([API_KEYS_FILE_NAME]);
  }, 30_000);
});

describe('ApiKeyring.authenticate', () => {
  const keys = new ApiKeyring([{ key: K1 }, { key: K2, scopes: ['decide'] }]);

  it('accepts Bearer <key> (scheme case-insensitive) and names the key by the first 8 hex of its SHA-256', () => {
    for (const header of [`Bearer ${K2}`, `bearer ${K2}`, `BEARER   ${K2}  `]) {
      expect(keys.authenticate(header)).toEqual({ ok: true, scopes: new Set(['decide']), keyId: keyIdOf(K2) });
    }
  });

  it('missing, malformed and unknown', () => {
    expect(keys.authenticate(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(keys.authenticate('')).toEqual({ ok: false, reason: 'missing' });
    for (const header of ['Basic xyz', 'Bearer', 'Bearer ', `Bearer ${K1} extra`, `Token ${K1}`, `Bearer${K1}`, 'Bearer a:b', `${K1}`]) {
      expect(keys.authenticate(header), header).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(keys.authenticate(`Bearer ${K3}`)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('rejects a key differing only in its last character, or a prefix or extension of one', () => {
    const last = K1.slice(0, -1) + (K1.endsWith('a') ? 'b' : 'a');
    for (const near of [last, K1.slice(0, -1), `${K1}a`]) {
      expect(keys.authenticate(`Bearer ${near}`)).toEqual({ ok: false, reason: 'unknown' });
    }
  });

  it('keeps no plaintext key in the object (only digests)', () => {
    expect(JSON.stringify(keys)).not.toContain(K1);
    expect(Object.values(keys).join()).not.toContain(K1);
    expect(String(keys)).not.toContain(K1);
  });
});

describe('requireScope middleware', () => {
  const keys = new ApiKeyring([
    { key: K1, scopes: ['admin'] },
    { key: K2, scopes: ['decide', 'mfa'] },
  ]);
  const app = new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .use('/v1/decide', requireScope(keys, 'decide'))
    .get('/v1/decide', (c) => c.json({ key: c.get('apiKeyId') }))
    .use('/v1/admin/*', requireScope(keys, 'admin'))
    .get('/v1/admin/x', (c) => c.json({ key: c.get('apiKeyId') }));
  const get = (path: string, authorization?: string) =>
    app.request(path, authorization === undefined ? {} : { headers: { authorization } });

  it('lets routes without it answer without a key', async () => {
    expect((await get('/healthz')).status).toBe(200);
  });

  it.each([
    ['missing', undefined, 'an API key is required: send Authorization: Bearer <key>', 'Bearer realm="mfa-gate"'],
    ['Basic', 'Basic xyz', 'the Authorization header must be "Bearer <key>"', 'Bearer realm="mfa-gate"'],
    ['empty Bearer', 'Bearer ', 'the Authorization header must be "Bearer <key>"', 'Bearer realm="mfa-gate"'],
    ['unknown', `Bearer ${K3}`, 'the API key is not valid', 'Bearer realm="mfa-gate", error="invalid_token"'],
    ['last char changed', `Bearer ${K2.slice(0, -1)}c`, 'the API key is not valid', 'Bearer realm="mfa-gate", error="invalid_token"'],
  ])('401 for a %s key, with the envelope and WWW-Authenticate', async (_name, authorization, message, challenge) => {
    const res = await get('/v1/decide', authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(challenge);
    expect(await res.json()).toEqual({ error: 'unauthorized', message, details: [] });
  });

  it('403 for a valid key without the scope', async () => {
    const res = await get('/v1/decide', `Bearer ${K1}`);
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="mfa-gate", error="insufficient_scope", scope="decide"');
    expect(await res.json()).toEqual({
      error: 'forbidden',
      message: `this API key (id ${keyIdOf(K1)}) lacks the "decide" scope`,
      details: [{ required_scope: 'decide' }],
    });
    expect((await get('/v1/admin/x', `Bearer ${K2}`)).status).toBe(403);
  });

  it('200 with the scope, and the handler sees the key id', async () => {
    const res = await get('/v1/decide', `Bearer ${K2}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ key: keyIdOf(K2) });
    const admin = await get('/v1/admin/x', `Bearer ${K1}`);
    expect(admin.status).toBe(200);
    expect(await admin.json()).toEqual({ key: keyIdOf(K1) });
  });
});
