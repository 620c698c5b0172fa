// schemas/policy.schema.json is hand-written JSON; these keep it in step with the code's vocabularies.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BOOLEAN_SIGNALS, DECISIONS } from '../types.js';
import { DEFAULT_RISK_WEIGHTS, DEFAULTS } from './defaults.js';
import { formatDuration, parseDuration } from './duration.js';
import { HTTP_METHODS } from './glob.js';
import { policyValidate, POLICY_SCHEMA_URL, sharedAjv } from './schema.js';
import { RISK_WEIGHT_KEYS } from './types.js';

const schema: unknown = JSON.parse(readFileSync(POLICY_SCHEMA_URL, 'utf8'));

/** The schema node at a `/`-separated path (a test failure, not a crash, when it is missing). */
function at(path: string): unknown {
  let cur = schema;
  for (const k of path.split('/').filter(Boolean)) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}
const keys = (path: string): string[] => Object.keys((at(path) as object | undefined) ?? {});
const dur = (path: string): number => parseDuration(at(path));

describe('policy.schema.json', () => {
  it('is draft 2020-12', () => {
    expect(at('$schema')).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('closes every object with additionalProperties: false (json-logic aside)', () => {
    const open: string[] = [];
    const visit = (node: unknown, where: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => visit(n, `${where}/${i}`));
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      if (n.type === 'object' && n.additionalProperties !== false && where !== '#/$defs/json_logic') open.push(where);
      for (const [k, v] of Object.entries(n)) if (k !== 'enum' && k !== 'examples' && k !== 'default') visit(v, `${where}/${k}`);
    };
    visit(schema, '#');
    expect(open).toEqual([]);
  });

  it('names exactly the decisions, signals and weights of the code', () => {
    expect(at('$defs/decision/enum')).toEqual([...DECISIONS]);
    expect(at('$defs/signal/enum')).toEqual([...BOOLEAN_SIGNALS]);
    expect(keys('$defs/prompting_rule/properties')).toEqual([...BOOLEAN_SIGNALS]);
    const weights = 'properties/risk/properties/weights/properties';
    expect(keys(weights)).toEqual([...RISK_WEIGHT_KEYS]);
    for (const k of RISK_WEIGHT_KEYS) expect(at(`${weights}/${k}/default`)).toBe(DEFAULT_RISK_WEIGHTS[k]);
  });

  it('documents the same defaults the compiler applies', () => {
    const e = 'properties/mfa_enforcement/properties';
    expect(dur(`${e}/grace_period/default`)).toBe(DEFAULTS.grace_period_s);
    expect(dur(`${e}/remember_mfa/default`)).toBe(DEFAULTS.remember_mfa_s);
    expect(dur(`${e}/step_up_max_age/default`)).toBe(DEFAULTS.step_up_max_age_s);
    expect(at(`${e}/all_users/default`)).toBe(DEFAULTS.all_users);
    expect(at(`${e}/exclude_service_accounts/default`)).toBe(DEFAULTS.exclude_service_accounts);
    expect(at(`${e}/fail_mode/default`)).toBe(DEFAULTS.fail_mode);
    expect(at('properties/recovery/properties/backup_codes/default')).toBe(DEFAULTS.backup_codes);
    expect(at('properties/recovery/properties/admin_recovery/default')).toBe(DEFAULTS.admin_recovery);
    expect(dur('properties/recovery/properties/recovery_timeout/default')).toBe(DEFAULTS.recovery_timeout_s);
    expect(formatDuration(DEFAULTS.remember_mfa_s)).toBe('12_hours');
    expect(at('properties/time_zone/default')).toBe(DEFAULTS.time_zone);
    expect(at('properties/location/properties/granularity/default')).toBe(DEFAULTS.granularity);
    expect(at('properties/location/properties/unknown_location/default')).toBe(DEFAULTS.unknown_location);
    expect(at('properties/impossible_travel/properties/max_speed_kmh/default')).toBe(DEFAULTS.max_speed_kmh);
    expect(at('properties/impossible_travel/properties/min_distance_km/default')).toBe(DEFAULTS.min_distance_km);
  });

  it('has the duration pattern of duration.ts and the methods of glob.ts', () => {
    const re = new RegExp(at('$defs/duration/pattern') as string, 'u');
    for (const ok of ['30_days', '1_day', '24h', '0s', '90_seconds']) expect(re.test(ok)).toBe(true);
    for (const bad of ['30', '3 weeks', '1.5h', '-1d', '1_week']) expect(re.test(bad)).toBe(false);
    for (const m of HTTP_METHODS) expect(at('$defs/action_pattern/pattern')).toContain(m);
  });

  it('is compiled once per process', () => {
    expect(policyValidate()).toBe(policyValidate());
    expect(sharedAjv()).toBe(sharedAjv());
  });
});
