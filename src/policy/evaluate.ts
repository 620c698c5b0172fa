// The decision table of DESIGN.md as a pure function of (compiled policy, input, now):
// no I/O, no clock, no randomness. Signals are computed before; the engine adds identifiers after.
import jsonLogic from 'json-logic-js';
import {
  BOOLEAN_SIGNALS,
  decisionRank,
  type BooleanSignal,
  type DecisionKind,
  type Enrollment,
  type Evaluation,
  type EvaluationInput,
  type Reason,
  type Signals,
  type SignalFacts,
} from '../types.js';
import type { CompiledPolicy, EnforcementSettings, PromptingRule } from './types.js';

/** Reasons the evaluator adds itself, beside the policy's rules. */
export const ENGINE_REASONS = {
  EXCLUDED: 'excluded',
  NOT_TARGETED: 'not_targeted',
  ENROLLMENT_REQUIRED: 'enrollment_required',
  GRACE_PERIOD: 'grace_period',
  SATISFIED_BY_RECENT_MFA: 'satisfied_by_recent_mfa',
  STORE_UNAVAILABLE: 'store_unavailable',
  RISK_SCORE: 'risk_score',
} as const;

// A few failures already say a lot; past ten the weight would only saturate the 0..100 scale.
const MAX_COUNTED_FAILURES = 10;

/** Signals that make a first enrollment unsafe for a user with login history (a stolen password must not
 * let an attacker bind their own authenticator). */
const RISKY_FOR_ENROLLMENT: readonly BooleanSignal[] = ['new_device', 'new_location', 'impossible_travel', 'blocked_network'];

interface UserSettings {
  settings: EnforcementSettings;
  excluded: boolean;
  targeted: boolean;
}

export function evaluate(policy: CompiledPolicy, input: EvaluationInput, now: number): Evaluation {
  return withFactors(policy, decide(policy, input, now));
}

/** For prompt_mfa and require_mfa: the factors that may satisfy the decision, a list the policy compiled once
 * (frozen, shared by every decision). Set last, after `policy`, on every path. */
function withFactors(policy: CompiledPolicy, result: Evaluation): Evaluation {
  const d = result.decision;
  if (d === 'prompt_mfa' || d === 'require_mfa') result.factors = policy.factors.by_decision[d];
  return result;
}

function decide(policy: CompiledPolicy, input: EvaluationInput, now: number): Evaluation {
  const { context, state, signals, facts } = input;
  const { settings, excluded, targeted } = userSettings(policy, context.user.id, context.user.groups, context.user.type);
  const score = riskScore(policy, signals);

  const reasons: Reason[] = [];
  const blockOnly = excluded || !targeted;
  collectPromptingReasons(settings.risk_based_prompting, signals, facts, context.action, reasons, blockOnly);
  if (!blockOnly) collectScoreReason(policy, score, reasons);
  collectCustomRuleReasons(policy, input, score, now, reasons, blockOnly);

  const decision = strongestEnforced(reasons);
  const enrollment: Enrollment = { enrolled: state.enrolled, allowed_now: enrollmentAllowed(signals) };
  const result: Evaluation = { decision, reasons, risk: { score, signals }, enrollment, policy: { version: policy.version } };

  if (decision === 'deny') return result;
  if (blockOnly) {
    reasons.push(
      excluded
        ? { rule: ENGINE_REASONS.EXCLUDED, decision: 'allow', enforced: true, detail: exclusionDetail(policy, context.user.type) }
        : { rule: ENGINE_REASONS.NOT_TARGETED, decision: 'allow', enforced: true, detail: 'enforcement does not apply to this user' },
    );
    result.decision = 'allow';
    return result;
  }

  if (!state.enrolled) {
    const start = graceStart(context.user.mfa_required_since, state.first_seen, now);
    const graceEnd = start + settings.grace_period_s * 1000;
    // A completed recovery leaves no fresh grace period: the deadline it set wins when earlier.
    const deadline = state.enrollment_deadline !== null && state.enrollment_deadline < graceEnd ? state.enrollment_deadline : graceEnd;
    enrollment.required_by = new Date(deadline).toISOString();
    if (now < deadline) {
      if (decision === 'prompt_mfa') {
        result.decision = 'allow';
        reasons.push({
          rule: ENGINE_REASONS.GRACE_PERIOD,
          decision: 'allow',
          enforced: true,
          detail: `not enrolled; prompt waived until ${enrollment.required_by}`,
        });
      }
    } else {
      result.decision = 'require_mfa';
      reasons.push({
        rule: ENGINE_REASONS.ENROLLMENT_REQUIRED,
        decision: 'require_mfa',
        enforced: true,
        detail: `not enrolled and the grace period ended at ${enrollment.required_by}`,
      });
    }
    return result;
  }

  const age = signals.mfa_age_seconds;
  if (age !== null && decision !== 'allow') {
    const limit = decision === 'prompt_mfa' ? settings.remember_mfa_s : settings.step_up_max_age_s;
    if (age <= limit) {
      reasons.push({
        rule: ENGINE_REASONS.SATISFIED_BY_RECENT_MFA,
        decision: 'allow',
        enforced: true,
        detail: `MFA completed ${age} s ago on this device (${decision === 'prompt_mfa' ? 'remember_mfa' : 'step_up_max_age'} ${limit} s)`,
      });
      result.decision = 'allow';
    }
  }
  return result;
}

