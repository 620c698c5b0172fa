// The one error envelope: { error, message, details }. Every bad input is a 4xx; only a bug is a 500.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ErrorCode, MfaGateError } from '../errors.js';

export function errorResponse(c: Context, status: ContentfulStatusCode, error: string, message: string, details: unknown[] = []) {
  return c.json({ error, message, details }, status);
}

export function fromError(c: Context, err: MfaGateError) {
  return errorResponse(c, err.status as ContentfulStatusCode, err.code, err.message, err.details);
}

export const notFound = (c: Context) =>
  errorResponse(c, 404, ErrorCode.NOT_FOUND, `no route for ${c.req.method} ${c.req.path}`);
