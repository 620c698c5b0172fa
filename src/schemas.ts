// The JSON Schemas in schemas/ (except the policy's, which the policy loader owns), compiled once with ajv.
// The HTTP layer and the CLI validate with these, and the OpenAPI document is built from the same files,
// so what is documented is what is enforced.
import { readFileSync, readdirSync } from 'node:fs';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { sharedAjv } from './policy/index.js';

export const SCHEMA_DIR = new URL('../schemas/', import.meta.url);
const POLICY_SCHEMA_FILE = 'policy.schema.json';

let loaded = false;
// Looked up on every request body (readJson): ajv's getSchema normalises and resolves the key each call.
const validators = new Map<string, ValidateFunction>();

/** The compiled validator of `schemas/<name>.schema.json`. The schemas have no `$id`: each is registered under
 * its file name, so their relative `$ref`s resolve here exactly as they do in an editor. */
export function validator(name: string): ValidateFunction {
  const cached = validators.get(name);
  if (cached) return cached;
  const ajv = sharedAjv();
  if (!loaded) {
    for (const file of readdirSync(SCHEMA_DIR)) {
      if (file.endsWith('.schema.json') && file !== POLICY_SCHEMA_FILE) {
        ajv.addSchema(JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8')) as object, file);
      }
    }
    loaded = true;
  }
  const v = ajv.getSchema(`${name}.schema.json`);
  if (!v) throw new Error(`no schema named ${name} in schemas/`);
  validators.set(name, v);
  return v;
}

export interface SchemaProblem {
  /** JSON pointer into the instance, e.g. `/user/id`; for an unknown key, the key itself. */
  path: string;
  message: string;
}

/** ajv's errors as one readable line each; cascades from anyOf/oneOf collapse into their parent. */
export function schemaProblems(errors: readonly ErrorObject[] | null | undefined): SchemaProblem[] {
  if (!errors) return [];
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath));
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (anyOfPaths.has(e.instancePath) && e.keyword !== 'anyOf' && e.keyword !== 'oneOf') continue;
    const p = describe(e);
    const key = `${p.path}\u0000${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  }
  return out;
}

function describe(e: ErrorObject): SchemaProblem {
  const path = e.instancePath || '/';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: `${e.instancePath}/${String(params.additionalProperty)}`, message: 'unknown property' };
    case 'required':
      return { path: `${e.instancePath}/${String(params.missingProperty)}`, message: 'is required' };
    case 'enum':
      return { path, message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'anyOf':
    case 'oneOf':
      return { path, message: anyOfMessage(e) };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

function anyOfMessage(e: ErrorObject): string {
  if (e.instancePath.endsWith('/ip')) return 'must be an IPv4 or IPv6 address, or null';
  return 'does not match any allowed form';
}
