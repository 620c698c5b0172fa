// Prometheus metrics for `/metrics` (prom-client): decisions by outcome and rule, decision latency, factor
// verifications by factor and result, lockouts, factor audit events, policy reloads and the serving policy version,
// HTTP request latency by route pattern, and Node's default process metrics.
//
// Every label value is bounded: decisions, factors, results and audit event names come from fixed sets (anything
// else becomes `other`), HTTP methods from the standard set, and route patterns and rule names are capped in
// number. The observe functions run on every decision and request, so they only look label children up in small
// maps; the children are created once per label combination.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DECISIONS, type Decision } from '../types.js';

export const FACTORS = ['totp', 'backup_code'] as const;
export const VERIFICATION_RESULTS = ['ok', 'invalid', 'replay', 'throttled', 'locked'] as const;
export type VerificationResult = (typeof VERIFICATION_RESULTS)[number];

/** The audit event names the factor service emits (src/factors/service.ts); any other name is counted as `other`. */
export const AUDIT_EVENTS = [
  'totp.enrollment_started',
  'totp.enrolled',
  'totp.enrollment_refused',
  'totp.confirm_failed',
  'totp.failed',
  'totp.replay_rejected',
  'backup_code.failed',
  'backup_codes.regenerated',
  'factor.verified',
  'factor.locked',
  'factor.unlocked',
  'factors.removed',
  'recovery.opened',
  'recovery.cancelled',
  'recovery.applied',
  'enrollment.approved',
] as const;

/** Histogram buckets for one decision: sub-millisecond (memory store, cached geo) to tens of ms (a slow store). */
export const DECISION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
/** Histogram buckets for a whole HTTP request. */
export const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Label value for anything outside a bounded set (or past a cap). */
export const OTHER = 'other';
/** At most this many distinct route patterns / rule names get their own label value; later ones count as `other`. */
export const MAX_ROUTES = 200;
export const MAX_RULES = 500;

const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The audit event fields the metrics read (AuditEvent from the factor service fits). */
export interface AuditLike {
  event: string;
  factor?: unknown;
  [field: string]: unknown;
}

export interface MetricsOptions {
  /** Defaults to a new Registry, so building many apps in one process never clashes. */
  registry?: Registry;
  /** Prepended to every metric name, the default process metrics included. */
  prefix?: string;
  /** Also collect Node's default process metrics (CPU, memory, event loop lag, GC, ...) with the prefix. */
  collectDefault?: boolean;
  /**
   * What `/metrics` answers: default this registry's text. A `serve --workers` worker passes one that asks the
   * primary for every worker's metrics, merged (src/http/cluster-metrics.ts).
   */
  scrape?: (registry: Registry) => Promise<string>;
}

export interface Metrics {
  readonly registry: Registry;
  readonly prefix: string;
  /** The text `/metrics` answers (in the registry's content type). */
  scrape(): Promise<string>;
  /** One decision: its outcome, one count per reason, its latency. Also follows `decision.policy.version`. */
  observeDecision(decision: Pick<Decision, 'decision' | 'reasons' | 'policy'>, latencySeconds: number): void;
  /** One factor service audit event (pass it the same events the decision log receives). */
  observeAudit(event: AuditLike): void;
  /** A verification refused before any check (429: `throttled`, 423: `locked`); the service emits no audit event. */
  observeThrottled(factor: string, result?: 'throttled' | 'locked'): void;
  /** One policy reload attempt (PolicyHolder's onReload). A result carrying `version` also sets the version. */
  observeReload(result: { ok: boolean; version?: string }): void;
  /** `policy_info{version}` = 1 for this version only. */
  setPolicyVersion(version: string): void;
  /** One HTTP request. `route` must be the route PATTERN (`/v1/users/:id/mfa`), never the raw path. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
}

type CounterChild = { inc(value?: number): void };
type HistogramChild = { observe(value: number): void };
type ReasonSlots = { children: CounterChild[]; pending: number[] };
/** prom-client calls a metric's `collect` before every read of its values (scrape, get()). */
type CollectHooks = { collect?: (this: unknown) => unknown; reset: (this: unknown) => void };

export function createMetrics({
  registry = new Registry(),
  prefix = 'mfa_gate_',
  collectDefault = true,
  scrape = (r) => r.metrics(),
}: MetricsOptions = {}): Metrics {
  if (!(registry instanceof Registry)) throw new TypeError('registry must be a prom-client Registry');
  if (typeof prefix !== 'string' || (prefix !== '' && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))) {
    throw new TypeError(`prefix must be empty or a valid metric name prefix, got ${JSON.stringify(prefix)}`);
  }
  const reg = new Registrar(registry, prefix);

