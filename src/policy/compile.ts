// A validated policy document -> CompiledPolicy: defaults filled in, durations in seconds, every list
// pre-built for matching, so no decision parses anything.
import { createHash } from 'node:crypto';
import { PolicyError } from '../errors.js';
import type { BooleanSignal, DecisionKind } from '../types.js';
import {
  DEFAULT_FACTORS,
  DEFAULT_MESSAGE_FACTOR,
  DEFAULT_NOTIFICATIONS,
  DEFAULT_PUSH_FACTOR,
  DEFAULT_RISK_WEIGHTS,
  DEFAULT_SENSITIVE_ACTIONS,
  DEFAULT_THROTTLING,
  DEFAULTS,
  factorsByDecision,
} from './defaults.js';
import { parseDuration } from './duration.js';
import { compileActionPattern } from './glob.js';
import { compileNetworkList } from './network.js';
import { policyValidate } from './schema.js';
import { checkSemantics } from './semantic.js';
import type {
  CompiledOverride,
  CompiledPolicy,
  CompiledRule,
  EnforcementSettings,
  FactorSettings,
  Granularity,
  JsonLogic,
  MessageFactorSettings,
  MfaDecision,
  NotificationEvent,
  NotificationSettings,
  PromptingRule,
  PushFactorSettings,
  RiskWeightKey,
} from './types.js';
import { parseYamlWithSchema, sortProblems, type YamlSource } from './yaml-source.js';

/** The document's shape once it passed schemas/policy.schema.json. */
type PromptingEntry = Partial<Record<BooleanSignal, DecisionKind>>;
interface PolicyDocument {
  mfa_enforcement: {
    all_users?: boolean;
    users?: string[];
    groups?: string[];
    grace_period?: string;
    exclude_service_accounts?: boolean;
    exclude_users?: string[];
    exclude_groups?: string[];
    risk_based_prompting?: PromptingEntry[];
    remember_mfa?: string;
    step_up_max_age?: string;
    fail_mode?: DecisionKind;
  };
  recovery?: { backup_codes?: number; admin_recovery?: 'verify_with_id' | 'disabled'; recovery_timeout?: string };
  sensitive_actions?: string[];
  networks?: { trusted?: string[]; blocked?: string[] };
  countries?: { blocked?: string[]; allowed?: string[] };
  location?: { granularity?: Granularity; unknown_location?: 'auto' | 'new' | 'known' };
  impossible_travel?: { max_speed_kmh?: number; min_distance_km?: number };
  risk?: { weights?: Partial<Record<RiskWeightKey, number>>; thresholds?: { prompt_mfa?: number; require_mfa?: number } };
  rules?: { id: string; description?: string; when: JsonLogic; decision: DecisionKind; mode?: 'enforce' | 'report_only' }[];
  overrides?: {
    users?: string[];
    groups?: string[];
    exclude?: boolean;
    grace_period?: string;
    remember_mfa?: string;
    step_up_max_age?: string;
    risk_based_prompting?: PromptingEntry[];
  }[];
  time_zone?: string;
  factors?: {
    totp_issuer?: string;
    challenge_ttl?: string;
    enrollment_approval_ttl?: string;
    message?: { enabled?: boolean; code_ttl?: string; satisfies?: MfaDecision[]; max_sends?: number; send_window?: string };
    push?: { enabled?: boolean; ttl?: string; max_unanswered?: number; unanswered_window?: string };
  };
  notifications?: { user?: NotificationEvent[]; security_team?: NotificationEvent[] };
  throttling?: { backoff_after?: number; backoff_base?: string; backoff_max?: string; lock_after?: number; ip_backoff_after?: number };
}

function prompting(entries: PromptingEntry[]): PromptingRule[] {
  return entries.flatMap((e) => Object.entries(e).map(([signal, decision]) => ({ signal: signal as BooleanSignal, decision: decision as DecisionKind })));
}

function seconds(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : parseDuration(text);
}

function overrides(doc: PolicyDocument): CompiledOverride[] {
  return (doc.overrides ?? []).map((o) => {
    const settings: Partial<EnforcementSettings> = {};
    if (o.grace_period !== undefined) settings.grace_period_s = parseDuration(o.grace_period);
    if (o.remember_mfa !== undefined) settings.remember_mfa_s = parseDuration(o.remember_mfa);
    if (o.step_up_max_age !== undefined) settings.step_up_max_age_s = parseDuration(o.step_up_max_age);
    if (o.risk_based_prompting !== undefined) settings.risk_based_prompting = prompting(o.risk_based_prompting);
    const compiled: CompiledOverride = { users: new Set(o.users ?? []), groups: new Set(o.groups ?? []), settings };
    if (o.exclude !== undefined) compiled.exclude = o.exclude;
    return compiled;
  });
}

function factors(doc: PolicyDocument): FactorSettings {
  const f = doc.factors ?? {};
  const m = f.message ?? {};
  const p = f.push ?? {};
  const dm = DEFAULT_MESSAGE_FACTOR;
  const dp = DEFAULT_PUSH_FACTOR;
  const message: MessageFactorSettings = {
    enabled: m.enabled ?? dm.enabled,
    code_ttl_s: seconds(m.code_ttl, dm.code_ttl_s),
    satisfies: new Set(m.satisfies ?? dm.satisfies),
    max_sends: m.max_sends ?? dm.max_sends,
    send_window_s: seconds(m.send_window, dm.send_window_s),
  };
  const push: PushFactorSettings = {
    enabled: p.enabled ?? dp.enabled,
    ttl_s: seconds(p.ttl, dp.ttl_s),
    max_unanswered: p.max_unanswered ?? dp.max_unanswered,
    unanswered_window_s: seconds(p.unanswered_window, dp.unanswered_window_s),
  };
  return {
    totp_issuer: f.totp_issuer ?? DEFAULT_FACTORS.totp_issuer,
    challenge_ttl_s: seconds(f.challenge_ttl, DEFAULT_FACTORS.challenge_ttl_s),
    enrollment_approval_ttl_s: seconds(f.enrollment_approval_ttl, DEFAULT_FACTORS.enrollment_approval_ttl_s),
    message,
    push,
    by_decision: factorsByDecision(message, push),
  };
}

