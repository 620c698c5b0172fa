// Named error codes of the factor module, in the style of better-auth's two-factor plugin: a code a caller
// can switch on, never a message to parse. Expected negative outcomes (a wrong code, a throttled attempt)
// are return values, not these errors; these are for bad input and broken configuration or data.
// The service adds its codes here: one const, one error type.

export const FactorErrorCode = {
  /** A code that is not a TOTP or backup code at all (wrong shape), where a caller wants an exception. */
  INVALID_CODE: 'invalid_code',
  /** A TOTP issuer that cannot go into an otpauth:// URI (empty, too long, contains ':' or control characters). */
  INVALID_ISSUER: 'invalid_issuer',
  /** A TOTP account name that cannot go into an otpauth:// URI. */
  INVALID_ACCOUNT: 'invalid_account',
  /** A TOTP secret that is not base32 or is shorter than the minimum. */
  INVALID_SECRET: 'invalid_secret',
  /** A backup code count outside 1..100. */
  INVALID_COUNT: 'invalid_count',
  /** The configured secret key (env or key file) is malformed or the key file is unsafe. */
  SECRET_KEY_INVALID: 'secret_key_invalid',
  /** A ciphertext that is malformed, tampered with, bound to another owner, or under an unknown key. */
  DECRYPTION_FAILED: 'decryption_failed',

  // Outcomes of the service (returned, not thrown), each with the HTTP status the API will answer;
  // INVALID_CODE above (401) also covers a replayed TOTP code and a used backup code.
  /** 429: wait `retry_after_s` (exponential backoff after consecutive failures, per user and per IP). */
  TOO_MANY_ATTEMPTS: 'too_many_attempts',
  /** 423: 100 consecutive failures (NIST SP 800-63B 5.2.2); an administrator must unlock. */
  FACTOR_LOCKED: 'factor_locked',
  /** 409: the user has no active factor to verify. */
  NOT_ENROLLED: 'not_enrolled',
  /** 409: confirm without a pending enrollment (or a concurrent confirm won). */
  NO_PENDING_ENROLLMENT: 'no_pending_enrollment',
  /** 403: replacing or removing a factor needs a current one (step-up). */
  FACTOR_REQUIRED: 'factor_required',
  /** 403: a first enrollment from a risky context without an administrator's approval. */
  ENROLLMENT_NOT_ALLOWED: 'enrollment_not_allowed',
  /** 400: the challenge is unknown, expired, completed or another user's. */
  INVALID_CHALLENGE: 'invalid_challenge',
  /** 403: the policy's admin_recovery is disabled. */
  RECOVERY_DISABLED: 'recovery_disabled',
  /** 404: no open recovery request with that id. */
  RECOVERY_NOT_FOUND: 'recovery_not_found',
  /** 404: the store has never seen the user. */
  USER_NOT_FOUND: 'user_not_found',

  // Out-of-band factors (issue #7): codes by message, push approval.
  /** 403: the policy does not enable this factor (factors.message.enabled, factors.push.enabled). */
  FACTOR_DISABLED: 'factor_disabled',
  /** 403: a restricted factor (codes by message) for a decision the policy's factors.message.satisfies excludes. */
  FACTOR_NOT_ALLOWED: 'factor_not_allowed',
  /** 400: a message destination that is not an address of its channel (E.164 phone, email, chat handle). */
  INVALID_DESTINATION: 'invalid_destination',
  /** 429: the user's codes per window (factors.message.max_sends) or pushes per window (max_unanswered) are used up. */
  TOO_MANY_SENDS: 'too_many_sends',
  /** 503: the operator's sender is not configured or did not take the message (after its retries). */
  SENDER_UNAVAILABLE: 'sender_unavailable',
  /** 400: a push device key that is not Ed25519 or ECDSA P-256 in SPKI DER (base64). */
  INVALID_PUBLIC_KEY: 'invalid_public_key',
  /** 401: a push answer whose signature the registered device key does not verify (or from another device). */
  INVALID_SIGNATURE: 'invalid_signature',
  /** 404: no push with that id. */
  PUSH_NOT_FOUND: 'push_not_found',
  /** 409: the push was answered already or has expired. */
  PUSH_NOT_PENDING: 'push_not_pending',
  /** 404: the user has no push device with that id. */
  PUSH_DEVICE_NOT_FOUND: 'push_device_not_found',
} as const;
export type FactorErrorCode = (typeof FactorErrorCode)[keyof typeof FactorErrorCode];

export class FactorError extends Error {
  readonly code: FactorErrorCode;

  constructor(code: FactorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FactorError';
    this.code = code;
  }
}