function enrollmentAllowed(signals: Signals): boolean {
  if (signals.first_login) return true;
  for (const s of RISKY_FOR_ENROLLMENT) if (signals[s]) return false;
  return true;
}

function inAnyGroup(set: ReadonlySet<string>, groups: readonly string[]): boolean {
  if (set.size === 0) return false;
  for (const g of groups) if (set.has(g)) return true;
  return false;
}

/** The answer when the store cannot be read: the policy's fail mode, never a guess at the user's history. */
export function evaluateStoreUnavailable(policy: CompiledPolicy, signals: Signals, detail: string): Evaluation {
  const decision = policy.enforcement.fail_mode;
  return withFactors(policy, {
    decision,
    reasons: [{ rule: ENGINE_REASONS.STORE_UNAVAILABLE, decision, enforced: true, detail }],
    risk: { score: riskScore(policy, signals), signals },
    enrollment: { enrolled: false, allowed_now: false },
    policy: { version: policy.version },
  });
}

export function riskScore(policy: CompiledPolicy, signals: Signals): number {
  const w = policy.risk.weights;
  let score = 0;
  for (const s of BOOLEAN_SIGNALS) if (signals[s]) score += w[s];
  score += w.failed_attempts * Math.min(Math.max(signals.failed_attempts, 0), MAX_COUNTED_FAILURES);
  return score < 0 ? 0 : score > 100 ? 100 : score;
}

function userSettings(policy: CompiledPolicy, id: string, groups: readonly string[], type: string): UserSettings {
  const e = policy.enforcement;
  let excluded =
    (type === 'service' && e.exclude_service_accounts) || e.exclude_users.has(id) || inAnyGroup(e.exclude_groups, groups);
  let targeted = e.all_users || e.users.has(id) || inAnyGroup(e.groups, groups);
  if (policy.overrides.length === 0) return { settings: e, excluded, targeted };

  const settings: EnforcementSettings = {
    grace_period_s: e.grace_period_s,
    remember_mfa_s: e.remember_mfa_s,
    step_up_max_age_s: e.step_up_max_age_s,
    risk_based_prompting: e.risk_based_prompting,
  };
  for (const o of policy.overrides) {
    if (!o.users.has(id) && !inAnyGroup(o.groups, groups)) continue;
    Object.assign(settings, o.settings);
    if (o.exclude === true) excluded = true;
    if (o.exclude === false) {
      excluded = false;
      targeted = true;
    }
  }
  return { settings, excluded, targeted };
}

function collectPromptingReasons(
  rules: readonly PromptingRule[],
  signals: Signals,
  facts: SignalFacts,
  action: string | undefined,
  reasons: Reason[],
  blockOnly: boolean,
): void {
  let namesBlockedNetwork = false;
  let namesBlockedCountry = false;
  for (const r of rules) {
    if (r.signal === 'blocked_network') namesBlockedNetwork = true;
    if (r.signal === 'blocked_country') namesBlockedCountry = true;
    if (!signals[r.signal] || (blockOnly && r.decision !== 'deny')) continue;
    reasons.push({ rule: r.signal, decision: r.decision, enforced: true, detail: signalDetail(r.signal, facts, action) });
  }
  // A listed network or country is blocked even when no rule names the signal: that is what listing it means.
  if (signals.blocked_network && !namesBlockedNetwork) {
    reasons.push({ rule: 'blocked_network', decision: 'deny', enforced: true, detail: signalDetail('blocked_network', facts, action) });
  }
  if (signals.blocked_country && !namesBlockedCountry) {
    reasons.push({ rule: 'blocked_country', decision: 'deny', enforced: true, detail: signalDetail('blocked_country', facts, action) });
  }
}

function collectScoreReason(policy: CompiledPolicy, score: number, reasons: Reason[]): void {
  const t = policy.risk.thresholds;
  let decision: DecisionKind | null = null;
  let threshold = 0;
  if (t.require_mfa !== undefined && score >= t.require_mfa) {
    decision = 'require_mfa';
    threshold = t.require_mfa;
  } else if (t.prompt_mfa !== undefined && score >= t.prompt_mfa) {
    decision = 'prompt_mfa';
    threshold = t.prompt_mfa;
  }
  if (decision) {
    reasons.push({ rule: ENGINE_REASONS.RISK_SCORE, decision, enforced: true, detail: `risk score ${score} >= ${threshold}` });
  }
}

