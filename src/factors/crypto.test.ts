import { execFile } from 'node:child_process';
import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createKeyring, keyId, loadKeyring, parseKey } from './crypto.js';
import { FactorError, FactorErrorCode } from './errors.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const k3 = randomBytes(32);
const b64 = (k: Buffer): string => k.toString('base64');

function errorOf(fn: () => unknown): FactorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FactorError);
    return err as FactorError;
  }
  throw new Error('expected a FactorError');
}

describe('keyring: AES-256-GCM at rest', () => {
  const ring = createKeyring(k1);

  it('round-trips, in the v1.<key id>.<iv>.<ciphertext>.<tag> format', () => {
    const c = ring.encrypt('JBSWY3DPEHPK3PXP', 'totp:alice');
    expect(c).toMatch(/^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(c.split('.')[1]).toBe(ring.primaryKeyId);
    expect(ring.decrypt(c, 'totp:alice')).toBe('JBSWY3DPEHPK3PXP');
    expect(ring.decrypt(ring.encrypt('', 'x'), 'x')).toBe('');
    expect(ring.decrypt(ring.encrypt('ünï 🙂', 'x'), 'x')).toBe('ünï 🙂');
  });

  it('uses a fresh random IV every time', () => {
    const ivs = new Set(Array.from({ length: 100 }, () => ring.encrypt('same', 'same').split('.')[2]));
    expect(ivs.size).toBe(100);
  });

  it('the key id is the first 16 hex chars of sha256("mfa-gate key id" || key)', () => {
    const expected = createHash('sha256').update(Buffer.concat([Buffer.from('mfa-gate key id'), k1])).digest('hex').slice(0, 16);
    expect(keyId(k1)).toBe(expected);
    expect(ring.primaryKeyId).toBe(expected);
  });

  it('binds the ciphertext to its owner: another aad does not decrypt', () => {
    const c = ring.encrypt('secret', 'totp:alice');
    expect(errorOf(() => ring.decrypt(c, 'totp:bob')).code).toBe(FactorErrorCode.DECRYPTION_FAILED);
    expect(errorOf(() => ring.decrypt(c, 'backup:alice')).code).toBe(FactorErrorCode.DECRYPTION_FAILED);
  });

  it('detects tampering with any part', () => {
    const c = ring.encrypt('secret value', 'totp:alice');
    const parts = c.split('.');
    const flip = (s: string): string => {
      const b = Buffer.from(s, 'base64url');
      b[0]! ^= 1;
      return b.toString('base64url');
    };
    for (const i of [2, 3, 4]) {
      const t = [...parts];
      t[i] = flip(t[i]!);
      expect(errorOf(() => ring.decrypt(t.join('.'), 'totp:alice')).code).toBe(FactorErrorCode.DECRYPTION_FAILED);
    }
  });

  it('refuses malformed ciphertexts with DECRYPTION_FAILED', () => {
    const c = ring.encrypt('secret', 'a');
    const [, kid, iv, ct, tag] = c.split('.') as [string, string, string, string, string];
    const bad = [
      '',
      'garbage',
      c.replace(/^v1/, 'v2'),
      `${c}.extra`,
      [`v1`, kid, iv, ct].join('.'),
      ['v1', kid, `${iv}=`, ct, tag].join('.'), // padding: not the canonical spelling
      ['v1', kid, iv.slice(1), ct, tag].join('.'), // short IV
      ['v1', kid, iv, ct, tag.slice(2)].join('.'), // truncated tag
      ['v1', kid, iv, `${ct}+/`, tag].join('.'), // not base64url
      42 as unknown as string,
    ];
    for (const b of bad) expect(errorOf(() => ring.decrypt(b, 'a')).code).toBe(FactorErrorCode.DECRYPTION_FAILED);
  });

  it('refuses a ciphertext under an unknown key, naming only the key id', () => {
    const other = createKeyring(k2).encrypt('secret', 'a');
    const err = errorOf(() => ring.decrypt(other, 'a'));
    expect(err.code).toBe(FactorErrorCode.DECRYPTION_FAILED);
    expect(err.message).toContain(keyId(k2));
    expect(err.message).not.toContain(b64(k2));
  });

  it('authenticates the key id: relabelling a ciphertext with another known key fails', () => {
    const both = createKeyring(k1, [k2]);
    const c = both.encrypt('secret', 'a');
    const relabelled = c.replace(keyId(k1), keyId(k2));
    expect(errorOf(() => both.decrypt(relabelled, 'a')).code).toBe(FactorErrorCode.DECRYPTION_FAILED);
  });

  it('rotates: old keys decrypt, only the primary encrypts, isCurrent tells which to re-encrypt', () => {
    const before = createKeyring(k1).encrypt('secret', 'totp:alice');
    const rotated = createKeyring(k2, [k1]);
    expect(rotated.keyIds).toEqual([keyId(k2), keyId(k1)]);
    expect(rotated.decrypt(before, 'totp:alice')).toBe('secret');
    expect(rotated.isCurrent(before)).toBe(false);
    const after = rotated.encrypt('secret', 'totp:alice');
    expect(after.split('.')[1]).toBe(keyId(k2));
    expect(rotated.isCurrent(after)).toBe(true);
    expect(errorOf(() => createKeyring(k2).decrypt(before, 'totp:alice')).code).toBe(FactorErrorCode.DECRYPTION_FAILED);
  });

  it('drops duplicate old keys and refuses keys that are not 32 bytes', () => {
    expect(createKeyring(k1, [k1, k2, k2]).keyIds).toEqual([keyId(k1), keyId(k2)]);
    expect(errorOf(() => createKeyring(randomBytes(31))).code).toBe(FactorErrorCode.SECRET_KEY_INVALID);
    expect(errorOf(() => createKeyring(k1, [randomBytes(16)])).code).toBe(FactorErrorCode.SECRET_KEY_INVALID);
  });

  it('encrypts under an HKDF sub-key, not the raw key (one key, one purpose)', () => {
    // If the raw key were the AES key, encrypting with it directly would produce a decryptable ciphertext.
    const c = ring.encrypt('secret', 'a');
    const sub = Buffer.from(hkdfSync('sha256', k1, Buffer.alloc(0), 'mfa-gate/v1/totp-secret', 32));
    expect(sub.equals(k1)).toBe(false);
    const [, kid, iv, ct, tag] = c.split('.') as [string, string, string, string, string];
    const tryKey = async (key: Buffer): Promise<string> => {
      const { createDecipheriv } = await import('node:crypto');
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      d.setAAD(Buffer.from(`v1.${kid}.a`));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString();
    };
    return Promise.all([expect(tryKey(sub)).resolves.toBe('secret'), expect(tryKey(k1)).rejects.toThrow()]);
  });
});

describe('keyring: HMAC', () => {
  it('is HMAC-SHA256 under the HKDF sub-key mfa-gate/v1/<purpose>-hmac, hex', () => {
    const sub = Buffer.from(hkdfSync('sha256', k1, Buffer.alloc(0), 'mfa-gate/v1/backup-code-hmac', 32));
    const expected = createHmac('sha256', sub).update('ABCDEFGHJKMN').digest('hex');
    expect(createKeyring(k1).hmac('backup-code', 'ABCDEFGHJKMN')).toBe(expected);
    expect(createHmac('sha256', k1).update('ABCDEFGHJKMN').digest('hex')).not.toBe(expected);
  });

  it('separates purposes and keys', () => {
    const ring = createKeyring(k1);
    expect(ring.hmac('backup-code', 'm')).not.toBe(ring.hmac('session', 'm'));
    expect(ring.hmac('backup-code', 'm')).not.toBe(createKeyring(k2).hmac('backup-code', 'm'));
  });

  it('candidates: primary first, then old keys in order', () => {
    const ring = createKeyring(k1, [k2, k3]);
    expect(ring.hmacCandidates('backup-code', 'm')).toEqual([
      createKeyring(k1).hmac('backup-code', 'm'),
      createKeyring(k2).hmac('backup-code', 'm'),
      createKeyring(k3).hmac('backup-code', 'm'),
    ]);
  });

  it('refuses a malformed purpose label', () => {
    expect(() => createKeyring(k1).hmac('Backup Code', 'm')).toThrow(TypeError);
  });
});

describe('parseKey', () => {
  it('accepts standard and URL-safe base64, padded or not, with surrounding whitespace', () => {
    const k = Buffer.from('fb'.repeat(32), 'hex'); // encodes with '+' and '/'
    for (const s of [k.toString('base64'), k.toString('base64url'), ` ${k.toString('base64')}\n`]) {
      expect(parseKey(s, 'K').equals(k)).toBe(true);
    }
  });

  it.each([['not base64!'], [randomBytes(16).toString('base64')], [randomBytes(33).toString('base64')], ['']])(
    'refuses %j with SECRET_KEY_INVALID, without echoing it',
    (text) => {
      const err = errorOf(() => parseKey(text, 'MFA_GATE_SECRET_KEY'));
      expect(err.code).toBe(FactorErrorCode.SECRET_KEY_INVALID);
      expect(err.message).toContain('MFA_GATE_SECRET_KEY');
      if (text.length > 4) expect(err.message).not.toContain(text);
    },
  );
});

describe('loadKeyring', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'mfa-gate-key-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const noLog = (m: string): never => {
    throw new Error(`unexpected log: ${m}`);
  };

  it('takes the primary and old keys from the environment', () => {
    const ring = loadKeyring({ env: { MFA_GATE_SECRET_KEY: b64(k1), MFA_GATE_OLD_SECRET_KEYS: ` ${b64(k2)}, ,${b64(k3)} ` }, log: noLog });
    expect(ring.source).toBe('env');
    expect(ring.keyIds).toEqual([keyId(k1), keyId(k2), keyId(k3)]);
  });

  it('environment keys win over a key file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'secret.key'), `${b64(k2)}\n`, { mode: 0o600 });
    expect(loadKeyring({ env: { MFA_GATE_SECRET_KEY: b64(k1) }, dataDir: dir, log: noLog }).primaryKeyId).toBe(keyId(k1));
  });

  it('fails at start on a bad environment key, naming the variable and not the value', () => {
    const bad = randomBytes(16).toString('base64');
    const err = errorOf(() => loadKeyring({ env: { MFA_GATE_SECRET_KEY: bad }, log: noLog }));
    expect(err.code).toBe(FactorErrorCode.SECRET_KEY_INVALID);
    expect(err.message).toMatch(/MFA_GATE_SECRET_KEY.*32/);
    expect(err.message).not.toContain(bad);
    const err2 = errorOf(() => loadKeyring({ env: { MFA_GATE_SECRET_KEY: b64(k1), MFA_GATE_OLD_SECRET_KEYS: `${b64(k2)},nope` }, log: noLog }));
    expect(err2.message).toContain('MFA_GATE_OLD_SECRET_KEYS entry 2');
  });

  it('refuses old keys without a primary, and no key source at all', () => {
    expect(errorOf(() => loadKeyring({ env: { MFA_GATE_OLD_SECRET_KEYS: b64(k2) }, dataDir: tmp(), log: noLog })).code).toBe(
      FactorErrorCode.SECRET_KEY_INVALID,
    );
    expect(errorOf(() => loadKeyring({ env: {}, log: noLog })).code).toBe(FactorErrorCode.SECRET_KEY_INVALID);
  });

  it('reads a 0600 key file: first line primary, then old keys; blank and # lines ignored', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'secret.key'), `# rotated 2024-05\n${b64(k2)}\n\n${b64(k1)}\r\n`, { mode: 0o600 });
    const ring = loadKeyring({ env: {}, dataDir: dir, log: noLog });
    expect(ring.source).toBe('file');
    expect(ring.keyIds).toEqual([keyId(k2), keyId(k1)]);
  });

  it.skipIf(process.platform === 'win32')('refuses a key file readable by group or others', () => {
    const dir = tmp();
    const path = join(dir, 'secret.key');
    writeFileSync(path, `${b64(k1)}\n`);
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(path, mode);
      const err = errorOf(() => loadKeyring({ env: {}, dataDir: dir, log: noLog }));
      expect(err.code).toBe(FactorErrorCode.SECRET_KEY_INVALID);
      expect(err.message).toContain('chmod 600');
    }
    chmodSync(path, 0o400);
    expect(loadKeyring({ env: {}, dataDir: dir, log: noLog }).primaryKeyId).toBe(keyId(k1));
  });

  it('refuses an empty or malformed key file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'secret.key'), '# nothing\n', { mode: 0o600 });
    expect(errorOf(() => loadKeyring({ env: {}, dataDir: dir, log: noLog })).message).toContain('holds no key');
    writeFileSync(join(dir, 'secret.key'), `${b64(k1)}\nshort\n`, { mode: 0o600 });
    expect(errorOf(() => loadKeyring({ env: {}, dataDir: dir, log: noLog })).message).toContain('line 2');
  });

  it('generates a key file with mode 0600 once, logs where (never the key), and reuses it', () => {
    const dir = join(tmp(), 'nested', 'data');
    const logs: string[] = [];
    const first = loadKeyring({ env: { MFA_GATE_SECRET_KEY: '' }, dataDir: dir, log: (m) => logs.push(m) });
    const path = join(dir, 'secret.key');
    expect(first.source).toBe('generated');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const stored = readFileSync(path, 'utf8').trim();
    expect(Buffer.from(stored, 'base64')).toHaveLength(32);
    expect(keyId(Buffer.from(stored, 'base64'))).toBe(first.primaryKeyId);
    expect(logs).toEqual([
      `generated a new secret key in ${path}; back it up: without it the stored TOTP secrets cannot be decrypted`,
    ]);
    expect(logs.join('\n')).not.toContain(stored);
    expect(readdirSync(dir)).toEqual(['secret.key']); // no temporary file left behind

    const again = loadKeyring({ env: {}, dataDir: dir, log: noLog });
    expect(again.source).toBe('file');
    expect(again.primaryKeyId).toBe(first.primaryKeyId);
    expect(again.decrypt(first.encrypt('s', 'a'), 'a')).toBe('s');
  });

  it('with generate: false (instances sharing a database) refuses to generate, but reads an existing file', () => {
    const dir = tmp();
    const err = errorOf(() => loadKeyring({ env: {}, dataDir: dir, log: noLog, generate: false }));
    expect(err.message).toMatch(/instances sharing a database must share one key.*MFA_GATE_SECRET_KEY/);
    expect(existsSync(join(dir, 'secret.key'))).toBe(false);
    const made = loadKeyring({ env: {}, dataDir: dir, log: () => {} });
    expect(loadKeyring({ env: {}, dataDir: dir, log: noLog, generate: false }).primaryKeyId).toBe(made.primaryKeyId);
  });

  it('processes starting at once agree on one generated key', async () => {
    const dir = tmp();
    const cryptoTs = fileURLToPath(new URL('./crypto.ts', import.meta.url));
    const child = join(dir, 'child.mjs');
    writeFileSync(
      child,
      `const { loadKeyring } = await import(${JSON.stringify(cryptoTs)});\n` +
        // A shared start time after every child has loaded, so their reads and writes really overlap.
        `const start = Number(process.argv[3]); while (Date.now() < start);\n` +
        `const ring = loadKeyring({ env: {}, dataDir: process.argv[2], log: () => {} });\n` +
        `process.stdout.write(ring.primaryKeyId + ' ' + ring.source);\n`,
    );
    const run = promisify(execFile);
    const keyDir = join(dir, 'data');
    const start = String(Date.now() + 1500);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => run(process.execPath, ['--import', 'tsx', child, keyDir, start], { cwd: process.cwd() })),
    );
    const outputs = results.map((r) => r.stdout.split(' '));
    expect(new Set(outputs.map(([id]) => id)).size).toBe(1);
    expect(outputs.filter(([, source]) => source === 'generated')).toHaveLength(1);
    const onDisk = readFileSync(join(keyDir, 'secret.key'), 'utf8').trim();
    expect(keyId(Buffer.from(onDisk, 'base64'))).toBe(outputs[0]![0]);
    expect(readdirSync(keyDir)).toEqual(['secret.key']);
  }, 30_000);
});
