// The compiled policy: what `loadPolicy` returns and what signals and the evaluator read.
// Every duration is in seconds; every list is pre-built for matching so no request parses anything.
import { BOOLEAN_SIGNALS, type BooleanSignal, type DecisionKind } from '../types.js';

/** A compiled sensitive-action pattern: an exact name, a glob (`admin.*`) or `METHOD /path/*`. */
export interface ActionMatcher {
  source: string;
  test(action: string): boolean;
}

/** A compiled list of CIDRs (IPv4 and IPv6). */
export interface NetworkList {
  readonly size: number;
  /** The CIDR (as written in the policy) that contains `ip`, or null. Never throws, also not on a malformed IP. */
  match(ip: string): string | null;
}

export interface PromptingRule {
  signal: BooleanSignal;
  decision: DecisionKind;
}

/** The settings an override may replace for a user or group. */
export interface EnforcementSettings {
  grace_period_s: number;
  remember_mfa_s: number;
  step_up_max_age_s: number;
  risk_based_prompting: PromptingRule[];
}

export interface CompiledOverride {
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  /** true: the matched users are excluded from enforcement; false: they are targeted even if all_users is false. */
  exclude?: boolean;
  settings: Partial<EnforcementSettings>;
}

export type JsonLogic = Record<string, unknown>;

export interface CompiledRule {
  id: string;
  description?: string;
  when: JsonLogic;
  decision: DecisionKind;
  report_only: boolean;
  /** The roots of the variables the rule reads (`user`, `geo`, `time`, ...), so the evaluator builds only those. */
  reads: ReadonlySet<string>;
}

export type Granularity = 'country' | 'region' | 'city';

/** Every boolean signal has a weight, and `failed_attempts` one per recent failure. */
export const RISK_WEIGHT_KEYS = [...BOOLEAN_SIGNALS, 'failed_attempts'] as const;
export type RiskWeightKey = (typeof RISK_WEIGHT_KEYS)[number];

/** The factors a decision may list (Decision.factors), in the order it lists them. */
export const FACTOR_KINDS = ['totp', 'backup_code', 'push', 'message'] as const;
export type FactorKind = (typeof FACTOR_KINDS)[number];

/** The decisions a factor satisfies: allow needs none, deny takes none. */
export const MFA_DECISIONS = ['prompt_mfa', 'require_mfa'] as const;
export type MfaDecision = (typeof MFA_DECISIONS)[number];

/** Security notifications the sender delivers (`notifications.user`, `notifications.security_team`). */
export const NOTIFICATION_EVENTS = [
  'factor_enrolled',
  'factor_removed',
  'factors_reset',
  'backup_codes_low',
  'recovery_opened',
  'new_device_login',
  'new_location_login',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** `factors.message`: one-time codes sent by message (SMS, email, chat), a RESTRICTED authenticator
 * (NIST SP 800-63B 5.1.3.3). */
export interface MessageFactorSettings {
  /** Off unless the policy turns it on (it needs a sender). */
  enabled: boolean;
  /** How long a sent code can be used (30 s..10 min). */
  code_ttl_s: number;
  /** The decisions a message code may satisfy (non-empty; by default prompt_mfa only). */
  satisfies: ReadonlySet<MfaDecision>;
  /** Codes sent per user per send_window. */
  max_sends: number;
  send_window_s: number;
}

/** `factors.push`: push approval with number matching. */
export interface PushFactorSettings {
  enabled: boolean;
  /** How long a push can be answered (30 s..10 min). */
  ttl_s: number;
  /** Unanswered (or refused) pushes per user per unanswered_window before further pushes are refused (push fatigue). */
  max_unanswered: number;
  unanswered_window_s: number;
}

/** `factors:`: TOTP enrollment and challenges, and the out-of-band factors. */
export interface FactorSettings {
  /** The issuer in otpauth:// URIs (1..64 characters, no ':'). */
  totp_issuer: string;
  /** How long a decision's challenge_id can be completed. */
  challenge_ttl_s: number;
  /** How long an admin's approval of a first enrollment from a risky context lasts. */
  enrollment_approval_ttl_s: number;
  message: MessageFactorSettings;
  push: PushFactorSettings;
  /** Derived from the above when the policy compiles (`factorsByDecision`), not written in a policy: the factors
   * that may satisfy each decision, frozen, which evaluate() hands out as Decision.factors without allocating.
   * totp and backup_code always; push when enabled; message when enabled and its `satisfies` names the decision. */
  by_decision: Readonly<Record<MfaDecision, readonly FactorKind[]>>;
}

/** `notifications:`: which security events are sent to the user and to the security team. */
export interface NotificationSettings {
  user: ReadonlySet<NotificationEvent>;
  security_team: ReadonlySet<NotificationEvent>;
}

/** `throttling:` of failed factor attempts (NIST SP 800-63B 5.2.2). backoff_after < lock_after <= 100 and
 * backoff_base_s <= backoff_max_s, checked at load. */
export interface ThrottlingSettings {
  /** Consecutive failures of a user, per factor budget, before each further attempt waits. */
  backoff_after: number;
  /** The first wait; doubles with each further failure. */
  backoff_base_s: number;
  /** The longest wait. */
  backoff_max_s: number;
  /** Consecutive failures that lock the factor until an admin resets it. */
  lock_after: number;
  /** Consecutive failures from one IP (any user) before that IP waits; an IP is never locked. */
  ip_backoff_after: number;
}

export interface CompiledPolicy {
  /** sha256 (hex) of the policy file's bytes. */
  version: string;
  /** The file it was loaded from (for messages). */
  source: string;
  enforcement: EnforcementSettings & {
    all_users: boolean;
    /** Targeted when all_users is false. */
    users: ReadonlySet<string>;
    groups: ReadonlySet<string>;
    exclude_service_accounts: boolean;
    exclude_users: ReadonlySet<string>;
    exclude_groups: ReadonlySet<string>;
    /** The decision when the store is unreachable. */
    fail_mode: DecisionKind;
  };
  /** Applied in order; a later match overrides an earlier one key by key. */
  overrides: CompiledOverride[];
  recovery: {
    backup_codes: number;
    admin_recovery: 'verify_with_id' | 'disabled';
    recovery_timeout_s: number;
  };
  sensitive_actions: ActionMatcher[];
  networks: { trusted: NetworkList; blocked: NetworkList };
  countries: { blocked: ReadonlySet<string>; allowed: ReadonlySet<string> | null };
  location: {
    granularity: Granularity;
    /** Does an IP without a location count as a new location? `auto`: yes unless the network is trusted. */
    unknown_location: 'auto' | 'new' | 'known';
  };
  impossible_travel: { max_speed_kmh: number; min_distance_km: number };
  risk: {
    weights: Record<RiskWeightKey, number>;
    thresholds: { prompt_mfa?: number; require_mfa?: number };
  };
  rules: CompiledRule[];
  /** IANA time zone for `time.hour` / `time.weekday` in rules. */
  time_zone: string;
  factors: FactorSettings;
  throttling: ThrottlingSettings;
  notifications: NotificationSettings;
}
