// The otpauth:// key URI that authenticator apps scan, in the de-facto format of Google Authenticator's
// "Key Uri Format" (github.com/google/google-authenticator/wiki/Key-Uri-Format), which otpauth also parses.
//
// The string is assembled here rather than by otpauth's `toString()`: that one puts `issuer` before
// `secret` and percent-encodes '@' in the label, and the documented format (and our acceptance string)
// is `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
// URLSearchParams is avoided on purpose: it writes a space as '+', which some apps show literally.
import { URI } from 'otpauth';
import { FactorError, FactorErrorCode } from '../errors.js';
import { decodeSecret } from './secret.js';
import { TOTP_ALGORITHM, TOTP_DIGITS, TOTP_PERIOD_SECONDS } from './verify.js';

/** Apps truncate long labels anyway; a bound keeps URIs (and QR codes) small enough to scan reliably. */
export const LABEL_PART_MAX_LENGTH = 128;
/** C0 controls and DEL: invisible in an app and meaningless in a label. */
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export interface TotpUriInput {
  /** Who the account is at (shown by the app as the account's title), e.g. "ACME Co". */
  issuer: string;
  /** Which account, e.g. the user's e-mail address. */
  account: string;
  /** Base32 secret from generateSecret(). */
  secret: string;
}

function checkPart(value: unknown, code: FactorErrorCode, what: string): string {
  const bad = (why: string): FactorError => new FactorError(code, `the TOTP ${what} ${why}`);
  if (typeof value !== 'string') throw bad('must be a string');
  // Apps and otpauth's parser drop spaces after the ':' separator, so surrounding spaces cannot round-trip.
  const v = value.trim();
  if (v === '') throw bad('must not be empty');
  if ([...v].length > LABEL_PART_MAX_LENGTH) throw bad(`must be at most ${LABEL_PART_MAX_LENGTH} characters`);
  // Key Uri Format: "Neither issuer nor account name may themselves contain a colon" (it separates them).
  if (v.includes(':')) throw bad("must not contain ':'");
  if (CONTROL_RE.test(v)) throw bad('must not contain control characters');
  return v;
}

/** RFC 3986 §3.3: '@' is a legal path character, so e-mail addresses stay readable in the label. */
const encodeLabelPart = (s: string): string => encodeURIComponent(s).replace(/%40/g, '@');

/**
 * `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
 * Issuer and account are trimmed; throws FactorError INVALID_ISSUER / INVALID_ACCOUNT / INVALID_SECRET.
 */
export function buildUri({ issuer, account, secret }: TotpUriInput): string {
  const i = checkPart(issuer, FactorErrorCode.INVALID_ISSUER, 'issuer');
  const a = checkPart(account, FactorErrorCode.INVALID_ACCOUNT, 'account name');
  decodeSecret(secret);
  // The issuer appears twice on purpose: the parameter is the reliable one, the label prefix is for old apps.
  return (
    `otpauth://totp/${encodeLabelPart(i)}:${encodeLabelPart(a)}` +
    `?secret=${secret.toUpperCase().replace(/=+$/, '')}` +
    `&issuer=${encodeURIComponent(i)}` +
    `&algorithm=${TOTP_ALGORITHM}&digits=${TOTP_DIGITS}&period=${TOTP_PERIOD_SECONDS}`
  );
}

export interface ParsedTotpUri {
  issuer: string;
  account: string;
  secret: string;
  algorithm: string;
  digits: number;
  periodSeconds: number;
}

/** Reads an otpauth://totp URI back with otpauth's parser (what the CLI and the tests use). */
export function parseUri(uri: string): ParsedTotpUri {
  const otp = URI.parse(uri);
  if (!('period' in otp)) throw new FactorError(FactorErrorCode.INVALID_SECRET, 'not a TOTP URI');
  return {
    issuer: otp.issuer,
    account: otp.label,
    secret: otp.secret.base32,
    algorithm: otp.algorithm,
    digits: otp.digits,
    periodSeconds: otp.period,
  };
}
