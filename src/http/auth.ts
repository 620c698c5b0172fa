// API keys: who may call the HTTP API, and for what (scopes). Decided once at start-up; any misconfiguration
// throws then, so a bad key list never surfaces as a per-request failure.
//
// Keys are held in memory only as SHA-256 digests: a heap dump, a debugger or an error message shows a
// digest, never a key. Presented tokens are hashed too and compared with every configured digest in
// constant time, so response timing says nothing about how much of a key was right.
import * as nodeCrypto from 'node:crypto';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMiddleware } from 'hono/factory';
import { ErrorCode } from '../errors.js';
import { createPrivateFileExclusively } from '../private-file.js';
import { errorResponse } from './errors.js';

export const SCOPES = ['decide', 'mfa', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const ENV_API_KEYS = 'MFA_GATE_API_KEYS';
/** The keys file in the data directory: read when the environment has no keys, generated on a first start. */
export const API_KEYS_FILE_NAME = 'api-keys';
/** Issue (API keys): a configured key shorter than this is refused; a short secret is guessable online. */
export const MIN_KEY_LENGTH = 16;
/** 256 bits from the CSPRNG: far beyond online or offline guessing, and the size of the SHA-256 digest kept. */
const GENERATED_KEY_BYTES = 32;
/** Marks a generated key as an mfa-gate API key, so secret scanners and people recognise one in the wild. */
export const GENERATED_KEY_PREFIX = 'mgk_';
/** The first 8 hex chars (32 bits) of a key's digest name it in logs; too few to help guess the key. */
const KEY_ID_HEX_CHARS = 8;
/** RFC 6750 §2.1: a Bearer token is a b64token; a key outside this alphabet could never be presented. */
const B64TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 7235 §2.1: `credentials = auth-scheme [ 1*SP token68 ]`, the scheme a case-insensitive token. */
const CREDENTIALS_RE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?: +(.*))?$/;
const REALM = 'mfa-gate';
/** A short lowercase word: safe to repeat in an error message (a key is longer, or mixed case or digits). */
const SCOPE_LIKE_RE = /^[a-z]{0,12}$/;

/** A broken API key configuration; the message names the problem and where, never the key itself. */
export class ApiKeyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ApiKeyError';
  }
}

export interface ApiKeyEntry {
  key: string;
  /** Scope names as configured; checked against SCOPES. Omitted: every scope. */
  scopes?: readonly string[];
  /** Where the entry came from, for error messages (e.g. `MFA_GATE_API_KEYS entry 2`). */
  where?: string;
}

