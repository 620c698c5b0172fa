// Backup codes (NIST SP 800-63B §5.1.2 look-up secrets): random, shown once, stored only as keyed hashes.
//
// Why HMAC and not a password hash: a code carries 60 random bits, far beyond what an online guesser can
// try under throttling, and an offline attacker holding the database still needs the server key. Measured
// here, HMAC-SHA256 costs ~2.6 µs against ~43 ms for scrypt (N=16384); with ten codes per user and old
// keys in the keyring, a KDF would make every check cost tens of scrypt calls (DESIGN.md, "Storage").
import { randomInt } from 'node:crypto';
import type { Keyring } from '../crypto.js';
import { FactorError, FactorErrorCode } from '../errors.js';

/**
 * Crockford's base32 (crockford.com/base32.html): digits and letters without I, L, O and U, so a code read
 * aloud or copied by hand has no look-alikes; 32 symbols = 5 bits each.
 */
export const BACKUP_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/**
 * 12 symbols x 5 bits = 60 bits. NIST SP 800-63B §5.1.2.1 asks at least 20 bits of entropy for look-up
 * secrets; 60 also resists offline guessing should the HMAC key ever leak with the database.
 */
export const BACKUP_CODE_LENGTH = 12;
export const BACKUP_CODE_GROUP = 4;
/** A set larger than this is a configuration mistake, not a use case (the policy default is 10). */
export const MAX_BACKUP_CODES = 100;
/** The HMAC purpose: HKDF info `mfa-gate/v1/backup-code-hmac`, a key used for nothing else. */
export const BACKUP_CODE_HMAC_PURPOSE = 'backup-code';

const CANONICAL_RE = /^[0-9A-HJKMNP-TV-Z]{12}$/;
/** Generous for dashes and spaces around 12 symbols; longer input is rejected before any other work. */
const MAX_INPUT_LENGTH = 64;

/** `XXXX-XXXX-XXXX`: groups of four are easier to copy than twelve in a row. */
export function formatBackupCode(canonical: string): string {
  const groups: string[] = [];
  for (let i = 0; i < canonical.length; i += BACKUP_CODE_GROUP) groups.push(canonical.slice(i, i + BACKUP_CODE_GROUP));
  return groups.join('-');
}

/**
 * `count` distinct codes, formatted `XXXX-XXXX-XXXX`. Each symbol comes from crypto.randomInt, which
 * rejection-samples, so every symbol is uniform (no modulo bias). Throws FactorError(INVALID_COUNT)
 * unless 1 <= count <= 100.
 */
export function generateBackupCodes(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BACKUP_CODES) {
    throw new FactorError(FactorErrorCode.INVALID_COUNT, `the backup code count must be 1..${MAX_BACKUP_CODES}, got ${count}`);
  }
  const codes = new Set<string>();
  // A collision among 100 codes has probability ~2^-47; the set makes distinctness a guarantee regardless.
  while (codes.size < count) {
    let code = '';
    for (let i = 0; i < BACKUP_CODE_LENGTH; i++) code += BACKUP_CODE_ALPHABET[randomInt(BACKUP_CODE_ALPHABET.length)];
    codes.add(code);
  }
  return [...codes].map(formatBackupCode);
}

/**
 * The canonical 12-symbol form of what a user typed, or null when it cannot be a backup code (so the
 * caller counts a failure without a database round trip). Case-insensitive; dashes and whitespace are
 * ignored; Crockford decoding maps the look-alikes I and L to 1 and O to 0. Only ASCII is accepted,
 * so no Unicode case mapping can turn other characters into code symbols.
 */
export function normalizeBackupCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null;
  const compact = input.replace(/[-\s]/g, '');
  if (!/^[0-9A-Za-z]{12}$/.test(compact)) return null;
  const canonical = compact.toUpperCase().replace(/[IL]/g, '1').replace(/O/g, '0');
  return CANONICAL_RE.test(canonical) ? canonical : null;
}

function checkCanonical(canonical: string): void {
  // Hashing anything else would store a value no normalised input can ever match.
  if (typeof canonical !== 'string' || !CANONICAL_RE.test(canonical)) {
    throw new FactorError(FactorErrorCode.INVALID_CODE, 'backup codes are hashed in canonical form (see normalizeBackupCode)');
  }
}

/** The hex HMAC-SHA256 to store for a canonical code, under the primary key. Never store the code itself. */
export function hashBackupCode(keyring: Keyring, canonical: string): string {
  checkCanonical(canonical);
  return keyring.hmac(BACKUP_CODE_HMAC_PURPOSE, canonical);
}

/** The hashes a stored code may have, one per key (primary first): the store consumes whichever it holds. */
export function backupCodeCandidates(keyring: Keyring, canonical: string): string[] {
  checkCanonical(canonical);
  return keyring.hmacCandidates(BACKUP_CODE_HMAC_PURPOSE, canonical);
}

/** Hashes of freshly generated (formatted) codes, ready for Store.replaceBackupCodes / activateTotp. */
export function hashBackupCodes(keyring: Keyring, codes: readonly string[]): string[] {
  return codes.map((code) => {
    const canonical = normalizeBackupCode(code);
    if (canonical === null) throw new FactorError(FactorErrorCode.INVALID_CODE, 'not a backup code');
    return hashBackupCode(keyring, canonical);
  });
}
