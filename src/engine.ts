// DecisionEngine: store -> state -> signals -> evaluate -> challenge / learning.
import { randomUUID } from 'node:crypto';
import { normalizeContext, type ContextInput } from './context.js';
import { evaluate, evaluateStoreUnavailable } from './policy/evaluate.js';
import type { CompiledPolicy } from './policy/types.js';
import { computeSignals, deviceKey, parseDevice } from './signals/index.js';
import type { ChallengeRecord, Store } from './store/types.js';
import {
  EMPTY_STATE,
  type Decision,
  type LoginContext,
  type SignalFacts,
  type Signals,
  type UserState,
} from './types.js';

// A gateway asks on every request. Re-recording the same known device, location and IP more often than this
// teaches nothing (impossible travel needs a location change, not a fresher timestamp), so those writes are skipped.
export const LOGIN_REFRESH_MS = 60 * 1000;

export interface DecisionEngineOptions {
  store: Store;
  /** The compiled policy, or a function returning the current one (hot reload swaps what it returns). */
  policy: CompiledPolicy | (() => CompiledPolicy);
  clock?: () => number;
  /** Overrides the policy's `factors.challenge_ttl` (default 10 minutes). */
  challengeTtlMs?: number;
  newId?: () => string;
  /** Called with errors that do not change the answer (a failed learning write). */
  onBackgroundError?: (err: unknown) => void;
  /** Audit events the engine causes (a recovery request taking effect). */
  audit?: (event: { event: string; user_id: string; [field: string]: unknown }) => void;
}

/** Everything about one decision, for the decision log and for replay. */
export interface DecisionRecord {
  decision: Decision;
  time: number;
  context: LoginContext;
  /** The state the decision was made on; null when the store was unreachable. */
  state: UserState | null;
  signals: Signals;
  facts: SignalFacts;
  latency_ms: number;
}

export class DecisionEngine {
  readonly #store: Store;
  readonly #policy: () => CompiledPolicy;
  readonly #clock: () => number;
  readonly #ttl: number | undefined;
  readonly #newId: () => string;
  readonly #onBackgroundError: (err: unknown) => void;
  readonly #audit: NonNullable<DecisionEngineOptions['audit']>;

  constructor({
    store,
    policy,
    clock = Date.now,
    challengeTtlMs,
    newId = randomUUID,
    onBackgroundError = () => {},
    audit = () => {},
  }: DecisionEngineOptions) {
    if (challengeTtlMs !== undefined && (!Number.isInteger(challengeTtlMs) || challengeTtlMs <= 0)) {
      throw new RangeError(`challengeTtlMs must be a positive integer, got ${challengeTtlMs}`);
    }
    this.#store = store;
    this.#policy = typeof policy === 'function' ? policy : () => policy;
    this.#clock = clock;
    this.#ttl = challengeTtlMs;
    this.#newId = newId;
    this.#onBackgroundError = onBackgroundError;
    this.#audit = audit;
  }

  get policy(): CompiledPolicy {
    return this.#policy();
  }

  async decide(input: ContextInput): Promise<Decision> {
    return (await this.decideDetailed(input)).decision;
  }

