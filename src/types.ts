// The shared vocabulary of mfa-gate. A leaf: imports nothing from the project.

/** Decisions, weakest first. `deny` is only produced by rules that block. */
export const DECISIONS = ['allow', 'prompt_mfa', 'require_mfa', 'deny'] as const;
export type DecisionKind = (typeof DECISIONS)[number];

export function decisionRank(d: DecisionKind): number {
  return DECISIONS.indexOf(d);
}

export type UserType = 'human' | 'service';

export interface LoginUser {
  id: string;
  type: UserType;
  groups: string[];
  /** ISO time from which the user must use MFA; the grace period starts here (else at first sight). */
  mfa_required_since?: string;
}

/** A login or action context, normalised (defaults filled in) before signals are computed. */
export interface LoginContext {
  user: LoginUser;
  /** Client IP; null when the caller did not know it. */
  ip: string | null;
  user_agent: string;
  device_id?: string;
  action?: string;
  /** The caller flags the action as sensitive regardless of the policy's list. */
  sensitive?: boolean;
  attributes?: Record<string, unknown>;
}

/** What the store knows of a user, in the shape tests and `mfa-gate eval` may give inline. Times are epoch ms. */
export interface UserState {
  enrolled: boolean;
  enrolled_at: number | null;
  /** When the engine first saw the user (grace period start when the caller gives no mfa_required_since). */
  first_seen: number | null;
  known_devices: string[];
  known_locations: string[];
  last_login: { time: number; ip: string | null } | null;
  /** The last completed MFA; the engine fills it for the current device. */
  last_mfa: { time: number; device: string } | null;
  failed_attempts: number;
  /** When set, enrollment is required from this time regardless of the grace period (after a recovery). */
  enrollment_deadline: number | null;
  /** The earliest effective time of an open recovery request, or null; the engine applies it once due. */
  recovery_due_at: number | null;
}

export const EMPTY_STATE: Readonly<UserState> = Object.freeze({
  enrolled: false,
  enrolled_at: null,
  first_seen: null,
  known_devices: [],
  known_locations: [],
  last_login: null,
  last_mfa: null,
  failed_attempts: 0,
  enrollment_deadline: null,
  recovery_due_at: null,
});

export interface GeoInfo {
  country: string;
  region: string;
  city: string;
  lat: number;
  lon: number;
}

export interface DeviceInfo {
  browser: string;
  os: string;
  /** ua-parser-js device type, or `desktop` when it reports none. */
  type: string;
}

export interface Signals {
  new_device: boolean;
  new_location: boolean;
  impossible_travel: boolean;
  sensitive_action: boolean;
  trusted_network: boolean;
  blocked_network: boolean;
  blocked_country: boolean;
  first_login: boolean;
  failed_attempts: number;
  mfa_age_seconds: number | null;
}

/** The boolean signals, which `risk_based_prompting` entries and risk weights may name. */
export const BOOLEAN_SIGNALS = [
  'new_device',
  'new_location',
  'impossible_travel',
  'sensitive_action',
  'trusted_network',
  'blocked_network',
  'blocked_country',
  'first_login',
] as const;
export type BooleanSignal = (typeof BOOLEAN_SIGNALS)[number];

/** Everything the signal stage derived, beside the signals themselves: explains reasons, drives learning. */
export interface SignalFacts {
  device_key: string;
  device: DeviceInfo;
  /** `CC`, `CC/REGION` or `CC/REGION/City` at the policy's granularity; null when the IP has no location. */
  location_key: string | null;
  /** The finest key (`CC/REGION/City`, trailing unknown parts dropped): what the store learns, so a later
   * change of granularity keeps what was learned. */
  location_key_full: string | null;
  geo: GeoInfo | null;
  travel: { distance_km: number; speed_kmh: number } | null;
  /** The sensitive-action pattern that matched, or `flagged` when the caller set `sensitive: true`. */
  sensitive_match: string | null;
  trusted_match: string | null;
  blocked_match: string | null;
}

export interface EvaluationInput {
  context: LoginContext;
  state: UserState;
  signals: Signals;
  facts: SignalFacts;
}

export interface Reason {
  /** A signal name for `risk_based_prompting`, a custom rule's `id`, or an engine reason (`excluded`, ...). */
  rule: string;
  decision: DecisionKind;
  /** false for report-only rules (evaluated and logged, never enforced). A rule's effect may still be lowered
   * by a later engine reason (`grace_period`, `satisfied_by_recent_mfa`). */
  enforced: boolean;
  detail?: string;
}

export interface Enrollment {
  enrolled: boolean;
  /** ISO time the grace period ends, for a user not enrolled yet. */
  required_by?: string;
  /** May the user enroll a first factor from this context? false for a risky context with login history. */
  allowed_now: boolean;
}

/** The pure evaluator's answer. */
export interface Evaluation {
  decision: DecisionKind;
  reasons: Reason[];
  risk: { score: number; signals: Signals };
  enrollment: Enrollment;
  policy: { version: string };
  /** For prompt_mfa and require_mfa: the factors that may satisfy this decision (a restricted factor, message, only
   * where the policy's factors.message.satisfies allows it). Absent for allow and deny. A frozen list the policy
   * shares between decisions: never modify it. */
  factors?: readonly ('totp' | 'backup_code' | 'push' | 'message')[];
}

/** The engine's answer: an evaluation plus identifiers. */
export interface Decision extends Evaluation {
  decision_id: string;
  /** Present for prompt_mfa and require_mfa: verifying a factor against it completes the login. */
  challenge_id?: string;
}
