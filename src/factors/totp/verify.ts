// RFC 6238 TOTP on top of otpauth's RFC 4226 HOTP. Verification reads only the server's clock (`nowMs`),
// checks the code's shape before any HMAC, and compares every candidate in the window in constant time.
// Replay protection (a step accepted at most once) belongs to the caller: it stores the returned step.
import { timingSafeEqual } from 'node:crypto';
import { HOTP } from 'otpauth';
import { decodeSecret } from './secret.js';

/** RFC 6238 §1.2 / §4: HMAC-SHA-1 is the default and the only algorithm every authenticator app honours. */
export const TOTP_ALGORITHM = 'SHA1';
/** RFC 4226 §5.3: at least 6 digits; 6 is what authenticator apps show. */
export const TOTP_DIGITS = 6;
/** RFC 6238 §5.2: "We RECOMMEND a default time-step size of 30 seconds." */
export const TOTP_PERIOD_SECONDS = 30;
/** RFC 6238 §5.2: at most one time step of delay; §6 allows the same forward for a fast client clock. */
export const TOTP_WINDOW = 1;
/** A wider window weakens the code (each extra step is another valid guess); more than this is a mistake. */
const MAX_WINDOW = 10;
/** Bitwise accumulation in verifyTotp needs 32-bit steps: 2^31 steps of 30 s reach the year 4010. */
const MAX_STEP = 0x7fffffff;
/** RFC 6238 §1.2 lists SHA-1, SHA-256 and SHA-512 (with Appendix B vectors for each). */
export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpOptions {
  algorithm?: TotpAlgorithm;
  /** RFC 4226 §5.3: 6, 7 or 8. */
  digits?: number;
  periodSeconds?: number;
}

/** A time step (RFC 6238 §4.2 T) or a Unix time in milliseconds. */
export type TotpMoment = { step: number } | { timeMs: number };

/** RFC 6238 §4.2: T = floor((Unix time - T0) / X) with T0 = 0. */
export function totpStep(timeMs: number, periodSeconds: number = TOTP_PERIOD_SECONDS): number {
  if (!Number.isFinite(timeMs) || timeMs < 0) throw new RangeError(`invalid time ${timeMs}`);
  return Math.floor(timeMs / (periodSeconds * 1000));
}

/**
 * The code for one step: HOTP(K, T) (RFC 6238 §4.2) with RFC 4226 §5.3 dynamic truncation mod 10^digits.
 * `secret` is base32 text or the raw key bytes (the RFC test seeds are raw ASCII).
 */
export function totpAt(
  secret: string | Uint8Array,
  at: TotpMoment,
  { algorithm = TOTP_ALGORITHM, digits = TOTP_DIGITS, periodSeconds = TOTP_PERIOD_SECONDS }: TotpOptions = {},
): string {
  checkOptions(algorithm, digits, periodSeconds);
  const step = 'step' in at ? at.step : totpStep(at.timeMs, periodSeconds);
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`invalid time step ${step}`);
  return HOTP.generate({ secret: decodeSecret(secret), algorithm, digits, counter: step });
}

function checkOptions(algorithm: string, digits: number, periodSeconds: number): void {
  if (algorithm !== 'SHA1' && algorithm !== 'SHA256' && algorithm !== 'SHA512') {
    throw new RangeError(`unsupported TOTP algorithm ${algorithm}`);
  }
  if (!Number.isInteger(digits) || digits < 6 || digits > 8) throw new RangeError(`TOTP digits must be 6..8, got ${digits}`);
  if (!Number.isInteger(periodSeconds) || periodSeconds < 1) throw new RangeError(`invalid TOTP period ${periodSeconds}`);
}

/** Six ASCII digits, optionally split "123 456" as apps display them; spaces around are trimmed. */
const CODE_RE = /^([0-9]{3}) ?([0-9]{3})$/;
/** Long input is rejected before the regular expression looks at it. */
const MAX_CODE_INPUT = 32;

/** The 6-digit code in `input`, or null when it cannot be a TOTP code (so no HMAC is computed for it). */
export function normalizeTotpCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_CODE_INPUT) return null;
  const m = CODE_RE.exec(input.trim());
  return m ? `${m[1]}${m[2]}` : null;
}

export type TotpVerification = { ok: true; step: number; delta: number } | { ok: false };

export interface VerifyTotpOptions {
  /** Steps accepted on each side of the current one (RFC 6238 §5.2, §6). */
  window?: number;
}

/**
 * Checks a 6-digit SHA-1 30 s code against every step in [T - window, T + window]. On success returns the
 * highest matching step (for the caller's replay check) and its offset from T. Every candidate is computed
 * and compared whatever matches, so the time taken says nothing about which step (if any) matched.
 * Throws only on a broken secret or options (FactorError / RangeError); a wrong code is `{ ok: false }`.
 */
export function verifyTotp(
  secretBase32: string,
  code: unknown,
  nowMs: number,
  { window = TOTP_WINDOW }: VerifyTotpOptions = {},
): TotpVerification {
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new RangeError(`TOTP window must be 0..${MAX_WINDOW}, got ${window}`);
  }
  const current = totpStep(nowMs);
  if (current + window > MAX_STEP) throw new RangeError(`time ${nowMs} is beyond the supported range`);
  const normalized = normalizeTotpCode(code);
  if (normalized === null) return { ok: false };

  const secret = decodeSecret(secretBase32);
  const given = Buffer.from(normalized, 'ascii');
  let matched = 0;
  let best = 0;
  for (let step = Math.max(0, current - window); step <= current + window; step++) {
    const expected = Buffer.from(totpAt(secret.bytes, { step }), 'ascii');
    // Both are exactly TOTP_DIGITS ASCII bytes, as timingSafeEqual requires.
    const hit = Number(timingSafeEqual(expected, given));
    const mask = -hit; // 0 or all ones
    matched |= hit;
    best = (best & ~mask) | (step & mask); // ascending loop: the last hit, the highest step, wins
  }
  return matched === 1 ? { ok: true, step: best, delta: best - current } : { ok: false };
}
