// schemas/policy.schema.json is hand-written JSON; these keep it in step with the code's vocabularies.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BOOLEAN_SIGNALS, DECISIONS } from '../types.js';
import { DEFAULT_FACTORS, DEFAULT_RISK_WEIGHTS, DEFAULT_THROTTLING, DEFAULTS, LIMITS } from './defaults.js';
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

  it('documents the factors and throttling defaults the compiler applies', () => {
    const f = 'properties/factors/properties';
    expect(at(`${f}/totp_issuer/default`)).toBe(DEFAULT_FACTORS.totp_issuer);
    expect(dur(`${f}/challenge_ttl/default`)).toBe(DEFAULT_FACTORS.challenge_ttl_s);
    expect(dur(`${f}/enrollment_approval_ttl/default`)).toBe(DEFAULT_FACTORS.enrollment_approval_ttl_s);
    const t = 'properties/throttling/properties';
    expect(at(`${t}/backoff_after/default`)).toBe(DEFAULT_THROTTLING.backoff_after);
    expect(dur(`${t}/backoff_base/default`)).toBe(DEFAULT_THROTTLING.backoff_base_s);
    expect(dur(`${t}/backoff_max/default`)).toBe(DEFAULT_THROTTLING.backoff_max_s);
    expect(at(`${t}/lock_after/default`)).toBe(DEFAULT_THROTTLING.lock_after);
    expect(at(`${t}/ip_backoff_after/default`)).toBe(DEFAULT_THROTTLING.ip_backoff_after);
    // One key per compiled field (durations drop their `_s`), so neither side gains a setting alone.
    expect(keys(f)).toEqual(Object.keys(DEFAULT_FACTORS).map((k) => k.replace(/_s$/, '')));
    expect(keys(t)).toEqual(Object.keys(DEFAULT_THROTTLING).map((k) => k.replace(/_s$/, '')));
  });

  it('has the bounds of LIMITS, and defaults inside them', () => {
    const f = 'properties/factors/properties';
    const t = 'properties/throttling/properties';
    expect([at(`${f}/totp_issuer/minLength`), at(`${f}/totp_issuer/maxLength`)]).toEqual([LIMITS.totp_issuer_chars.min, LIMITS.totp_issuer_chars.max]);
    const durations = [
      [`${f}/challenge_ttl`, LIMITS.challenge_ttl_s, DEFAULT_FACTORS.challenge_ttl_s],
      [`${f}/enrollment_approval_ttl`, LIMITS.enrollment_approval_ttl_s, DEFAULT_FACTORS.enrollment_approval_ttl_s],
      [`${t}/backoff_base`, LIMITS.backoff_base_s, DEFAULT_THROTTLING.backoff_base_s],
      [`${t}/backoff_max`, LIMITS.backoff_max_s, DEFAULT_THROTTLING.backoff_max_s],
    ] as const;
    for (const [path, range, fallback] of durations) {
      expect([dur(`${path}/x-duration-range/minimum`), dur(`${path}/x-duration-range/maximum`)], path).toEqual([range.min, range.max]);
      expect(fallback).toBeGreaterThanOrEqual(range.min);
      expect(fallback).toBeLessThanOrEqual(range.max);
    }
    for (const k of ['backoff_after', 'lock_after', 'ip_backoff_after'] as const) {
      expect([at(`${t}/${k}/minimum`), at(`${t}/${k}/maximum`)], k).toEqual([LIMITS[k].min, LIMITS[k].max]);
      expect(DEFAULT_THROTTLING[k]).toBeGreaterThanOrEqual(LIMITS[k].min);
      expect(DEFAULT_THROTTLING[k]).toBeLessThanOrEqual(LIMITS[k].max);
    }
    // NIST SP 800-63B 5.2.2: at most 100 consecutive failures; and the defaults obey the order rules.
    expect(LIMITS.lock_after.max).toBe(100);
    expect(DEFAULT_THROTTLING.backoff_after).toBeLessThan(DEFAULT_THROTTLING.lock_after);
    expect(DEFAULT_THROTTLING.backoff_base_s).toBeLessThanOrEqual(DEFAULT_THROTTLING.backoff_max_s);
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
