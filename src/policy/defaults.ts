// What a policy gets where it is silent. Kept in step with the `default`s in schemas/policy.schema.json.
import type { BooleanSignal, DecisionKind } from '../types.js';
import { BOOLEAN_SIGNALS } from '../types.js';
import {
  NOTIFICATION_EVENTS,
  type FactorKind,
  type FactorSettings,
  type Granularity,
  type MessageFactorSettings,
  type MfaDecision,
  type NotificationEvent,
  type NotificationSettings,
  type PushFactorSettings,
  type RiskWeightKey,
  type ThrottlingSettings,
} from './types.js';

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

/** `factors.message:` where a policy is silent. */
export const DEFAULT_MESSAGE_FACTOR: Readonly<MessageFactorSettings> = Object.freeze({
  /** Off: it needs a sender configured, and it is the weakest factor offered. */
  enabled: false,
  /** Five minutes: time for a message to arrive and be typed in, short for a code that travelled in the clear. */
  code_ttl_s: 5 * 60,
  /** NIST SP 800-63B 5.1.3.3: SMS is a RESTRICTED authenticator (SIM swap, number porting, interception), so by
   * default it does not satisfy a require_mfa (step-up); a policy may add it. */
  satisfies: new Set<MfaDecision>(['prompt_mfa']) as ReadonlySet<MfaDecision>,
  /** Three codes per quarter hour: a resend or two for a slow network, not a tool to flood a phone (or a bill). */
  max_sends: 3,
  send_window_s: 15 * 60,
});

/** `factors.push:` where a policy is silent. */
export const DEFAULT_PUSH_FACTOR: Readonly<PushFactorSettings> = Object.freeze({
  /** Off: it needs a sender (a push service) configured. */
  enabled: false,
  /** Two minutes to pick up the phone and match the number. */
  ttl_s: 2 * 60,
  /** Push fatigue (MFA bombing): after three unanswered pushes in a quarter hour, no more are sent. */
  max_unanswered: 3,
  unanswered_window_s: 15 * 60,
});

/** Factors that satisfy any decision: what every Decision.factors lists first. */
const ALWAYS: readonly FactorKind[] = ['totp', 'backup_code'];

/** The factors that may satisfy prompt_mfa and require_mfa under these settings, as frozen lists (one array per
 * distinct list, so policies share them). The order is FACTOR_KINDS'. */
export function factorsByDecision(
  message: Pick<MessageFactorSettings, 'enabled' | 'satisfies'>,
  push: Pick<PushFactorSettings, 'enabled'>,
): Readonly<Record<MfaDecision, readonly FactorKind[]>> {
  const list = (d: MfaDecision): readonly FactorKind[] =>
    factorList(push.enabled, message.enabled && message.satisfies.has(d));
  return Object.freeze({ prompt_mfa: list('prompt_mfa'), require_mfa: list('require_mfa') });
}

const FACTOR_LISTS = new Map<string, readonly FactorKind[]>();
function factorList(push: boolean, message: boolean): readonly FactorKind[] {
  const key = `${push}/${message}`;
  let list = FACTOR_LISTS.get(key);
  if (!list) {
    list = Object.freeze([...ALWAYS, ...(push ? (['push'] as const) : []), ...(message ? (['message'] as const) : [])]);
    FACTOR_LISTS.set(key, list);
  }
  return list;
}

/** `factors:` where a policy is silent (compiled shape, so hand-built test policies can spread it). */
export const DEFAULT_FACTORS: Readonly<FactorSettings> = Object.freeze({
  /** The product's name: what an authenticator app lists the account under unless the policy names the organisation. */
  totp_issuer: 'mfa-gate',
  /** The engine's built-in challenge lifetime (src/engine.ts DEFAULT_CHALLENGE_TTL_MS): time to find the phone
   * and type a code, short enough that a leaked challenge_id is soon worthless. */
  challenge_ttl_s: 10 * 60,
  /** A day: a user approved by an admin in one time zone can still enrol in the next working day of another;
   * the same span as the seed's recovery_timeout. */
  enrollment_approval_ttl_s: 24 * 3_600,
  message: DEFAULT_MESSAGE_FACTOR,
  push: DEFAULT_PUSH_FACTOR,
  by_decision: factorsByDecision(DEFAULT_MESSAGE_FACTOR, DEFAULT_PUSH_FACTOR),
});

