// The policy schema, compiled once per process (compiling costs milliseconds; loads are frequent in tests and
// on reload).
import { readFileSync } from 'node:fs';
import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import { explainActionPattern } from './glob.js';
import { explainCidr } from './network.js';
import { createAjv, type FormatSpec } from './schema-errors.js';

export const POLICY_SCHEMA_URL = new URL('../../schemas/policy.schema.json', import.meta.url);
export const POLICY_SCHEMA_ID = 'urn:mfa-gate:schema:policy';

/** The string formats policy schemas use: `cidr` and `action-pattern`. */
export const POLICY_FORMATS: readonly FormatSpec[] = [
  { name: 'cidr', explain: explainCidr },
  { name: 'action-pattern', explain: explainActionPattern },
];

let ajv: Ajv2020 | undefined;
let policyValidator: ValidateFunction | undefined;

/** The process-wide ajv with the policy formats and the policy schema (so other schemas may `$ref` it by
 * POLICY_SCHEMA_ID). Compile further schemas on it once, at module level or lazily. */
export function sharedAjv(): Ajv2020 {
  if (!ajv) {
    ajv = createAjv(POLICY_FORMATS);
    ajv.addSchema(JSON.parse(readFileSync(POLICY_SCHEMA_URL, 'utf8')) as object);
  }
  return ajv;
}

export function policyValidate(): ValidateFunction {
  if (!policyValidator) {
    const v = sharedAjv().getSchema(POLICY_SCHEMA_ID);
    if (!v) throw new Error(`schema ${POLICY_SCHEMA_ID} missing from ${POLICY_SCHEMA_URL.pathname}`);
    policyValidator = v;
  }
  return policyValidator;
}