function notifications(doc: PolicyDocument): NotificationSettings {
  const n = doc.notifications ?? {};
  return {
    user: new Set(n.user ?? DEFAULT_NOTIFICATIONS.user),
    security_team: new Set(n.security_team ?? DEFAULT_NOTIFICATIONS.security_team),
  };
}

function build(doc: PolicyDocument, meta: { version: string; source: string }, reads: Map<number, Set<string>>, timeZone: string): CompiledPolicy {
  const e = doc.mfa_enforcement;
  const weights = { ...DEFAULT_RISK_WEIGHTS, ...(doc.risk?.weights ?? {}) };
  const thresholds: { prompt_mfa?: number; require_mfa?: number } = {};
  if (doc.risk?.thresholds?.prompt_mfa !== undefined) thresholds.prompt_mfa = doc.risk.thresholds.prompt_mfa;
  if (doc.risk?.thresholds?.require_mfa !== undefined) thresholds.require_mfa = doc.risk.thresholds.require_mfa;
  const rules: CompiledRule[] = (doc.rules ?? []).map((r, i) => {
    const rule: CompiledRule = {
      id: r.id,
      when: r.when,
      decision: r.decision,
      report_only: r.mode === 'report_only',
      reads: reads.get(i) ?? new Set(),
    };
    if (r.description !== undefined) rule.description = r.description;
    return rule;
  });
  return {
    version: meta.version,
    source: meta.source,
    enforcement: {
      all_users: e.all_users ?? DEFAULTS.all_users,
      users: new Set(e.users ?? []),
      groups: new Set(e.groups ?? []),
      exclude_service_accounts: e.exclude_service_accounts ?? DEFAULTS.exclude_service_accounts,
      exclude_users: new Set(e.exclude_users ?? []),
      exclude_groups: new Set(e.exclude_groups ?? []),
      fail_mode: e.fail_mode ?? DEFAULTS.fail_mode,
      grace_period_s: seconds(e.grace_period, DEFAULTS.grace_period_s),
      remember_mfa_s: seconds(e.remember_mfa, DEFAULTS.remember_mfa_s),
      step_up_max_age_s: seconds(e.step_up_max_age, DEFAULTS.step_up_max_age_s),
      risk_based_prompting: prompting(e.risk_based_prompting ?? []),
    },
    overrides: overrides(doc),
    recovery: {
      backup_codes: doc.recovery?.backup_codes ?? DEFAULTS.backup_codes,
      admin_recovery: doc.recovery?.admin_recovery ?? DEFAULTS.admin_recovery,
      recovery_timeout_s: seconds(doc.recovery?.recovery_timeout, DEFAULTS.recovery_timeout_s),
    },
    sensitive_actions: (doc.sensitive_actions ?? DEFAULT_SENSITIVE_ACTIONS).map(compileActionPattern),
    networks: {
      trusted: compileNetworkList(doc.networks?.trusted ?? []),
      blocked: compileNetworkList(doc.networks?.blocked ?? []),
    },
    countries: {
      blocked: new Set(doc.countries?.blocked ?? []),
      allowed: doc.countries?.allowed ? new Set(doc.countries.allowed) : null,
    },
    location: {
      granularity: doc.location?.granularity ?? DEFAULTS.granularity,
      unknown_location: doc.location?.unknown_location ?? DEFAULTS.unknown_location,
    },
    impossible_travel: {
      max_speed_kmh: doc.impossible_travel?.max_speed_kmh ?? DEFAULTS.max_speed_kmh,
      min_distance_km: doc.impossible_travel?.min_distance_km ?? DEFAULTS.min_distance_km,
    },
    risk: { weights, thresholds },
    rules,
    time_zone: timeZone,
    factors: factors(doc),
    throttling: {
      backoff_after: doc.throttling?.backoff_after ?? DEFAULT_THROTTLING.backoff_after,
      backoff_base_s: seconds(doc.throttling?.backoff_base, DEFAULT_THROTTLING.backoff_base_s),
      backoff_max_s: seconds(doc.throttling?.backoff_max, DEFAULT_THROTTLING.backoff_max_s),
      lock_after: doc.throttling?.lock_after ?? DEFAULT_THROTTLING.lock_after,
      ip_backoff_after: doc.throttling?.ip_backoff_after ?? DEFAULT_THROTTLING.ip_backoff_after,
    },
    notifications: notifications(doc),
  };
}

export function policyVersion(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Parses, validates and compiles a policy; throws PolicyError with every problem found. */
export function parsePolicy(source: string | Buffer, file: string): CompiledPolicy {
  const bytes = typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
  const src: YamlSource = parseYamlWithSchema(bytes.toString('utf8'), file, policyValidate());
  if (src.syntaxErrors) throw new PolicyError(src.problems);
  const semantic = checkSemantics(src.value, src);
  const problems = sortProblems([...src.problems, ...semantic.problems]);
  if (problems.length > 0) throw new PolicyError(problems);
  const meta = { version: policyVersion(bytes), source: file };
  return build(src.value as PolicyDocument, meta, semantic.reads, semantic.timeZone ?? DEFAULTS.time_zone);
}
