// Named error codes and the one error type the HTTP layer maps to a status. A leaf.

export const ErrorCode = {
  POLICY_INVALID: 'policy_invalid',
  VALIDATION_FAILED: 'validation_failed',
  MALFORMED_JSON: 'malformed_json',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  NOT_FOUND: 'not_found',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  STORE_UNAVAILABLE: 'store_unavailable',
  INTERNAL: 'internal_error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status of each code; the route table extends this with the factor outcomes. */
export const ERROR_STATUS = {
  policy_invalid: 400,
  validation_failed: 400,
  malformed_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  store_unavailable: 503,
  internal_error: 500,
} as const satisfies Record<ErrorCode, number>;

export class MfaGateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown[];

  constructor(code: ErrorCode, message: string, details: unknown[] = []) {
    super(message);
    this.name = 'MfaGateError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = details;
  }
}

/** One problem in a policy or policy-test file, located as precisely as the YAML allows. */
export interface PolicyProblem {
  file: string;
  line: number;
  col: number;
  /** The key path, e.g. `mfa_enforcement.grace_period` or `rules[0].when`; empty for the document. */
  path: string;
  message: string;
}

export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** Thrown by the policy loader with every problem found (not just the first). */
export class PolicyError extends MfaGateError {
  readonly problems: PolicyProblem[];

  constructor(problems: PolicyProblem[]) {
    super(ErrorCode.POLICY_INVALID, problems.map(formatProblem).join('\n'), problems);
    this.name = 'PolicyError';
    this.problems = problems;
  }
}
