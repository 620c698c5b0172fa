// Secrets at rest: a keyring of AES-256-GCM keys (one primary that encrypts, older ones that only decrypt)
// and keyed HMACs for values that are looked up rather than read back (backup codes).
//
// Every stored ciphertext names the key that made it, so keys rotate without a migration: put the new key
// first, keep the old one as an "old key" until every row has been re-encrypted (see `isCurrent`).
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateFileExclusively } from '../private-file.js';
import { FactorError, FactorErrorCode } from './errors.js';

/** AES-256: 32-byte keys (NIST SP 800-38D with FIPS 197 AES-256). The same size serves as HKDF input keying material. */
export const KEY_BYTES = 32;
/** NIST SP 800-38D §8.2: a 96-bit IV is the recommended length; random IVs (§8.2.2) for each encryption. */
const IV_BYTES = 12;
/** NIST SP 800-38D §5.2.1.2: the full 128-bit tag; shorter tags weaken forgery resistance. */
const TAG_BYTES = 16;
const FORMAT_VERSION = 'v1';
/** 64 bits of sha256 identify a key among a handful without revealing anything useful about it. */
const KEY_ID_HEX_CHARS = 16;
const KEY_ID_PREFIX = 'mfa-gate key id';
/** RFC 5869 §3.2: distinct `info` strings give independent keys from one input key, one per purpose. */
const ENCRYPTION_INFO = 'mfa-gate/v1/totp-secret';
const hmacInfo = (purpose: string): string => `mfa-gate/v1/${purpose}-hmac`;
/** HMAC purposes are labels in code, never user input; a fixed shape keeps the HKDF info strings unambiguous. */
const PURPOSE_RE = /^[a-z][a-z0-9-]{0,31}$/;

export const ENV_SECRET_KEY = 'MFA_GATE_SECRET_KEY';
export const ENV_OLD_SECRET_KEYS = 'MFA_GATE_OLD_SECRET_KEYS';
export const KEY_FILE_NAME = 'secret.key';

export type KeySource = 'env' | 'file' | 'generated' | 'explicit';

export interface Keyring {
  /** Where the keys came from (for start-up logs and readiness output; never the keys themselves). */
  readonly source: KeySource;
  readonly primaryKeyId: string;
  /** The primary's id first, then each old key's. */
  readonly keyIds: readonly string[];
  /** AES-256-GCM under the primary; `aad` (e.g. `totp:<user id>`) binds the ciphertext to its purpose and owner. */
  encrypt(plaintext: string, aad: string): string;
  /** Throws FactorError(DECRYPTION_FAILED) when malformed, tampered with, under an unknown key or another `aad`. */
  decrypt(ciphertext: string, aad: string): string;
  /** Whether `ciphertext` was made by the primary key; false means it should be re-encrypted. */
  isCurrent(ciphertext: string): boolean;
  /** Hex HMAC-SHA256 of `message` under the primary's sub-key for `purpose`: the value to store. */
  hmac(purpose: string, message: string): string;
  /** The same under every key, primary first: a stored value made under any of them matches one. */
  hmacCandidates(purpose: string, message: string): string[];
}

/** First 16 hex chars of sha256("mfa-gate key id" || key). */
export function keyId(key: Uint8Array): string {
  return createHash('sha256').update(KEY_ID_PREFIX).update(key).digest('hex').slice(0, KEY_ID_HEX_CHARS);
}

interface KeyEntry {
  id: string;
  encryptionKey: Buffer;
  ikm: Buffer;
  hmacKeys: Map<string, Buffer>;
}

/** RFC 5869 §2.2: without a salt HKDF uses HashLen zero bytes, which is fine for uniformly random input keys. */
function subKey(ikm: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, KEY_BYTES));
}

function entry(key: Uint8Array): KeyEntry {
  if (key.length !== KEY_BYTES) {
    throw new FactorError(FactorErrorCode.SECRET_KEY_INVALID, `a secret key must be ${KEY_BYTES} bytes, got ${key.length}`);
  }
  const ikm = Buffer.from(key);
  return { id: keyId(ikm), encryptionKey: subKey(ikm, ENCRYPTION_INFO), ikm, hmacKeys: new Map() };
}

function hmacKey(e: KeyEntry, purpose: string): Buffer {
  let k = e.hmacKeys.get(purpose);
  if (!k) {
    if (!PURPOSE_RE.test(purpose)) throw new TypeError(`invalid HMAC purpose ${JSON.stringify(purpose)}`);
    k = subKey(e.ikm, hmacInfo(purpose));
    e.hmacKeys.set(purpose, k);
  }
  return k;
}

