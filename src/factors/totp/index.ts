// TOTP (RFC 6238): secrets, otpauth:// URIs, QR codes and verification. Pure functions; the service
// (factors/service.ts) stores the encrypted secret and the last accepted step.
export { generateSecret, decodeSecret, TOTP_SECRET_BYTES, TOTP_SECRET_MIN_BYTES } from './secret.js';
export { buildUri, parseUri, LABEL_PART_MAX_LENGTH, type TotpUriInput, type ParsedTotpUri } from './uri.js';
export { qrCodes, qrTerminal, type TotpQrCodes } from './qr.js';
export {
  totpAt,
  totpStep,
  verifyTotp,
  normalizeTotpCode,
  TOTP_ALGORITHM,
  TOTP_DIGITS,
  TOTP_PERIOD_SECONDS,
  TOTP_WINDOW,
  type TotpAlgorithm,
  type TotpMoment,
  type TotpOptions,
  type TotpVerification,
  type VerifyTotpOptions,
} from './verify.js';
