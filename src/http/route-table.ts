// The HTTP API (v1) as data: every route with its scope, request and response schemas (files in schemas/), its
// success status and each error status with the codes it carries. The OpenAPI document is built from this
// table (src/http/openapi.ts), and the routes answer with STATUS_BY_ERROR, so what is documented is what is served.
import { ERROR_STATUS, ErrorCode } from '../errors.js';
import { FactorErrorCode } from '../factors/errors.js';
import type { Scope } from './auth.js';
import { MAX_RD_LENGTH } from './portal/redirect.js';

/** Error codes only the HTTP layer produces (neither ErrorCode nor FactorErrorCode). */
export const HttpErrorCode = {
  /** 403: a valid API key without the route's scope (src/http/auth.ts). */
  FORBIDDEN: 'forbidden',
  /** 404: DELETE /v1/users/{id}/devices/{key} for a device the user does not have. */
  DEVICE_NOT_FOUND: 'device_not_found',
  /** 503: GET /metrics under `serve --workers`, when the primary could not gather the workers' metrics. */
  METRICS_UNAVAILABLE: 'metrics_unavailable',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** FactorErrorCode values meant as exceptions (broken configuration or data): never an HTTP answer but a 500. */
export const FACTOR_EXCEPTION_CODES = ['invalid_secret', 'invalid_count', 'secret_key_invalid', 'decryption_failed'] as const;
type FactorOutcomeCode = Exclude<FactorErrorCode, (typeof FACTOR_EXCEPTION_CODES)[number]>;

/** Every error code the API answers with, and its status. */
export type ApiErrorCode = ErrorCode | FactorOutcomeCode | HttpErrorCode;

const STATUSES = {
  // src/errors.ts: the statuses MfaGateError answers with
  ...ERROR_STATUS,
  // src/factors/errors.ts: the service's outcomes, and the enrollment label checks
  invalid_code: 401,
  invalid_issuer: 400,
  invalid_account: 400,
  too_many_attempts: 429,
  factor_locked: 423,
  not_enrolled: 409,
  no_pending_enrollment: 409,
  factor_required: 403,
  enrollment_not_allowed: 403,
  invalid_challenge: 400,
  recovery_disabled: 403,
  recovery_not_found: 404,
  user_not_found: 404,
  factor_disabled: 403,
  factor_not_allowed: 403,
  invalid_destination: 400,
  too_many_sends: 429,
  sender_unavailable: 503,
  invalid_public_key: 400,
  invalid_signature: 401,
  push_not_found: 404,
  push_not_pending: 409,
  push_device_not_found: 404,
  // the HTTP layer's own
  device_not_found: 404,
  metrics_unavailable: 503,
} as const satisfies Record<ApiErrorCode, number>;

/** The HTTP status of every error code the API answers with; routes answer with it. */
export const STATUS_BY_ERROR: Readonly<Record<string, number>> = STATUSES;

/** The status of `code`; 500 for a code the API does not answer with (an exception code, a bug). */
export function statusOf(code: string): number {
  return Object.hasOwn(STATUS_BY_ERROR, code) ? STATUS_BY_ERROR[code]! : 500;
}

export type RouteTag = 'decide' | 'mfa' | 'users' | 'recovery' | 'admin' | 'gateway' | 'portal' | 'health';

export interface RouteError {
  status: number;
  /** The `error` codes answered with this status (empty when the body is not the error envelope). */
  codes: string[];
  description: string;
  /** The body's schema when it is not `error` (GET /readyz answers 503 with `ready-response`). */
  response?: string;
  /** A short text/plain body instead of the JSON envelope (the gateway hook answers proxies, not programs). */
  plain?: boolean;
  /** An HTML page instead of the JSON envelope (the MFA page answers browsers). */
  html?: boolean;
  /** The answer carries a Location header and no body (a redirect). */
  location?: boolean;
  /** The answer may set cookies (described here). */
  setCookie?: string;
}

export interface RouteParam {
  name: string;
  description: string;
  /** The parameter's schema, as a `$ref` from schemas/ (e.g. `common.schema.json#/$defs/user_id`). */
  schema: string;
}

/** A query parameter of an API route: checked against a schema from schemas/ (a `$ref`, as path parameters take),
 * optional unless `required`. Its value is text; a decimal one is read as a number where the schema wants one. */
export interface QueryParam {
  name: string;
  description: string;
  /** The parameter's schema, as a `$ref` from schemas/ (e.g. `out-of-band.schema.json#/$defs/push_wait`). */
  schema: string;
  required?: boolean;
}

/** A query parameter or form field of an HTML page (the MFA page): a string, optional unless `required`. */
export interface PageField {
  name: string;
  description: string;
  maxLength: number;
  pattern?: string;
  enum?: string[];
  required?: boolean;
}

export interface Route {
  /** The OpenAPI operationId. */
  id: string;
  method: 'get' | 'post' | 'delete';
  /** OpenAPI style (`/v1/users/{id}/mfa`); honoPath() gives Hono's. */
  path: string;
  summary: string;
  description?: string;
  /** The API key scope needed; null: answered without a key. */
  scope: Scope | null;
  tag: RouteTag;
  /** The JSON body's schema: schemas/<request>.schema.json. */
  request?: string;
  /** A route that takes no body (so no `request`): none is needed, and one is refused unless it is an empty JSON
   * object, checked against schemas/<emptyBody>.schema.json (closed, no properties) for the usual 4xx answers. */
  emptyBody?: string;
  /** Query parameters: an HTML page's text fields (PageField), or an API route's, each with a schema (QueryParam). */
  query?: (PageField | QueryParam)[];
  /** An application/x-www-form-urlencoded body instead of JSON (the MFA page's form). */
  form?: PageField[];
  /** The success body's schema: schemas/<response>.schema.json; null when there is none (not JSON, or not ours). */
  response: string | null;
  /** The success body's media type; default application/json; `none` for an empty body (the gateway hook). */
  contentType?: 'application/json' | 'text/plain' | 'text/html' | 'text/css' | 'none';
  /** The success answer may set cookies (described here). */
  setCookie?: string;
  /** The success status. */
  status: number;
  /** One entry per error status (codes merged), ascending. */
  errors: RouteError[];
  params?: RouteParam[];
}

/** Prometheus' text exposition format, as prom-client's registry names it. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// --- error entries, merged per status by errorsOf() ---

const e = (status: number, codes: string[], description: string): RouteError => ({ status, codes, description });

const AUTH = [
  e(401, [ErrorCode.UNAUTHORIZED], 'no API key, a malformed Authorization header or an unknown key (WWW-Authenticate says which)'),
  e(403, [HttpErrorCode.FORBIDDEN], 'the API key lacks the scope this route needs'),
];
const BODY = [
  e(400, [ErrorCode.VALIDATION_FAILED, ErrorCode.MALFORMED_JSON], 'the body is not JSON or does not match the request schema (details lists each violation)'),
  e(413, [ErrorCode.PAYLOAD_TOO_LARGE], 'the body is larger than 16 KiB'),
  e(415, [ErrorCode.UNSUPPORTED_MEDIA_TYPE], 'the body is not application/json'),
];
const PARAMS = e(400, [ErrorCode.VALIDATION_FAILED], 'a path parameter is out of bounds');
const INTERNAL = e(500, [ErrorCode.INTERNAL], 'an unexpected failure, logged under the request id in details');
const CODE_FAILURES = [
  e(401, [FactorErrorCode.INVALID_CODE], 'the code is wrong, replayed or already used (attempts_remaining says how many failures are left before the lock)'),
  e(423, [FactorErrorCode.FACTOR_LOCKED], 'too many consecutive failures: the factor is locked until an administrator unlocks it'),
  e(429, [FactorErrorCode.TOO_MANY_ATTEMPTS], 'too many recent failures for the user or the address: retry after retry_after_s (also Retry-After)'),
];
const NOT_ENROLLED = e(409, [FactorErrorCode.NOT_ENROLLED], 'the user has no active factor');
// Out-of-band factors (codes by message, push approval).
const THROTTLED = [
  e(423, [FactorErrorCode.FACTOR_LOCKED], 'too many consecutive failures: the factor is locked until an administrator unlocks it'),
  e(429, [FactorErrorCode.TOO_MANY_ATTEMPTS], 'too many recent failures for the user or the address: retry after retry_after_s (also Retry-After)'),
];
/** The step-up of a new out-of-band factor: a current TOTP or backup code, checked as POST /v1/mfa/verify checks it. */
const STEP_UP_FAILURES = CODE_FAILURES.map((x) => ({ ...x, description: `the step-up code: ${x.description}` }));
const NOT_ENROLLED_STEP_UP = e(409, [FactorErrorCode.NOT_ENROLLED], 'the step-up code has the shape of a TOTP code but the user has no active TOTP factor');
const MESSAGE_DISABLED = e(403, [FactorErrorCode.FACTOR_DISABLED], 'the policy does not enable codes by message (factors.message.enabled)');
const PUSH_DISABLED = e(403, [FactorErrorCode.FACTOR_DISABLED], 'the policy does not enable push approval (factors.push.enabled)');
const MESSAGE_NOT_ALLOWED = e(
  403,
  [FactorErrorCode.FACTOR_NOT_ALLOWED],
  "a code by message for a decision the policy's factors.message.satisfies excludes (by default a require_mfa: a restricted authenticator)",
);
const TOO_MANY_SENDS = e(429, [FactorErrorCode.TOO_MANY_SENDS], 'too many codes sent in the window (factors.message.max_sends): retry after retry_after_s (also Retry-After)');
const NO_SENDER = e(503, [FactorErrorCode.SENDER_UNAVAILABLE], 'no sender is configured, or it did not take the message (after its retries): try again later');

/** Merges entries of one status (codes in order, without repeats; descriptions joined) and sorts by status. */
function errorsOf(...entries: (RouteError | RouteError[])[]): RouteError[] {
  const byStatus = new Map<number, RouteError>();
  for (const entry of entries.flat()) {
    const seen = byStatus.get(entry.status);
    if (!seen) {
      byStatus.set(entry.status, { ...entry, codes: [...entry.codes] });
      continue;
    }
    if (seen.response !== entry.response) throw new Error(`route table: two bodies for status ${entry.status}`);
    for (const c of entry.codes) if (!seen.codes.includes(c)) seen.codes.push(c);
    seen.description = `${seen.description}; ${entry.description}`;
  }
  return [...byStatus.values()].sort((a, b) => a.status - b.status);
}

const USER_ID: RouteParam = { name: 'id', description: "The user's id.", schema: 'common.schema.json#/$defs/user_id' };
const PUSH_ID: RouteParam = { name: 'id', description: 'The push id, as POST /v1/mfa/push answered it.', schema: 'out-of-band.schema.json#/$defs/push_id' };

export const ROUTES: readonly Route[] = [
  {
    id: 'decide',
    method: 'post',
    path: '/v1/decide',
    summary: 'Decide on a login or an action',
    description:
      'A login context in, a decision out: allow, prompt_mfa, require_mfa or deny, with the reasons, the risk signals, the ' +
      "user's enrollment and, for prompt_mfa and require_mfa, a challenge that a verified factor completes. `ip` is the end " +
      "user's address. Every decision goes to the decision log.",
    scope: 'decide',
    tag: 'decide',
    request: 'context',
    response: 'decision',
    status: 200,
    errors: errorsOf(BODY, AUTH, INTERNAL),
  },
  {
    id: 'enrollTotp',
    method: 'post',
    path: '/v1/mfa/totp/enroll',
    summary: 'Start a TOTP enrollment',
    description:
      'A new TOTP secret, as text, otpauth:// URI and QR codes, pending until POST /v1/mfa/totp/confirm. Replacing an active ' +
      "factor needs a current `code`. A first enrollment from a risky context needs the `challenge_id` of a decision whose " +
      '`enrollment.allowed_now` is true, or an administrator\'s approval (POST /v1/admin/users/{id}/approve-enrollment).',
    scope: 'mfa',
    tag: 'mfa',
    request: 'enroll-request',
    response: 'enroll-response',
    status: 200,
    errors: errorsOf(
      BODY,
      e(400, [FactorErrorCode.INVALID_CHALLENGE, FactorErrorCode.INVALID_ACCOUNT, FactorErrorCode.INVALID_ISSUER], 'the challenge is unknown, expired or another user\'s, or the account name or issuer cannot go into an otpauth:// URI'),
      AUTH,
      e(403, [FactorErrorCode.ENROLLMENT_NOT_ALLOWED, FactorErrorCode.FACTOR_REQUIRED], 'a first enrollment from a risky context without approval, or replacing an active factor without a current code'),
      CODE_FAILURES,
      INTERNAL,
    ),
  },
  {
    id: 'confirmTotp',
    method: 'post',
    path: '/v1/mfa/totp/confirm',
    summary: 'Confirm a TOTP enrollment',
    description:
      'A code from the newly enrolled app activates the pending factor (replacing any earlier one) and returns new backup codes, shown this once.',
    scope: 'mfa',
    tag: 'mfa',
    request: 'confirm-request',
    response: 'confirm-response',
    status: 200,
    errors: errorsOf(
      BODY,
      AUTH,
      CODE_FAILURES,
      e(409, [FactorErrorCode.NO_PENDING_ENROLLMENT], 'no enrollment is pending (or a concurrent confirmation won)'),
      INTERNAL,
    ),
  },
  {
    id: 'verifyFactor',
    method: 'post',
    path: '/v1/mfa/verify',
    summary: 'Verify a TOTP, backup or message code',
    description:
      "Verifies a code (a TOTP code is accepted once; a backup code and a code sent by message are used up) and, with a decision's " +
      '`challenge_id`, completes that login: the device and location become known. A code sent by message needs `factor: "message"` ' +
      "and works only with the challenge it was sent for (or only without one); it is refused for a decision the policy's " +
      'factors.message.satisfies excludes. Failures are throttled per user and per address.',
    scope: 'mfa',
    tag: 'mfa',
    request: 'verify-request',
    response: 'verify-response',
    status: 200,
    errors: errorsOf(
      BODY,
      e(400, [FactorErrorCode.INVALID_CHALLENGE], 'the challenge is unknown, expired, already completed or another user\'s'),
      AUTH,
      MESSAGE_NOT_ALLOWED,
      CODE_FAILURES,
      NOT_ENROLLED,
      INTERNAL,
    ),
  },
  {
    id: 'regenerateBackupCodes',
    method: 'post',
    path: '/v1/mfa/backup-codes/regenerate',
    summary: 'Regenerate backup codes',
    description: 'New backup codes for a current factor (step-up), shown this once; the old ones stop working.',
    scope: 'mfa',
    tag: 'mfa',
    request: 'regenerate-request',
    response: 'backup-codes-response',
    status: 200,
    errors: errorsOf(BODY, AUTH, CODE_FAILURES, NOT_ENROLLED, INTERNAL),
  },
  {
    id: 'enrollMessage',
    method: 'post',
    path: '/v1/mfa/message/enroll',
    summary: 'Start a message destination enrollment',
    description:
      'Sends a one-time code by message (SMS, email or chat, through the operator\'s sender) to a new destination, pending until ' +
      'POST /v1/mfa/message/confirm with that code. Changing the destination of a user who has a factor needs a current TOTP or ' +
      'backup `code`; a first factor from a risky context needs the `challenge_id` of a decision whose `enrollment.allowed_now` is ' +
      "true, or an administrator's approval. Sends per user are limited (factors.message.max_sends per send_window).",
    scope: 'mfa',
    tag: 'mfa',
    request: 'message-enroll-request',
    response: 'message-enroll-response',
    status: 200,
    errors: errorsOf(
      BODY,
      e(400, [FactorErrorCode.INVALID_DESTINATION, FactorErrorCode.INVALID_CHALLENGE], 'the address is not one of its channel, or the challenge is unknown, expired or another user\'s'),
      AUTH,
      MESSAGE_DISABLED,
      e(403, [FactorErrorCode.FACTOR_REQUIRED, FactorErrorCode.ENROLLMENT_NOT_ALLOWED], 'changing a destination without a current code, or a first factor from a risky context without approval'),
      STEP_UP_FAILURES,
      NOT_ENROLLED_STEP_UP,
      TOO_MANY_SENDS,
      NO_SENDER,
      INTERNAL,
    ),
  },
  {
    id: 'confirmMessage',
    method: 'post',
    path: '/v1/mfa/message/confirm',
    summary: 'Confirm a message destination',
    description:
      'The code sent to the pending destination makes it the user\'s (replacing any earlier one). A first factor also gets backup codes, shown this once.',
    scope: 'mfa',
    tag: 'mfa',
    request: 'message-confirm-request',
    response: 'message-confirm-response',
    status: 200,
    errors: errorsOf(
      BODY,
      AUTH,
      CODE_FAILURES,
      e(409, [FactorErrorCode.NO_PENDING_ENROLLMENT], 'no destination is pending (or it was confirmed or replaced meanwhile)'),
      INTERNAL,
    ),
  },
  {
    id: 'sendMessageCode',
    method: 'post',
    path: '/v1/mfa/message/send',
    summary: 'Send a code by message',
    description:
      "Sends a one-time code to the user's confirmed destination; POST /v1/mfa/verify with `factor: \"message\"` checks it. Sent for a " +
      "decision's `challenge_id`, the code works only with that challenge; without one, only without. A code by message is a " +
      "restricted authenticator (NIST SP 800-63B 5.1.3.3): refused for a decision the policy's factors.message.satisfies excludes. " +
      'Sends per user are limited (factors.message.max_sends per send_window).',
    scope: 'mfa',
    tag: 'mfa',
    request: 'message-send-request',
    response: 'message-send-response',
    status: 200,
    errors: errorsOf(
      BODY,
      e(400, [FactorErrorCode.INVALID_CHALLENGE], 'the challenge is unknown, expired, already completed or another user\'s'),
      AUTH,
      MESSAGE_DISABLED,
      MESSAGE_NOT_ALLOWED,
      e(409, [FactorErrorCode.NOT_ENROLLED], 'the user has no confirmed message destination'),
      THROTTLED,
      TOO_MANY_SENDS,
      NO_SENDER,
      INTERNAL,
    ),
  },
  {
    id: 'registerPushDevice',
    method: 'post',
    path: '/v1/mfa/push-devices',
    summary: 'Register a push device',
    description:
      'Registers a device for push approval with its public key (Ed25519 or ECDSA P-256): every answer it gives is signed with the ' +
      'private half, which never leaves the device. Registering again with the same `device_id` replaces its key and name. A user ' +
      "who has a factor needs a current TOTP or backup `code`; a first factor follows the first-enrollment rule and gets backup codes.",
    scope: 'mfa',
    tag: 'mfa',
    request: 'push-device-request',
    response: 'push-device-response',
    status: 200,
    errors: errorsOf(
      BODY,
      e(400, [FactorErrorCode.INVALID_PUBLIC_KEY, FactorErrorCode.INVALID_CHALLENGE], 'the key is not Ed25519 or ECDSA P-256 in SPKI DER, or the challenge is unknown, expired or another user\'s'),
      AUTH,
      PUSH_DISABLED,
      e(403, [FactorErrorCode.FACTOR_REQUIRED, FactorErrorCode.ENROLLMENT_NOT_ALLOWED], 'registering a device without a current code, or a first factor from a risky context without approval'),
      STEP_UP_FAILURES,
      NOT_ENROLLED_STEP_UP,
      INTERNAL,
    ),
  },
  {
    id: 'startPush',
    method: 'post',
    path: '/v1/mfa/push',
    summary: 'Send a push',
    description:
      "Sends a push to one of the user's devices (the given `device_id`, else the most recently registered), optionally for a " +
      "decision's `challenge_id`, which an approval completes. Answers the number the sign-in screen must show: the device is not " +
      'told it, the user types it there (number matching). Pushes per user are limited (factors.push.max_unanswered per ' +
      'unanswered_window, against push fatigue). Follow the answer with GET /v1/mfa/push/{id}.',
    scope: 'mfa',
    tag: 'mfa',
    request: 'push-start-request',
    response: 'push-start-response',
    status: 200,
    errors: errorsOf(
      BODY,
      e(400, [FactorErrorCode.INVALID_CHALLENGE], 'the challenge is unknown, expired, already completed or another user\'s'),
      AUTH,
      PUSH_DISABLED,
      e(404, [FactorErrorCode.PUSH_DEVICE_NOT_FOUND], 'the user has no push device with this `device_id`'),
      e(409, [FactorErrorCode.NOT_ENROLLED], 'the user has no push device'),
      THROTTLED,
      e(429, [FactorErrorCode.TOO_MANY_SENDS], 'too many pushes in the window (factors.push.max_unanswered per unanswered_window; every push sent counts): retry after retry_after_s (also Retry-After)'),
      NO_SENDER,
      INTERNAL,
    ),
  },
  {
    id: 'respondPush',
    method: 'post',
    path: '/v1/mfa/push/{id}/respond',
    summary: "A device's answer to a push",
    description:
      'The device approves or denies, signing (push id, decision, number) with its key. An approval with the number the sign-in ' +
      "screen shows approves and completes the push's challenge; an approval with another number is a denial, and a denial counts " +
      'as a failed attempt. A bad signature changes nothing. A push is answered once.',
    scope: 'mfa',
    tag: 'mfa',
    request: 'push-respond-request',
    response: 'push-respond-response',
    status: 200,
    params: [PUSH_ID],
    errors: errorsOf(
      BODY,
      PARAMS,
      AUTH,
      e(401, [FactorErrorCode.INVALID_SIGNATURE], 'the answer is not signed by the device the push was sent to (the push stays pending)'),
      e(404, [FactorErrorCode.PUSH_NOT_FOUND], 'no push with this id'),
      e(409, [FactorErrorCode.PUSH_NOT_PENDING], 'the push was answered already or has expired'),
      INTERNAL,
    ),
  },
  {
    id: 'getPush',
    method: 'get',
    path: '/v1/mfa/push/{id}',
    summary: "A push's status",
    description:
      'Where a push stands: pending, approved, denied or expired, and whether its challenge is completed. With `wait` (long ' +
      'polling) the answer comes as soon as the push is answered or expires, or when the wait is over (then still pending).',
    scope: 'mfa',
    tag: 'mfa',
    response: 'push-status-response',
    status: 200,
    params: [PUSH_ID],
    query: [{ name: 'wait', description: 'Seconds to wait for an answer (long polling), 0..25; default 0: answer at once.', schema: 'out-of-band.schema.json#/$defs/push_wait' }],
    errors: errorsOf(
      e(400, [ErrorCode.VALIDATION_FAILED], 'the path parameter is out of bounds, or `wait` is not an integer in 0..25 (or is given twice)'),
      AUTH,
      e(404, [FactorErrorCode.PUSH_NOT_FOUND], 'no push with this id'),
      INTERNAL,
    ),
  },
  {
    id: 'getUserMfa',
    method: 'get',
    path: '/v1/users/{id}/mfa',
    summary: "A user's MFA state",
    description:
      'Enrollment, factors (TOTP; the message destination, masked; push devices), backup codes left, known devices and locations, ' +
      'open recovery requests and locks.',
    scope: 'mfa',
    tag: 'users',
    response: 'user-mfa-response',
    status: 200,
    params: [USER_ID],
    errors: errorsOf(PARAMS, AUTH, e(404, [FactorErrorCode.USER_NOT_FOUND], 'mfa-gate has never seen the user'), INTERNAL),
  },
  {
    id: 'forgetDevice',
    method: 'delete',
    path: '/v1/users/{id}/devices/{key}',
    summary: 'Forget a known device',
    description: "The device is no longer known: the user's next login from it is a new device.",
    scope: 'mfa',
    tag: 'users',
    response: 'device-deleted-response',
    status: 200,
    params: [
      USER_ID,
      {
        name: 'key',
        description: 'The device key, as GET /v1/users/{id}/mfa lists it (URL-encoded).',
        schema: 'common.schema.json#/$defs/device_key',
      },
    ],
    errors: errorsOf(
      PARAMS,
      AUTH,
      e(404, [FactorErrorCode.USER_NOT_FOUND, HttpErrorCode.DEVICE_NOT_FOUND], 'mfa-gate has never seen the user, or the user has no such device'),
      INTERNAL,
    ),
  },
  {
    id: 'openRecovery',
    method: 'post',
    path: '/v1/recovery',
    summary: 'Open a recovery request',
    description:
      "An administrator who verified the user's identity out of band opens a request to remove the user's factors. It takes " +
      'effect after the policy\'s recovery_timeout; until then the user can cancel it with a current factor (DELETE /v1/recovery/{id}).',
    scope: 'admin',
    tag: 'recovery',
    request: 'recovery-request',
    response: 'recovery',
    status: 201,
    errors: errorsOf(
      BODY,
      AUTH,
      e(403, [FactorErrorCode.RECOVERY_DISABLED], 'the policy disables admin recovery'),
      e(404, [FactorErrorCode.USER_NOT_FOUND], 'mfa-gate has never seen the user'),
      INTERNAL,
    ),
  },
  {
    id: 'cancelRecovery',
    method: 'delete',
    path: '/v1/recovery/{id}',
    summary: 'Cancel a recovery request',
    description: "The request's user cancels it by proving a current factor; the answer is the cancelled request.",
    scope: 'mfa',
    tag: 'recovery',
    request: 'recovery-cancel-request',
    response: 'recovery',
    status: 200,
    params: [{ name: 'id', description: 'The recovery request id.', schema: 'common.schema.json#/$defs/recovery_id' }],
    errors: errorsOf(
      BODY,
      PARAMS,
      AUTH,
      CODE_FAILURES,
      e(404, [FactorErrorCode.RECOVERY_NOT_FOUND], 'no open recovery request with this id (unknown, cancelled, applied or already effective)'),
      NOT_ENROLLED,
      INTERNAL,
    ),
  },
  {
    id: 'unlockUser',
    method: 'post',
    path: '/v1/admin/users/{id}/unlock',
    summary: "Unlock a user's factors",
    description:
      "Clears the user's failure counters and the locks set after too many consecutive failures. Takes no body: send none " +
      '(or an empty JSON object `{}`); any other body is refused with 400 or 415, never ignored.',
    scope: 'admin',
    tag: 'admin',
    emptyBody: 'unlock-request',
    response: 'unlock-response',
    status: 200,
    params: [USER_ID],
    errors: errorsOf(BODY, PARAMS, AUTH, INTERNAL),
  },
  {
    id: 'approveEnrollment',
    method: 'post',
    path: '/v1/admin/users/{id}/approve-enrollment',
    summary: 'Approve a first enrollment',
    description:
      "Allows the user a first enrollment that a risky context would refuse, for the policy's factors.enrollment_approval_ttl " +
      '(after the user was verified otherwise).',
    scope: 'admin',
    tag: 'admin',
    request: 'approve-enrollment-request',
    response: 'approve-enrollment-response',
    status: 200,
    params: [USER_ID],
    errors: errorsOf(BODY, PARAMS, AUTH, INTERNAL),
  },
  ...(['auth-request', 'forward-auth'] as const).map(
    (shape): Route => ({
      id: shape === 'auth-request' ? 'authRequest' : 'forwardAuth',
      method: 'get',
      path: `/v1/authz/${shape}`,
      summary: shape === 'auth-request' ? 'Gateway hook for nginx auth_request' : 'Gateway hook for Traefik ForwardAuth and Caddy forward_auth',
      description:
        (shape === 'auth-request'
          ? 'The original request comes in X-Original-URL and X-Original-Method. A needed code answers 401 with X-MFA-Redirect (nginx turns it into a redirect).'
          : 'The original request comes in X-Forwarded-Method, -Proto, -Host, -Uri and -For. A needed code answers 302 to the MFA page.') +
        ' The user comes from Remote-User (or X-Forwarded-User), and these headers are believed only from a trusted proxy. Every answer carries X-MFA-Decision; any error is a 401, never a 200.',
      scope: null,
      tag: 'gateway',
      response: null,
      contentType: 'none',
      status: 200,
      errors: [
        ...(shape === 'forward-auth' ? [{ status: 302, codes: [], plain: true, description: 'MFA is needed: Location is the MFA page with rd and challenge' }] : []),
        { status: 401, codes: [], plain: true, description: shape === 'auth-request' ? 'MFA is needed (X-MFA-Redirect names the MFA page), or the request was refused or failed (fail closed)' : 'refused (untrusted peer, no user) or failed: fail closed' },
        { status: 403, codes: [], plain: true, description: 'denied by the policy' },
      ],
    }),
  ),
  {
    id: 'extAuthz',
    method: 'get',
    path: '/v1/authz/ext-authz/{path}',
    summary: 'Gateway hook for Envoy ext_authz (HTTP service)',
    description:
      'Envoy appends the original path to the prefix /v1/authz/ext-authz and keeps the original method (any method is accepted) and headers. Answers as forward-auth: 200 with Remote-User, 302 to the MFA page, 403, or 401 (fail closed).',
    scope: null,
    tag: 'gateway',
    params: [{ name: 'path', description: 'The original request path.', schema: 'common.schema.json#/$defs/original_path' }],
    response: null,
    contentType: 'none',
    status: 200,
    errors: [
      { status: 302, codes: [], plain: true, description: 'MFA is needed: Location is the MFA page with rd and challenge' },
      { status: 401, codes: [], plain: true, description: 'refused or failed: fail closed' },
      { status: 403, codes: [], plain: true, description: 'denied by the policy' },
    ],
  },
  {
    id: 'health',
    method: 'get',
    path: '/healthz',
    summary: 'Liveness',
    description: 'The process is up; the policy version in force. No API key.',
    scope: null,
    tag: 'health',
    response: 'health-response',
    status: 200,
    errors: errorsOf(INTERNAL),
  },
  {
    id: 'ready',
    method: 'get',
    path: '/readyz',
    summary: 'Readiness',
    description: 'Ready when the store answers and the policy loaded (a failed reload makes it not ready). No API key.',
    scope: null,
    tag: 'health',
    response: 'ready-response',
    status: 200,
    errors: errorsOf(
      INTERNAL,
      { status: 503, codes: [], description: 'not ready: the store does not answer or the last policy reload failed', response: 'ready-response' },
    ),
  },
  {
    id: 'metrics',
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description:
      'Decisions, latency, verifications, lockouts and policy reloads in the Prometheus text format. No API key. Under `serve --workers N` the figures are every worker\'s, combined by the primary process.',
    scope: null,
    tag: 'health',
    response: null,
    contentType: 'text/plain',
    status: 200,
    errors: errorsOf(INTERNAL, e(503, [HttpErrorCode.METRICS_UNAVAILABLE], 'under `serve --workers`: the primary process could not gather the workers\' metrics in time; retry')),
  },
  {
    id: 'openapi',
    method: 'get',
    path: '/openapi.json',
    summary: 'This OpenAPI document',
    description: 'The OpenAPI 3.1 document of this API, built from the same schemas the service validates with. No API key.',
    scope: null,
    tag: 'health',
    response: null,
    status: 200,
    errors: errorsOf(INTERNAL),
  },
];

/** The longest value of each MFA page field that is read (a longer one counts as absent); the page reads these. */
export const PAGE_FIELD_MAX = { rd: MAX_RD_LENGTH, challenge: 128, csrf: 256, code: 256, action: 16 } as const;
/** A challenge id as the page accepts it (anything else is dropped, not passed on). */
export const PAGE_CHALLENGE_PATTERN = `^[A-Za-z0-9_-]{0,${PAGE_FIELD_MAX.challenge}}$`;

const html = (status: number, description: string, extra: Partial<RouteError> = {}): RouteError => ({ status, codes: [], html: true, description, ...extra });
const PAGE_USER =
  ' The user is whoever the authenticating proxy in front names in Remote-User (or X-Forwarded-User, or the ' +
  'configured user headers: the first one present decides, and an empty one means nobody), believed only from a trusted proxy.';
const NOT_SIGNED_IN = html(401, 'not signed in: the request did not come from a trusted proxy, or it names no user');
const RD: PageField = {
  name: 'rd',
  description:
    'Where to send the browser after signing in: a path on this site or an http(s) URL on an allowed domain (others are ' +
    'not followed: the page then says "signed in" and stays).',
  maxLength: PAGE_FIELD_MAX.rd,
};
const CHALLENGE: PageField = {
  name: 'challenge',
  description: 'The challenge_id of the decision that sent the user here; completed on success. An invalid one is ignored.',
  maxLength: PAGE_FIELD_MAX.challenge,
  pattern: PAGE_CHALLENGE_PATTERN,
};
const SESSION_COOKIE_NOTE = 'the signed MFA session cookie (mfa_gate_session) the gateway hook reads';

/** The HTML pages the app serves besides the API (the MFA page gateways send users to). Kept apart from ROUTES,
 * the JSON API under API keys, which the API tests iterate; the OpenAPI document describes both. */
export const PAGES: readonly Route[] = [
  {
    id: 'mfaPage',
    method: 'get',
    path: '/mfa',
    summary: 'The MFA page',
    description:
      'The sign-in form for an enrolled user (a TOTP or backup code), or the TOTP enrollment (QR code, secret and confirm form) ' +
      'for one without a factor. Gateways send users here with `rd` and `challenge`.' + PAGE_USER,
    scope: null,
    tag: 'portal',
    query: [RD, CHALLENGE],
    response: null,
    contentType: 'text/html',
    setCookie: 'the CSRF cookie (mfa_gate_csrf) the form is checked against, when the browser has none for this user',
    status: 200,
    errors: errorsOf(
      html(400, 'the enrollment failed: the user id cannot go into an otpauth:// URI'),
      NOT_SIGNED_IN,
      html(403, "a first enrollment from a risky context needs an administrator's approval"),
      INTERNAL,
    ),
  },
  {
    id: 'mfaPageSubmit',
    method: 'post',
    path: '/mfa',
    summary: 'Submit the MFA page',
    description:
      'Verifies a TOTP or backup code (action `verify`) or confirms a new enrollment (action `confirm`), then sets the MFA ' +
      'session cookie: a verified code sends the browser to `rd` (303) when it is allowed, else shows "signed in"; a confirmed ' +
      'enrollment shows the new backup codes once. Cross-origin posts and a missing or foreign CSRF token are refused before ' +
      'any code is checked.' + PAGE_USER,
    scope: null,
    tag: 'portal',
    form: [
      { name: 'action', description: '`verify` a code, or `confirm` a new enrollment.', maxLength: PAGE_FIELD_MAX.action, enum: ['verify', 'confirm'], required: true },
      { name: 'code', description: 'A code from the authenticator app, or a backup code (verify only).', maxLength: PAGE_FIELD_MAX.code, required: true },
      { name: 'csrf', description: 'The CSRF token of the page the form came from (it matches the mfa_gate_csrf cookie).', maxLength: PAGE_FIELD_MAX.csrf, required: true },
      RD,
      CHALLENGE,
    ],
    response: null,
    contentType: 'text/html',
    setCookie: SESSION_COOKIE_NOTE,
    status: 200,
    errors: errorsOf(
      { status: 303, codes: [], location: true, setCookie: SESSION_COOKIE_NOTE, description: 'signed in: Location is `rd`, when it is allowed' },
      html(400, 'an unknown action or an empty code (nothing was checked)'),
      NOT_SIGNED_IN,
      html(401, 'the code is wrong, replayed or already used (the page says how many attempts are left)'),
      html(403, 'a cross-origin post, or a missing, expired or foreign CSRF token: nothing was checked'),
      html(409, 'no active factor (verify), or no pending enrollment (confirm)'),
      html(413, 'the form is larger than 16 KiB'),
      html(423, 'too many consecutive failures: the factor is locked until an administrator unlocks it'),
      html(429, 'too many recent failures: retry after Retry-After seconds'),
      INTERNAL,
    ),
  },
  {
    id: 'mfaStylesheet',
    method: 'get',
    path: '/mfa/style.css',
    summary: "The MFA page's stylesheet",
    description: 'The CSS the MFA page links to; cacheable for an hour.',
    scope: null,
    tag: 'portal',
    response: null,
    contentType: 'text/css',
    status: 200,
    errors: errorsOf(INTERNAL),
  },
];

/** Hono's form of an OpenAPI path: `/v1/users/{id}/mfa` -> `/v1/users/:id/mfa`. */
export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}

/** The route with this id; throws for an unknown one (a typo in a route module). */
export function route(id: string): Route {
  const r = ROUTES.find((x) => x.id === id);
  if (!r) throw new Error(`no route ${id} in ROUTES`);
  return r;
}