/** The header is authenticated too, so a ciphertext cannot be relabelled with another version or key id. */
function aadBytes(kid: string, aad: string): Buffer {
  return Buffer.from(`${FORMAT_VERSION}.${kid}.${aad}`, 'utf8');
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Strict base64url: the canonical, unpadded encoding only, so one ciphertext has exactly one spelling. */
function fromB64url(s: string, expectedBytes?: number): Buffer | null {
  if (!B64URL_RE.test(s)) return null;
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) return null;
  if (expectedBytes !== undefined && b.length !== expectedBytes) return null;
  return b;
}

function decryptionFailed(message: string, cause?: unknown): FactorError {
  return new FactorError(FactorErrorCode.DECRYPTION_FAILED, message, cause === undefined ? undefined : { cause });
}

/**
 * A keyring from raw keys: `primary` encrypts, `old` keys only decrypt (and match HMACs).
 * Old keys equal to the primary or to each other are dropped.
 */
export function createKeyring(primary: Uint8Array, old: readonly Uint8Array[] = [], source: KeySource = 'explicit'): Keyring {
  const entries: KeyEntry[] = [entry(primary)];
  for (const k of old) {
    const e = entry(k);
    if (!entries.some((x) => x.id === e.id)) entries.push(e);
  }
  const byId = new Map(entries.map((e) => [e.id, e]));
  const primaryEntry = entries[0]!;

  return {
    source,
    primaryKeyId: primaryEntry.id,
    keyIds: entries.map((e) => e.id),

    encrypt(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', primaryEntry.encryptionKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadBytes(primaryEntry.id, aad));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [FORMAT_VERSION, primaryEntry.id, iv.toString('base64url'), ct.toString('base64url'), tag.toString('base64url')].join('.');
    },

    decrypt(ciphertext, aad) {
      const parts = typeof ciphertext === 'string' ? ciphertext.split('.') : [];
      if (parts.length !== 5 || parts[0] !== FORMAT_VERSION) throw decryptionFailed('malformed ciphertext');
      const [, kid, ivS, ctS, tagS] = parts as [string, string, string, string, string];
      const iv = fromB64url(ivS, IV_BYTES);
      const ct = fromB64url(ctS);
      const tag = fromB64url(tagS, TAG_BYTES);
      if (!iv || !ct || !tag) throw decryptionFailed('malformed ciphertext');
      const e = byId.get(kid);
      // The key id is a public fingerprint, safe to name: it tells the operator which old key to restore.
      if (!e) throw decryptionFailed(`ciphertext made under unknown key id ${JSON.stringify(kid.slice(0, KEY_ID_HEX_CHARS))}`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', e.encryptionKey, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aadBytes(kid, aad));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
      } catch (err) {
        throw decryptionFailed('ciphertext failed authentication (tampered with, or bound to another owner)', err);
      }
    },

    isCurrent(ciphertext) {
      const parts = ciphertext.split('.');
      return parts.length === 5 && parts[0] === FORMAT_VERSION && parts[1] === primaryEntry.id;
    },

    hmac(purpose, message) {
      return createHmac('sha256', hmacKey(primaryEntry, purpose)).update(message, 'utf8').digest('hex');
    },

    hmacCandidates(purpose, message) {
      return entries.map((e) => createHmac('sha256', hmacKey(e, purpose)).update(message, 'utf8').digest('hex'));
    },
  };
}

const B64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Base64 (standard or URL-safe alphabet, padding optional) of exactly 32 bytes; `what` names it in errors. */
export function parseKey(text: string, what: string): Buffer {
  const s = text.trim();
  const bad = (detail: string): FactorError =>
    new FactorError(
      FactorErrorCode.SECRET_KEY_INVALID,
      `${what} must be the base64 encoding of exactly ${KEY_BYTES} random bytes (${detail}); ` +
        'make one with: openssl rand -base64 32',
    );
  if (!B64_RE.test(s)) throw bad('not base64');
  const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (b.length !== KEY_BYTES) throw bad(`it decodes to ${b.length} bytes`);
  return b;
}

