// TOTP shared secrets: generation and decoding. The secret is the whole factor, so it comes from the
// operating system's CSPRNG (RFC 4226 §7.5, RFC 6238 §5.1) and is stored only encrypted (factors/crypto).
import { randomBytes } from 'node:crypto';
import { Secret } from 'otpauth';
import { FactorError, FactorErrorCode } from '../errors.js';

/**
 * RFC 4226 §4 requirement R6: the shared secret MUST be at least 128 bits and 160 bits is RECOMMENDED
 * (the output size of HMAC-SHA-1, the RFC 6238 default algorithm that authenticator apps use).
 */
export const TOTP_SECRET_BYTES = 20;
/** RFC 4226 §4 R6: below 128 bits a secret is refused outright. */
export const TOTP_SECRET_MIN_BYTES = 16;

/** RFC 4648 §6 base32 (upper or lower case), optionally padded: what otpauth:// URIs carry. */
const BASE32_RE = /^[A-Za-z2-7]+=*$/;

/** A new 160-bit secret, base32 without padding (32 characters), as it goes into the otpauth:// URI. */
export function generateSecret(): string {
  // Copy into a fresh ArrayBuffer: a Buffer may be a view into a larger shared pool.
  const bytes = new Uint8Array(randomBytes(TOTP_SECRET_BYTES));
  return new Secret({ buffer: bytes.buffer }).base32;
}

/** An otpauth Secret from base32 text or raw bytes; throws FactorError(INVALID_SECRET) on bad or short input. */
export function decodeSecret(secret: string | Uint8Array): Secret {
  let decoded: Secret;
  if (typeof secret === 'string') {
    if (!BASE32_RE.test(secret)) {
      throw new FactorError(FactorErrorCode.INVALID_SECRET, 'a TOTP secret must be RFC 4648 base32');
    }
    decoded = Secret.fromBase32(secret);
  } else if (secret instanceof Uint8Array) {
    decoded = new Secret({ buffer: new Uint8Array(secret).buffer });
  } else {
    throw new FactorError(FactorErrorCode.INVALID_SECRET, 'a TOTP secret must be base32 text or bytes');
  }
  if (decoded.bytes.length < TOTP_SECRET_MIN_BYTES) {
    throw new FactorError(
      FactorErrorCode.INVALID_SECRET,
      `a TOTP secret must be at least ${TOTP_SECRET_MIN_BYTES * 8} bits (RFC 4226 §4 R6)`,
    );
  }
  return decoded;
}
