// schemas/policy.schema.json is hand-written JSON; these keep it in step with the code's vocabularies.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BOOLEAN_SIGNALS, DECISIONS } from '../types.js';
import {
  DEFAULT_FACTORS,
  DEFAULT_MESSAGE_FACTOR,
  DEFAULT_NOTIFICATIONS,
  DEFAULT_PUSH_FACTOR,
  DEFAULT_RISK_WEIGHTS,
  DEFAULT_THROTTLING,
  DEFAULTS,
  LIMITS,
} from './defaults.js';
import { formatDuration, parseDuration } from './duration.js';
import { HTTP_METHODS } from './glob.js';
import { policyValidate, POLICY_SCHEMA_URL, sharedAjv } from './schema.js';
import { BOUNDED_DURATIONS } from './semantic.js';
import { FACTOR_KINDS, MFA_DECISIONS, NOTIFICATION_EVENTS, RISK_WEIGHT_KEYS } from './types.js';

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
    // One key per compiled field (durations drop their `_s`), so neither side gains a setting alone; by_decision is
    // derived, never written.
    const written = (o: object): string[] => Object.keys(o).filter((k) => k !== 'by_decision').map((k) => k.replace(/_s$/, ''));
    expect(keys(f)).toEqual(written(DEFAULT_FACTORS));
    expect(keys(t)).toEqual(written(DEFAULT_THROTTLING));
    expect(keys(`${f}/message/properties`)).toEqual(written(DEFAULT_MESSAGE_FACTOR));
    expect(keys(`${f}/push/properties`)).toEqual(written(DEFAULT_PUSH_FACTOR));
    expect(keys('properties/notifications/properties')).toEqual(Object.keys(DEFAULT_NOTIFICATIONS));
  });

  it('documents the out-of-band factor and notification defaults the compiler applies', () => {
    const m = 'properties/factors/properties/message/properties';
    expect(at(`${m}/enabled/default`)).toBe(DEFAULT_MESSAGE_FACTOR.enabled);
    expect(dur(`${m}/code_ttl/default`)).toBe(DEFAULT_MESSAGE_FACTOR.code_ttl_s);
    expect(at(`${m}/satisfies/default`)).toEqual([...DEFAULT_MESSAGE_FACTOR.satisfies]);
    expect(at(`${m}/max_sends/default`)).toBe(DEFAULT_MESSAGE_FACTOR.max_sends);
    expect(dur(`${m}/send_window/default`)).toBe(DEFAULT_MESSAGE_FACTOR.send_window_s);
    const p = 'properties/factors/properties/push/properties';
    expect(at(`${p}/enabled/default`)).toBe(DEFAULT_PUSH_FACTOR.enabled);
    expect(dur(`${p}/ttl/default`)).toBe(DEFAULT_PUSH_FACTOR.ttl_s);
    expect(at(`${p}/max_unanswered/default`)).toBe(DEFAULT_PUSH_FACTOR.max_unanswered);
    expect(dur(`${p}/unanswered_window/default`)).toBe(DEFAULT_PUSH_FACTOR.unanswered_window_s);
    const n = 'properties/notifications/properties';
    expect(at(`${n}/user/default`)).toEqual([...DEFAULT_NOTIFICATIONS.user]);
    expect(at(`${n}/security_team/default`)).toEqual([...DEFAULT_NOTIFICATIONS.security_team]);
    // NIST SP 800-63B 5.1.3.3: a restricted authenticator does not satisfy a step-up unless the policy says so.
    expect(DEFAULT_MESSAGE_FACTOR.satisfies).toEqual(new Set(['prompt_mfa']));
    expect(DEFAULT_FACTORS.by_decision).toEqual({ prompt_mfa: ['totp', 'backup_code'], require_mfa: ['totp', 'backup_code'] });
  });

  it('names exactly the factor decisions and notification events of the code', () => {
    expect(at('$defs/mfa_decision/enum')).toEqual([...MFA_DECISIONS]);
    expect(at('$defs/notification_event/enum')).toEqual([...NOTIFICATION_EVENTS]);
    expect(at('properties/notifications/properties/user/default')).toEqual([...NOTIFICATION_EVENTS]);
    const decision: unknown = JSON.parse(readFileSync(new URL('../../schemas/decision.schema.json', import.meta.url), 'utf8'));
    expect((decision as { properties: { factors: { items: { enum: unknown } } } }).properties.factors.items.enum).toEqual([...FACTOR_KINDS]);
  });

  it('has the bounds of LIMITS, and defaults inside them', () => {
    const f = 'properties/factors/properties';
    const t = 'properties/throttling/properties';
    expect([at(`${f}/totp_issuer/minLength`), at(`${f}/totp_issuer/maxLength`)]).toEqual([LIMITS.totp_issuer_chars.min, LIMITS.totp_issuer_chars.max]);
    const m = `${f}/message/properties`;
    const p = `${f}/push/properties`;
    const durations = [
      [`${f}/challenge_ttl`, LIMITS.challenge_ttl_s, DEFAULT_FACTORS.challenge_ttl_s],
      [`${f}/enrollment_approval_ttl`, LIMITS.enrollment_approval_ttl_s, DEFAULT_FACTORS.enrollment_approval_ttl_s],
      [`${m}/code_ttl`, LIMITS.message_code_ttl_s, DEFAULT_MESSAGE_FACTOR.code_ttl_s],
      [`${m}/send_window`, LIMITS.message_send_window_s, DEFAULT_MESSAGE_FACTOR.send_window_s],
      [`${p}/ttl`, LIMITS.push_ttl_s, DEFAULT_PUSH_FACTOR.ttl_s],
      [`${p}/unanswered_window`, LIMITS.push_unanswered_window_s, DEFAULT_PUSH_FACTOR.unanswered_window_s],
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
    // Every x-duration-range in the schema is enforced by semantic.ts, with the same bounds.
    const ranges: [string, number, number][] = [];
    const visit = (node: unknown, path: string[]): void => {
      if (typeof node !== 'object' || node === null) return;
      const r = (node as Record<string, unknown>)['x-duration-range'] as { minimum: string; maximum: string } | undefined;
      if (r) ranges.push([path.filter((_, i) => i % 2 === 1).join('.'), parseDuration(r.minimum), parseDuration(r.maximum)]);
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) if (k !== 'x-duration-range') visit(v, [...path, k]);
    };
    visit((schema as { properties: unknown }).properties, ['properties']);
    expect(ranges.sort()).toEqual(BOUNDED_DURATIONS.map(([path, r]) => [path.join('.'), r.min, r.max]).sort());
    for (const [path, limit, fallback] of [
      [`${m}/max_sends`, LIMITS.message_max_sends, DEFAULT_MESSAGE_FACTOR.max_sends],
      [`${p}/max_unanswered`, LIMITS.push_max_unanswered, DEFAULT_PUSH_FACTOR.max_unanswered],
    ] as const) {
      expect([at(`${path}/minimum`), at(`${path}/maximum`)], path).toEqual([limit.min, limit.max]);
      expect(fallback).toBeGreaterThanOrEqual(limit.min);
      expect(fallback).toBeLessThanOrEqual(limit.max);
    }
    // NIST SP 800-63B 5.1.3.2: an out-of-band secret lives at most 10 minutes.
    expect(LIMITS.message_code_ttl_s.max).toBe(600);
    expect(LIMITS.push_ttl_s.max).toBe(600);
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
