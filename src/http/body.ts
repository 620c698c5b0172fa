// Reading a JSON body: content type, size, syntax and schema, each with its own 4xx.
import type { Context } from 'hono';
import { ErrorCode, MfaGateError } from '../errors.js';
import { schemaProblems, validator } from '../schemas.js';

// Issue #4: bodies over 16 KiB are refused with 413 before they are parsed.
export const MAX_BODY_BYTES = 16 * 1024;

/** The body, parsed and validated against `schemas/<schema>.schema.json`; throws MfaGateError (4xx) otherwise. */
export async function readJson<T>(c: Context, schema: string): Promise<T> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new MfaGateError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'the body must be JSON (Content-Type: application/json)');
  }
  const text = await c.req.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new MfaGateError(ErrorCode.MALFORMED_JSON, `the body is not valid JSON: ${(err as Error).message}`);
  }
  const validate = validator(schema);
  if (!validate(body)) {
    const details = schemaProblems(validate.errors);
    throw new MfaGateError(
      ErrorCode.VALIDATION_FAILED,
      `the body does not match ${schema}: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`,
      details,
    );
  }
  return body as T;
}
