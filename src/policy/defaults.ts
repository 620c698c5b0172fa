// What a policy gets where it is silent. Kept in step with the `default`s in schemas/policy.schema.json.
import type { BooleanSignal, DecisionKind } from '../types.js';
import { BOOLEAN_SIGNALS } from '../types.js';
import type { Granularity, RiskWeightKey } from './types.js';

/** OWASP Multifactor Authentication Cheat Sheet, "when to require MFA": changing the password, the email or
 * phone, the MFA settings themselves, administration and payments. */
export const DEFAULT_SENSITIVE_ACTIONS: readonly string[] = Object.freeze([
  'password.change',
  'email.change',
  'phone.change',
  'mfa.*',
  'admin.*',
  'payment.*',
]);

/** The policy format's default weights: two medium signals (new device + new location = 45) cross the usual
 * prompt threshold of 40; impossible travel alone nearly requires MFA; a blocked network or country saturates. */
export const DEFAULT_RISK_WEIGHTS: Readonly<Record<RiskWeightKey, number>> = Object.freeze({
  new_device: 25,
  new_location: 20,
  impossible_travel: 60,
  sensitive_action: 15,
  trusted_network: -20,
  blocked_network: 100,
  blocked_country: 100,
  first_login: 10,
  failed_attempts: 10,
});

export const DEFAULTS = Object.freeze({
  all_users: true,
  grace_period_s: 0,
  exclude_service_accounts: false,
  /** NIST SP 800-63B 4.2.3: AAL2 reauthentication at least once per 12 hours. */
  remember_mfa_s: 12 * 3_600,
  /** DESIGN.md "Decision semantics": a step-up is fresh for 5 minutes. */
  step_up_max_age_s: 5 * 60,
  /** Failing closed: an unreachable store must not switch MFA off. */
  fail_mode: 'require_mfa' as DecisionKind,
  /** DESIGN.md "Factors": ten backup codes. */
  backup_codes: 10,
  admin_recovery: 'verify_with_id' as const,
  /** DESIGN.md "The policy": the seed's recovery_timeout. */
  recovery_timeout_s: 24 * 3_600,
  granularity: 'country' as Granularity,
  unknown_location: 'auto' as const,
  /** A commercial airliner's cruise speed: faster than that between two logins is not one person travelling. */
  max_speed_kmh: 900,
  /** IP geolocation is often off by hundreds of km; shorter jumps prove nothing. */
  min_distance_km: 500,
  time_zone: 'UTC',
});

/** Reasons the evaluator emits itself (src/policy/evaluate.ts ENGINE_REASONS); a rule named so would be ambiguous. */
export const ENGINE_REASON_NAMES: readonly string[] = [
  'excluded',
  'not_targeted',
  'enrollment_required',
  'satisfied_by_recent_mfa',
  'grace_period',
  'store_unavailable',
  'risk_score',
];

/** Names a custom rule may not take: every signal (reasons name risk_based_prompting rules after them) and
 * every engine reason. */
export const RESERVED_RULE_IDS: ReadonlySet<string> = new Set<string>([
  ...(BOOLEAN_SIGNALS as readonly BooleanSignal[]),
  'failed_attempts',
  'mfa_age_seconds',
  ...ENGINE_REASON_NAMES,
]);