export interface LoadKeyringOptions {
  env?: NodeJS.ProcessEnv;
  /** Where `secret.key` is read from or generated into when the environment has no key. */
  dataDir?: string;
  /** Receives operator notices (never a key). */
  log?: (message: string) => void;
  /**
   * Whether a missing key file may be generated (default true). False when several instances share one
   * database: each would generate its own key and could not read the others' secrets.
   */
  generate?: boolean;
}

/**
 * The keyring for this process, decided once at start-up (throws FactorError(SECRET_KEY_INVALID) on any
 * misconfiguration, so a bad key never surfaces as a per-request failure):
 * 1. `MFA_GATE_SECRET_KEY` (+ optional comma-separated `MFA_GATE_OLD_SECRET_KEYS`), else
 * 2. `<dataDir>/secret.key`, one base64 key per line, first = primary, mode 0600 required, else
 * 3. a new random key written there (mode 0600) with a notice to back it up (unless `generate` is false).
 * An empty variable counts as unset (container tooling often sets `VAR=` for an absent value).
 */
export function loadKeyring({ env = process.env, dataDir, log = (m) => console.warn(m), generate = true }: LoadKeyringOptions = {}): Keyring {
  const primaryText = env[ENV_SECRET_KEY]?.trim() ?? '';
  const oldText = env[ENV_OLD_SECRET_KEYS]?.trim() ?? '';
  if (primaryText !== '') {
    const primary = parseKey(primaryText, ENV_SECRET_KEY);
    const old = oldText
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s, i) => parseKey(s, `${ENV_OLD_SECRET_KEYS} entry ${i + 1}`));
    return createKeyring(primary, old, 'env');
  }
  if (oldText !== '') {
    throw new FactorError(
      FactorErrorCode.SECRET_KEY_INVALID,
      `${ENV_OLD_SECRET_KEYS} is set but ${ENV_SECRET_KEY} is not: old keys only decrypt, a primary key is required`,
    );
  }
  if (dataDir === undefined || dataDir === '') {
    throw new FactorError(
      FactorErrorCode.SECRET_KEY_INVALID,
      `no secret key: set ${ENV_SECRET_KEY} or give a data directory for ${KEY_FILE_NAME}`,
    );
  }
  const path = join(dataDir, KEY_FILE_NAME);
  const existing = readKeyFile(path);
  if (existing) return createKeyring(existing[0]!, existing.slice(1), 'file');
  if (!generate) {
    throw new FactorError(
      FactorErrorCode.SECRET_KEY_INVALID,
      `no secret key: instances sharing a database must share one key, so it is not generated; set ${ENV_SECRET_KEY} ` +
        `(e.g. \`openssl rand -base64 32\`) to the same value on every instance, or put it in ${path}`,
    );
  }

  const key = randomBytes(KEY_BYTES);
  const created = createPrivateFileExclusively(
    dataDir,
    path,
    `${key.toString('base64')}\n`,
    (message, cause) => new FactorError(FactorErrorCode.SECRET_KEY_INVALID, message, { cause }),
  );
  if (!created) {
    // Another process created it between our read and our write: use theirs, so both agree.
    const theirs = readKeyFile(path);
    if (!theirs) throw new FactorError(FactorErrorCode.SECRET_KEY_INVALID, `${path} disappeared while starting`);
    return createKeyring(theirs[0]!, theirs.slice(1), 'file');
  }
  log(`generated a new secret key in ${path}; back it up: without it the stored TOTP secrets cannot be decrypted`);
  return createKeyring(key, [], 'generated');
}

/** The keys in `path`, or null when it does not exist. */
function readKeyFile(path: string): Buffer[] | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FactorError(FactorErrorCode.SECRET_KEY_INVALID, `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // fstat on the open descriptor: the mode checked is the mode of the file actually read.
    const mode = fstatSync(fd).mode & 0o777;
    // NIST SP 800-57 Part 1 Rev. 5 §6.1.1: a secret key needs confidentiality protection, so only its owner
    // may read the file. POSIX modes mean nothing on Windows.
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new FactorError(
        FactorErrorCode.SECRET_KEY_INVALID,
        `${path} has mode 0${mode.toString(8)} and is readable by other users; run: chmod 600 ${path}`,
      );
    }
    const lines = readFileSync(fd, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    if (lines.length === 0) throw new FactorError(FactorErrorCode.SECRET_KEY_INVALID, `${path} holds no key`);
    return lines.map((l, i) => parseKey(l, `${path} line ${i + 1} (not counting blank and comment lines)`));
  } finally {
    closeSync(fd);
  }
}