export type AuthResult =
  | { ok: true; scopes: ReadonlySet<Scope>; keyId: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' };

// crypto.hash (Node >= 20.12) digests in one call, without a Hash object: about half the cost of
// createHash().update().digest() (~1 µs saved on every authenticated request). Same SHA-256 of the same UTF-8
// bytes; read off the namespace because a named import of it would fail to link on Node 20.6-20.11.
//
// Not done: caching the verdict per keep-alive connection (header string -> result, skipping the hash). A proxy
// that pools connections sends different callers' keys down one socket, and comparing a presented header with
// the one cached there must then be constant-time; that needs equal lengths, so the comparison would tell a
// caller whether their header is as long as another caller's key. It would save ~1 µs more.
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const sha256 = oneShot
  ? (s: string): Buffer => oneShot('sha256', s, 'buffer')
  : (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

export class ApiKeyring {
  readonly #digests: Buffer[] = [];
  readonly #ids: string[] = [];
  /** The success result of each key, built once (authenticate answers with it on every request). */
  readonly #results: AuthResult[] = [];

  /** Throws ApiKeyError for no keys, an empty, short, non-token or repeated key, or an unknown or empty scope. */
  constructor(entries: readonly ApiKeyEntry[]) {
    if (entries.length === 0) throw new ApiKeyError('no API keys configured');
    entries.forEach((entry, i) => {
      const where = entry.where ?? `API key ${i + 1}`;
      const { key } = entry;
      if (key === '') throw new ApiKeyError(`${where}: the key is empty`);
      if (key.length < MIN_KEY_LENGTH) {
        throw new ApiKeyError(`${where}: the key is ${key.length} characters long; at least ${MIN_KEY_LENGTH} are required`);
      }
      if (!B64TOKEN_RE.test(key)) {
        throw new ApiKeyError(`${where}: the key may only contain letters, digits and - . _ ~ + / (then = padding)`);
      }
      let scopes: ReadonlySet<Scope> = new Set(SCOPES);
      if (entry.scopes !== undefined) {
        if (entry.scopes.length === 0) throw new ApiKeyError(`${where}: the scope list is empty (omit ":" for every scope)`);
        for (const s of entry.scopes) {
          if (isScope(s)) continue;
          // Echo only what looks like a mistyped scope name: text after a stray ":" may be part of a key.
          const shown = SCOPE_LIKE_RE.test(s) ? `"${s}"` : '(not shown)';
          throw new ApiKeyError(`${where}: unknown scope ${shown}; scopes are ${SCOPES.join(', ')}`);
        }
        scopes = new Set(entry.scopes as readonly Scope[]);
      }
      const digest = sha256(key);
      const id = digest.toString('hex', 0, KEY_ID_HEX_CHARS / 2);
      const twin = this.#digests.findIndex((d) => d.equals(digest));
      if (twin !== -1) {
        throw new ApiKeyError(`${where}: the key repeats ${entries[twin]?.where ?? `API key ${twin + 1}`} (key id ${id})`);
      }
      this.#digests.push(digest);
      this.#ids.push(id);
      this.#results.push(Object.freeze({ ok: true, scopes, keyId: id }));
    });
  }

  /** Ids of the configured keys, in order (safe to log). */
  get keyIds(): readonly string[] {
    return [...this.#ids];
  }

  /** Checks an `Authorization` header value: `Bearer <key>`. */
  authenticate(header: string | undefined): AuthResult {
    const trimmed = header?.trim();
    if (trimmed === undefined || trimmed === '') return { ok: false, reason: 'missing' };
    const m = CREDENTIALS_RE.exec(trimmed);
    if (!m || m[1]!.toLowerCase() !== 'bearer') return { ok: false, reason: 'malformed' };
    const token = (m[2] ?? '').trim();
    if (!B64TOKEN_RE.test(token)) return { ok: false, reason: 'malformed' };
    // Node caps a request's headers at 16 KiB (--max-http-header-size), which bounds the hashing work here.
    const presented = sha256(token);
    let match = -1;
    // Every digest is compared, without an early exit, so the time taken does not say which key (if any)
    // matched; equal lengths (32 bytes each) are what timingSafeEqual requires.
    for (let i = 0; i < this.#digests.length; i++) {
      const equal = timingSafeEqual(presented, this.#digests[i]!);
      match = equal ? i : match;
    }
    if (match === -1) return { ok: false, reason: 'unknown' };
    return this.#results[match]!;
  }
}

/**
 * One entry per item: `KEY` (every scope) or `KEY:scope+scope`, whitespace around each part ignored.
 * `where(i)` labels item i (0-based) in error messages.
 */
function parseEntries(items: readonly string[], where: (i: number) => string): ApiKeyEntry[] {
  return items.map((item, i) => {
    const colon = item.indexOf(':');
    if (colon === -1) return { key: item.trim(), where: where(i) };
    const scopes = item
      .slice(colon + 1)
      .split('+')
      .map((s) => s.trim());
    return { key: item.slice(0, colon).trim(), scopes: scopes.length === 1 && scopes[0] === '' ? [] : scopes, where: where(i) };
  });
}

/** `MFA_GATE_API_KEYS`: comma-separated entries, e.g. `k1,k2:decide,k3:decide+mfa`. */
export function parseEnvKeys(value: string, name = ENV_API_KEYS): ApiKeyEntry[] {
  // An empty item (`a,,b`, a trailing comma) is refused rather than skipped: it is usually a key that a
  // template failed to fill in, and silently running with one key fewer hides that.
  return parseEntries(value.trim().split(','), (i) => `${name} entry ${i + 1}`);
}

/** A keys file: one entry per line, `#` comments and blank lines ignored; errors name the line number. */
export function parseKeysFile(text: string, path: string): ApiKeyEntry[] {
  const lines: { text: string; line: number }[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    const t = l.trim();
    if (t !== '' && !t.startsWith('#')) lines.push({ text: t, line: i + 1 });
  });
  if (lines.length === 0) throw new ApiKeyError(`${path} holds no API key`);
  return parseEntries(
    lines.map((l) => l.text),
    (i) => `${path} line ${lines[i]!.line}`,
  );
}

export interface LoadApiKeysOptions {
  env?: NodeJS.ProcessEnv;
  /** Where `api-keys` is read from or generated into when the environment has no keys. */
  dataDir?: string;
  /** Generate an admin key on a first start (no env keys, no keys file); otherwise that throws. */
  generate?: boolean;
}

export interface LoadedApiKeys {
  keys: ApiKeyring;
  /** The generated key's plaintext, present only on the start that created it: show it once, then drop it. */
  generated?: string;
  source: 'env' | 'file' | 'generated';
  /** The keys file read or written (absent for env keys). */
  file?: string;
}

/**
 * The API keys for this process (throws ApiKeyError on any misconfiguration):
 * 1. `MFA_GATE_API_KEYS` when set and non-empty (container tooling often sets `VAR=` for an absent value), else
 * 2. `<dataDir>/api-keys`, mode 0600 or stricter required, else
 * 3. a new admin key (every scope) written there with mode 0600, its plaintext returned once as `generated`.
 */
export function loadApiKeys({ env = process.env, dataDir, generate = true }: LoadApiKeysOptions = {}): LoadedApiKeys {
  const envValue = env[ENV_API_KEYS]?.trim() ?? '';
  if (envValue !== '') return { keys: new ApiKeyring(parseEnvKeys(envValue)), source: 'env' };
  if (dataDir === undefined || dataDir === '') {
    throw new ApiKeyError(`no API keys: set ${ENV_API_KEYS} or give a data directory for ${API_KEYS_FILE_NAME}`);
  }
  const path = join(dataDir, API_KEYS_FILE_NAME);
  const fromFile = (text: string): LoadedApiKeys => ({ keys: new ApiKeyring(parseKeysFile(text, path)), source: 'file', file: path });
  const existing = readPrivateFile(path);
  if (existing !== null) return fromFile(existing);
  if (!generate) throw new ApiKeyError(`no API keys: set ${ENV_API_KEYS} or write ${path}`);

  const key = GENERATED_KEY_PREFIX + randomBytes(GENERATED_KEY_BYTES).toString('base64url');
  const content =
    '# mfa-gate API keys: one per line, KEY (every scope) or KEY:scope+scope; ' +
    `scopes: ${SCOPES.join(', ')}. Keep this file mode 0600.\n${key}\n`;
  if (!createPrivateFileExclusively(dataDir, path, content, (message, cause) => new ApiKeyError(message, { cause }))) {
    // Another process created it between our read and our write: use theirs, so both accept the same key.
    const theirs = readPrivateFile(path);
    if (theirs === null) throw new ApiKeyError(`${path} disappeared while starting`);
    return fromFile(theirs);
  }
  return { keys: new ApiKeyring(parseKeysFile(content, path)), generated: key, source: 'generated', file: path };
}

/** The text of `path`, or null when it does not exist; refuses a file other users can read or write. */
function readPrivateFile(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ApiKeyError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // fstat on the open descriptor: the mode checked is the mode of the file actually read.
    const mode = fstatSync(fd).mode & 0o777;
    // The keys are credentials, so only their owner may read the file (as ssh does for private keys).
    // POSIX modes mean nothing on Windows.
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new ApiKeyError(`${path} has mode 0${mode.toString(8)} and is accessible to other users; run: chmod 600 ${path}`);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}


const UNAUTHORIZED_MESSAGE = {
  missing: 'an API key is required: send Authorization: Bearer <key>',
  malformed: 'the Authorization header must be "Bearer <key>"',
  unknown: 'the API key is not valid',
} as const;

export type AuthVariables = { apiKeyId: string };

/**
 * Lets a request through only with a valid key that has `scope`; sets `apiKeyId` (safe to log) for handlers.
 * 401 for a missing, malformed or unknown key; 403 for a valid key without the scope.
 */
export function requireScope(keys: ApiKeyring, scope: Scope) {
  return createMiddleware<{ Variables: AuthVariables }>(async (c, next) => {
    const result = keys.authenticate(c.req.header('authorization'));
    if (!result.ok) {
      // RFC 6750 §3: a challenge always; `error="invalid_token"` only when a token was presented and refused
      // (§3.1), none when credentials were absent or in another scheme.
      c.header('WWW-Authenticate', result.reason === 'unknown' ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`);
      return errorResponse(c, 401, ErrorCode.UNAUTHORIZED, UNAUTHORIZED_MESSAGE[result.reason]);
    }
    if (!result.scopes.has(scope)) {
      // RFC 6750 §3.1: insufficient_scope is a 403 naming the scope needed.
      c.header('WWW-Authenticate', `Bearer realm="${REALM}", error="insufficient_scope", scope="${scope}"`);
      // 'forbidden' is not in ErrorCode (src/errors.ts belongs to the lead); the envelope takes any code string.
      return errorResponse(c, 403, 'forbidden', `this API key (id ${result.keyId}) lacks the "${scope}" scope`, [
        { required_scope: scope },
      ]);
    }
    c.set('apiKeyId', result.keyId);
    await next();
  });
}