function collectCustomRuleReasons(
  policy: CompiledPolicy,
  input: EvaluationInput,
  score: number,
  now: number,
  reasons: Reason[],
  blockOnly: boolean,
): void {
  if (policy.rules.length === 0) return;
  let data: Record<string, unknown> | undefined;
  for (const rule of policy.rules) {
    if (blockOnly && rule.decision !== 'deny') continue;
    data ??= ruleData(policy, input, score, now);
    let matched: boolean;
    let detail: string | undefined;
    try {
      matched = jsonLogic.truthy(jsonLogic.apply(rule.when as jsonLogic.RulesLogic, data));
    } catch (err) {
      // A rule that cannot be evaluated fails closed: it counts as matched, and says why.
      matched = true;
      detail = `evaluation error: ${(err as Error).message}`;
    }
    if (!matched) continue;
    reasons.push({
      rule: rule.id,
      decision: rule.decision,
      enforced: !rule.report_only,
      ...(detail !== undefined ? { detail } : rule.description !== undefined ? { detail: rule.description } : {}),
    });
  }
}

/** The variables a json-logic rule sees (DESIGN.md, "Signals"). */
function ruleData(policy: CompiledPolicy, input: EvaluationInput, score: number, now: number): Record<string, unknown> {
  const { context, signals, facts } = input;
  const needsTime = policy.rules.some((r) => r.reads.has('time'));
  return {
    user: { id: context.user.id, type: context.user.type, groups: context.user.groups },
    geo: facts.geo ?? { country: null, region: null, city: null, lat: null, lon: null },
    device: facts.device,
    action: context.action ?? null,
    ip: context.ip,
    time: needsTime ? localTime(now, policy.time_zone) : null,
    attributes: context.attributes ?? {},
    signals,
    risk: { score },
  };
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
// Every UTC offset in the tz database, and every DST transition, falls on a quarter hour, so the local hour and
// weekday are constant within a UTC quarter hour: one Intl call (~2 µs) per zone per quarter hour is enough.
const QUARTER_HOUR_MS = 15 * 60 * 1000;
interface ZoneCache {
  format: Intl.DateTimeFormat;
  bucket: number;
  value: { hour: number; weekday: number };
}
const zones = new Map<string, ZoneCache>();

/** Hour and weekday (0 = Sunday) of `now` in the policy's time zone. A cache of formatters, not state. */
export function localTime(now: number, timeZone: string): { hour: number; weekday: number } {
  if (timeZone === 'UTC') {
    const d = new Date(now);
    return { hour: d.getUTCHours(), weekday: d.getUTCDay() };
  }
  const bucket = Math.floor(now / QUARTER_HOUR_MS);
  let zone = zones.get(timeZone);
  if (zone?.bucket === bucket) return zone.value;
  zone ??= {
    format: new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23', weekday: 'short' }),
    bucket,
    value: { hour: 0, weekday: 0 },
  };
  let hour = 0;
  let weekday = 0;
  for (const part of zone.format.formatToParts(now)) {
    if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'weekday') weekday = WEEKDAYS[part.value] ?? 0;
  }
  zone.bucket = bucket;
  zone.value = { hour, weekday };
  zones.set(timeZone, zone);
  return zone.value;
}

function strongestEnforced(reasons: readonly Reason[]): DecisionKind {
  let best: DecisionKind = 'allow';
  for (const r of reasons) if (r.enforced && decisionRank(r.decision) > decisionRank(best)) best = r.decision;
  return best;
}

function graceStart(requiredSince: string | undefined, firstSeen: number | null, now: number): number {
  if (requiredSince !== undefined) {
    const t = Date.parse(requiredSince);
    if (!Number.isNaN(t)) return t;
  }
  return firstSeen ?? now;
}

function exclusionDetail(policy: CompiledPolicy, type: string): string {
  return type === 'service' && policy.enforcement.exclude_service_accounts
    ? 'service account (exclude_service_accounts)'
    : 'excluded by policy';
}

function signalDetail(signal: BooleanSignal, facts: SignalFacts, action: string | undefined): string {
  switch (signal) {
    case 'new_device':
      return `device ${facts.device_key} (${facts.device.browser} on ${facts.device.os}, ${facts.device.type}) has not completed a login`;
    case 'new_location':
      return facts.location_key === null
        ? 'the IP address has no known location'
        : `location ${facts.location_key} has not completed a login`;
    case 'impossible_travel':
      return facts.travel
        ? `${facts.travel.distance_km} km since the last login at ${facts.travel.speed_kmh} km/h`
        : 'travel faster than the policy allows';
    case 'sensitive_action':
      return facts.sensitive_match === 'flagged'
        ? 'the caller flagged the action as sensitive'
        : `action ${action ?? ''} matches ${facts.sensitive_match ?? ''}`;
    case 'trusted_network':
      return `IP address in trusted network ${facts.trusted_match ?? ''}`;
    case 'blocked_network':
      return `IP address in blocked network ${facts.blocked_match ?? ''}`;
    case 'blocked_country':
      return `country ${facts.geo?.country ?? ''} is blocked`;
    case 'first_login':
      return 'the user has no completed login yet';
  }
}