  async decideDetailed(input: ContextInput): Promise<DecisionRecord> {
    const started = performance.now();
    const policy = this.#policy();
    const now = this.#clock();
    const context = normalizeContext(input);
    const decision_id = this.#newId();

    let state: UserState;
    try {
      const key = deviceKey(context, parseDevice(context.user_agent));
      state = await this.#store.getUserState(context.user.id, key, now);
      if (state.recovery_due_at !== null && state.recovery_due_at <= now) {
        // A recovery request took effect: the factors go before this decision is made on them.
        for (const r of await this.#store.applyDueRecoveries(context.user.id, now)) {
          this.#audit({ event: 'recovery.applied', user_id: r.user_id, recovery_id: r.id, verified_by: r.verified_by });
        }
        state = await this.#store.getUserState(context.user.id, key, now);
      }
    } catch (err) {
      return this.#unavailable(policy, context, now, decision_id, started, err);
    }

    const { signals, facts } = computeSignals(policy, context, state, now);
    const evaluation = evaluate(policy, { context, state, signals, facts }, now);
    const decision: Decision = { ...evaluation, decision_id };

    if (evaluation.decision === 'allow') {
      if (this.#teachesSomething(state, signals, facts, context.ip, now)) {
        this.#store
          .recordLogin({
            user_id: context.user.id,
            device_key: facts.device_key,
            location_key: facts.location_key_full,
            ip: context.ip,
            time: now,
            mfa: false,
          })
          .catch(this.#onBackgroundError);
      }
    } else if (evaluation.decision !== 'deny') {
      const challenge_id = this.#newId();
      try {
        await this.#store.createChallenge({
          id: challenge_id,
          user_id: context.user.id,
          decision: evaluation.decision,
          device_key: facts.device_key,
          location_key: facts.location_key_full,
          ip: context.ip,
          enrollment_allowed: evaluation.enrollment.allowed_now,
          device_label: `${facts.device.browser} on ${facts.device.os}`,
          created_at: now,
          expires_at: now + (this.#ttl ?? policy.factors.challenge_ttl_s * 1000),
        });
      } catch (err) {
        return this.#unavailable(policy, context, now, decision_id, started, err);
      }
      decision.challenge_id = challenge_id;
    }
    return { decision, time: now, context, state, signals, facts, latency_ms: performance.now() - started };
  }

  /**
   * Completes a challenge after a verified factor: only now do the device and location become known and the
   * MFA time recorded. Returns the challenge, or null when it is unknown, expired or already completed.
   */
  async completeChallenge(challengeId: string): Promise<ChallengeRecord | null> {
    const now = this.#clock();
    const challenge = await this.#store.completeChallenge(challengeId, now);
    if (!challenge) return null;
    // Whether this login teaches a new device or location, read before it does: the audit event (and the
    // security notification derived from it, src/factors/notify.ts) says so.
    const before = await this.#store.getUserState(challenge.user_id, challenge.device_key, now);
    this.#audit({
      event: 'login.completed',
      user_id: challenge.user_id,
      challenge_id: challenge.id,
      decision: challenge.decision,
      device: challenge.device_key,
      browser: challenge.device_label ?? null,
      location: challenge.location_key,
      ip: challenge.ip,
      new_device: !before.known_devices.includes(challenge.device_key),
      new_location: challenge.location_key !== null && !before.known_locations.includes(challenge.location_key),
    });
    await this.#store.recordLogin({
      user_id: challenge.user_id,
      device_key: challenge.device_key,
      location_key: challenge.location_key,
      ip: challenge.ip,
      time: now,
      mfa: true,
    });
    return challenge;
  }

  /**
   * Records an MFA completed outside a decision's challenge (the MFA page after a verified code): the device
   * and the location of `ip` become known and the device's MFA time is now.
   */
  async recordMfa({ user_id, device_key, ip }: { user_id: string; device_key: string; ip: string | null }): Promise<void> {
    const policy = this.#policy();
    const now = this.#clock();
    const { facts } = computeSignals(policy, normalizeContext({ user: { id: user_id }, ip, device_id: device_key }), EMPTY_STATE, now);
    await this.#store.recordLogin({ user_id, device_key, location_key: facts.location_key_full, ip, time: now, mfa: true });
  }

  #teachesSomething(state: UserState, signals: Signals, facts: SignalFacts, ip: string | null, now: number): boolean {
    if (signals.new_device || !state.last_login) return true;
    if (facts.location_key_full !== null && !state.known_locations.includes(facts.location_key_full)) return true;
    return state.last_login.ip !== ip || now - state.last_login.time >= LOGIN_REFRESH_MS;
  }

  #unavailable(
    policy: CompiledPolicy,
    context: LoginContext,
    now: number,
    decision_id: string,
    started: number,
    err: unknown,
  ): DecisionRecord {
    this.#onBackgroundError(err);
    const { signals, facts } = computeSignals(policy, context, EMPTY_STATE, now);
    const evaluation = evaluateStoreUnavailable(policy, signals, 'the store could not be read');
    return {
      decision: { ...evaluation, decision_id },
      time: now,
      context,
      state: null,
      signals,
      facts,
      latency_ms: performance.now() - started,
    };
  }
}