  const decisions = reg.counter('decisions_total', 'Decisions, by outcome.', ['decision']);
  const reasons = reg.counter(
    'decision_reasons_total',
    'Reasons given by decisions, by rule (signal name, custom rule id or engine reason), the decision it asked for and whether it was enforced.',
    ['rule', 'decision', 'enforced'],
  );
  const decisionDuration = reg.histogram('decision_duration_seconds', 'Time to evaluate one decision, in seconds.', [], DECISION_BUCKETS);
  const verifications = reg.counter('verifications_total', 'Factor verifications, by factor and result.', ['factor', 'result']);
  const lockouts = reg.counter('lockouts_total', 'Factors locked after too many consecutive failures, by factor.', ['factor']);
  const factorEvents = reg.counter('factor_events_total', 'Factor audit events, by event name.', ['event']);
  const reloads = reg.counter('policy_reloads_total', 'Policy reload attempts, by result (ok or failed).', ['result']);
  const policyInfo = reg.gauge('policy_info', 'The serving policy: 1, labelled with its version.', ['version']);
  const httpDuration = reg.histogram(
    'http_request_duration_seconds',
    'HTTP request duration in seconds, by method, route pattern and status.',
    ['method', 'route', 'status'],
    HTTP_BUCKETS,
  );

  // prom-client registers default metrics under fixed names: collect them once per registry and prefix.
  if (collectDefault && !registry.getSingleMetric(`${prefix}process_cpu_user_seconds_total`)) {
    collectDefaultMetrics({ register: registry, prefix });
  }

  // Children for the bounded label sets, created up front so every series exists (at 0) from the first scrape.
  // Decisions and their reasons are counted on every decision: in plain numbers there (prom-client's inc hashes
  // and validates its labels on each call), handed to the prom-client children whenever the metrics are read
  // (the counters' collect, which every scrape and get() runs first).
  const decisionKinds = [...DECISIONS, OTHER];
  const decisionChildren = decisionKinds.map((d) => zeroed(decisions.labels(d)));
  const decisionPending = decisionKinds.map(() => 0);
  const verificationChildren = new Map<string, Map<string, CounterChild>>();
  for (const f of [...FACTORS, OTHER]) {
    const byResult = new Map<string, CounterChild>();
    for (const r of VERIFICATION_RESULTS) byResult.set(r, zeroed(verifications.labels(f, r)));
    verificationChildren.set(f, byResult);
  }
  const lockoutChildren = new Map<string, CounterChild>();
  for (const f of [...FACTORS, OTHER]) lockoutChildren.set(f, zeroed(lockouts.labels(f)));
  const eventChildren = new Map<string, CounterChild>();
  for (const e of [...AUDIT_EVENTS, OTHER]) eventChildren.set(e, zeroed(factorEvents.labels(e)));
  const reloadOk = zeroed(reloads.labels('ok'));
  const reloadFailed = zeroed(reloads.labels('failed'));

  // rule -> [decision index * 2 + enforced] -> child and its pending count; grown lazily, capped at MAX_RULES rules.
  const reasonChildren = new Map<string, ReasonSlots>();
  const decisionIndex = new Map<string, number>(decisionKinds.map((d, i) => [d, i]));
  const countReason = (rule: string, decision: string, enforced: boolean): void => {
    let slots = reasonChildren.get(rule);
    if (!slots) {
      if (reasonChildren.size >= MAX_RULES && rule !== OTHER) return countReason(OTHER, decision, enforced);
      slots = { children: [], pending: [] };
      reasonChildren.set(rule, slots);
    }
    const di = decisionIndex.get(decision) ?? DECISIONS.length;
    const i = di * 2 + (enforced ? 1 : 0);
    if (slots.children[i] === undefined) {
      // Created (at 0) on first use, so the series exists from the next scrape on, as before.
      slots.children[i] = reasons.labels(rule, di < DECISIONS.length ? decision : OTHER, enforced ? 'true' : 'false');
      slots.pending[i] = 0;
    }
    slots.pending[i]! += 1;
  };
  const handOver = (): void => {
    for (let i = 0; i < decisionPending.length; i++) {
      const n = decisionPending[i]!;
      if (n === 0) continue;
      decisionPending[i] = 0;
      decisionChildren[i]!.inc(n);
    }
    for (const slots of reasonChildren.values()) {
      for (let i = 0; i < slots.children.length; i++) {
        const n = slots.pending[i];
        if (n === undefined || n === 0) continue;
        slots.pending[i] = 0;
        slots.children[i]!.inc(n);
      }
    }
  };
  // Chained, so a second createMetrics on the same registry (which reuses these counters) hands over its counts
  // too; a reset drops what is pending, as it drops what was counted.
  for (const counter of [decisions, reasons] as unknown as CollectHooks[]) {
    const collect = counter.collect;
    counter.collect = function (this: unknown) {
      handOver();
      return collect?.call(this);
    };
    const reset = counter.reset;
    counter.reset = function (this: unknown) {
      decisionPending.fill(0);
      for (const slots of reasonChildren.values()) slots.pending.fill(0);
      return reset.call(this);
    };
  }

