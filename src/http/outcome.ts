// A factor outcome as an HTTP answer: success as JSON, a failure with the status the route table documents
// (401 invalid_code, 429 too_many_attempts with Retry-After, 423 factor_locked, ...).
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Failure } from '../factors/service.js';
import { STATUS_BY_ERROR } from './route-table.js';

export function failureResponse(c: Context, f: Failure) {
  const status = (STATUS_BY_ERROR[f.error] ?? 400) as ContentfulStatusCode;
  if (f.retry_after_s !== undefined) c.header('Retry-After', String(f.retry_after_s));
  return c.json(
    {
      error: f.error,
      message: f.message,
      details: [],
      ...(f.retry_after_s !== undefined ? { retry_after_s: f.retry_after_s } : {}),
      ...(f.attempts_remaining !== undefined ? { attempts_remaining: f.attempts_remaining } : {}),
    },
    status,
  );
}

/** The success fields of an outcome, without the discriminant. */
export function body<T extends { ok: true }>(outcome: T): Omit<T, 'ok'> {
  const { ok: _ok, ...rest } = outcome;
  return rest;
}
