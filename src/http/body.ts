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
  if (mayHoldLoneSurrogate(text) && !wellFormed(body)) {
    // A lone surrogate is legal JSON, but SQLite stores it as U+FFFD: "a\ud800" would come back as another
    // user's id. Refuse it at the door.
    throw new MfaGateError(ErrorCode.VALIDATION_FAILED, 'the body has a string that is not well-formed Unicode (a lone surrogate)', [
      { path: '/', message: 'strings must be well-formed Unicode' },
    ]);
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

/**
 * For a route that takes no body (POST /v1/admin/users/{id}/unlock): no body at all (no Content-Length, or 0, or
 * an empty chunked one) passes whatever the Content-Type; any other body goes through readJson against `schema`
 * (an empty closed object), so `{}` passes and everything else gets the answer a bad body gets on any route: 415
 * for a non-JSON type, 400 malformed_json, 400 validation_failed with details. Refused rather than ignored: a
 * caller who sends `{"factor":"totp"}` believes it matters.
 */
export async function readEmptyBody(c: Context, schema: string): Promise<void> {
  if ((await c.req.text()) === '') return;
  await readJson(c, schema);
}

const SURROGATE_ESCAPE_RE = /\\u[dD][89a-fA-F]/;

/**
 * Whether a string parsed from `text` may hold a lone surrogate: one in the text itself, or a `\uD800`-`\uDFFF`
 * escape (a pair of escapes too; the walk below tells them apart). Most bodies have neither, and skip the walk.
 * Conservative: an escaped backslash before `uD8..` also counts.
 */
function mayHoldLoneSurrogate(text: string): boolean {
  return !text.isWellFormed() || SURROGATE_ESCAPE_RE.test(text);
}

/** Every string (keys included) is well-formed UTF-16. Iterative: a 16 KiB body can nest 8,000 levels deep. */
function wellFormed(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (!value.isWellFormed()) return false;
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (!k.isWellFormed()) return false;
        stack.push(v);
      }
    }
  }
  return true;
}