  // route -> method -> status -> child; grown lazily, capped at MAX_ROUTES routes.
  const httpChildren = new Map<string, Map<string, Map<number, HistogramChild>>>();
  const httpSlot = (method: string, route: string, status: number): HistogramChild => {
    let byMethod = httpChildren.get(route);
    if (!byMethod) {
      if (httpChildren.size >= MAX_ROUTES && route !== OTHER) return httpSlot(method, OTHER, status);
      byMethod = new Map();
      httpChildren.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (!byStatus) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let child = byStatus.get(status);
    if (!child) {
      child = httpDuration.labels(method, route, String(status));
      byStatus.set(status, child);
    }
    return child;
  };

  const factorOf = (value: unknown, fallback: string): string =>
    typeof value === 'string' && verificationChildren.has(value) ? value : fallback;
  const verified = (factor: string, result: VerificationResult): void => {
    (verificationChildren.get(factor) ?? verificationChildren.get(OTHER)!).get(result)!.inc();
  };

  let currentVersion: string | null = null;
  const setPolicyVersion = (version: string): void => {
    if (typeof version !== 'string' || version === '') throw new TypeError('version must be a non-empty string');
    // reset() drops the old version's series, so exactly one version is ever exposed.
    policyInfo.reset();
    policyInfo.labels(version).set(1);
    currentVersion = version;
  };

  return {
    registry,
    prefix,
    scrape: () => scrape(registry),

    observeDecision(decision, latencySeconds) {
      decisionPending[decisionIndex.get(decision.decision) ?? DECISIONS.length]! += 1;
      const rs = decision.reasons;
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i]!;
        countReason(r.rule, r.decision, r.enforced === true);
      }
      if (Number.isFinite(latencySeconds) && latencySeconds >= 0) decisionDuration.observe(latencySeconds);
      const version = decision.policy?.version;
      if (typeof version === 'string' && version !== '' && version !== currentVersion) setPolicyVersion(version);
    },

    observeAudit(e) {
      const name = e.event;
      (eventChildren.get(name) ?? eventChildren.get(OTHER)!).inc();
      switch (name) {
        case 'factor.verified':
          verified(factorOf(e.factor, OTHER), 'ok');
          break;
        case 'totp.failed':
        case 'totp.confirm_failed':
          verified('totp', 'invalid');
          break;
        case 'totp.replay_rejected':
          verified('totp', 'replay');
          break;
        case 'backup_code.failed':
          verified('backup_code', 'invalid');
          break;
        case 'factor.locked':
          lockoutChildren.get(factorOf(e.factor, OTHER))!.inc();
          break;
      }
    },

    observeThrottled(factor, result = 'throttled') {
      verified(factorOf(factor, OTHER), result === 'locked' ? 'locked' : 'throttled');
    },

    observeReload(result) {
      (result.ok ? reloadOk : reloadFailed).inc();
      // A failed reload reports the version still serving, a successful one the new version: both are current.
      if (typeof result.version === 'string' && result.version !== '') setPolicyVersion(result.version);
    },

    setPolicyVersion,

    observeHttp(method, route, status, seconds) {
      const m = HTTP_METHODS.has(method) ? method : HTTP_METHODS.has(method.toUpperCase()) ? method.toUpperCase() : OTHER;
      const s = Number.isInteger(status) && status >= 100 && status <= 599 ? status : 0;
      if (!Number.isFinite(seconds) || seconds < 0) return;
      httpSlot(m, typeof route === 'string' && route !== '' ? route : OTHER, s).observe(seconds);
    },
  };
}

function zeroed(child: CounterChild): CounterChild {
  child.inc(0);
  return child;
}

/**
 * Creates metrics in a registry, or reuses the same metric when the registry already has it (createMetrics called
 * twice on one registry), so that a second call cannot fail with prom-client's duplicate-name error. A metric of
 * the same name but another type or label set is a real conflict and throws.
 */
class Registrar {
  constructor(
    readonly registry: Registry,
    readonly prefix: string,
  ) {}

  counter(name: string, help: string, labelNames: string[]): Counter<string> {
    return this.#existing(name, Counter, labelNames) ?? new Counter({ name: this.prefix + name, help, labelNames, registers: [this.registry] });
  }

  gauge(name: string, help: string, labelNames: string[]): Gauge<string> {
    return this.#existing(name, Gauge, labelNames) ?? new Gauge({ name: this.prefix + name, help, labelNames, registers: [this.registry] });
  }

  histogram(name: string, help: string, labelNames: string[], buckets: number[]): Histogram<string> {
    return (
      this.#existing(name, Histogram, labelNames) ??
      new Histogram({ name: this.prefix + name, help, labelNames, buckets, registers: [this.registry] })
    );
  }

  #existing<T extends object>(name: string, type: abstract new (...args: never[]) => T, labelNames: string[]): T | undefined {
    const full = this.prefix + name;
    const found: unknown = this.registry.getSingleMetric(full);
    if (found === undefined) return undefined;
    const labels = (found as { labelNames?: unknown }).labelNames;
    if (!(found instanceof type) || !Array.isArray(labels) || labels.join(',') !== labelNames.join(',')) {
      throw new Error(`metric ${full} is already registered with another type or label set`);
    }
    return found;
  }
}