/** `notifications:` where a policy is silent: the user hears of every security event on their account (the
 * OWASP MFA cheat sheet: notify the user of MFA changes and of logins from new devices or places); the security
 * team of none until the policy names some. */
export const DEFAULT_NOTIFICATIONS: Readonly<NotificationSettings> = Object.freeze({
  user: new Set<NotificationEvent>(NOTIFICATION_EVENTS),
  security_team: new Set<NotificationEvent>(),
});

/** `throttling:` where a policy is silent (NIST SP 800-63B 5.2.2: rate limiting of failed attempts). */
export const DEFAULT_THROTTLING: Readonly<ThrottlingSettings> = Object.freeze({
  /** A few typos, or a code typed just after it rolled over, cost nobody a wait; after five failures in a row each
   * further attempt waits. */
  backoff_after: 5,
  /** OWASP Authentication Cheat Sheet, "Account Lockout": an exponential lockout that starts very short (e.g. one
   * second) and doubles after each failed attempt. */
  backoff_base_s: 1,
  /** The doubling stops at 15 minutes: a guesser still gets under 100 tries a day, a user is back within the quarter hour. */
  backoff_max_s: 15 * 60,
  /** NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account. */
  lock_after: 100,
  /** Many users share an IP behind a NAT: a higher threshold than a user's, and never a lock (one attacker could
   * lock out the whole office). */
  ip_backoff_after: 20,
});

/** The bounds of the `factors:` and `throttling:` values, as `minimum`/`maximum` (integers) and
 * `x-duration-range` (durations) in schemas/policy.schema.json; semantic.ts checks the durations. */
export const LIMITS = Object.freeze({
  totp_issuer_chars: { min: 1, max: 64 },
  /** At least 30 s to open an authenticator app; at most a day, after which a pending login is stale. */
  challenge_ttl_s: { min: 30, max: 86_400 },
  /** An approval shorter than a minute cannot be used; one longer than a week is a standing exception. */
  enrollment_approval_ttl_s: { min: 60, max: 7 * 86_400 },
  /** Whole seconds, at least 1 (a 0 s wait is no backoff); a wait over a day is a lock in disguise. */
  backoff_base_s: { min: 1, max: 86_400 },
  backoff_max_s: { min: 1, max: 86_400 },
  /** Below lock_after (at most 99), else the lock comes before any wait. */
  backoff_after: { min: 1, max: 99 },
  /** NIST SP 800-63B 5.2.2: at most 100; at least 2, since backoff_after (>= 1) must come first. */
  lock_after: { min: 2, max: 100 },
  /** A large NAT may need a high threshold; 10000 is still a bound. */
  ip_backoff_after: { min: 1, max: 10_000 },
  /** A message code or a push shorter than 30 s cannot be acted on; NIST SP 800-63B 5.1.3.2 (an out-of-band
   * secret is valid for at most 10 minutes) bounds both. */
  message_code_ttl_s: { min: 30, max: 600 },
  push_ttl_s: { min: 30, max: 600 },
  /** Sends and unanswered pushes allowed per window: at least one, or the factor could never be used. */
  message_max_sends: { min: 1, max: 100 },
  push_max_unanswered: { min: 1, max: 100 },
  /** A window must be longer than zero (else nothing is ever counted); one longer than a day is a lock in disguise. */
  message_send_window_s: { min: 1, max: 86_400 },
  push_unanswered_window_s: { min: 1, max: 86_400 },
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
