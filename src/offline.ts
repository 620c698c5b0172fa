// Deciding without a store: the state is given inline (eval, policy tests, replay). Same code path as the
// engine's — signals, then the pure evaluator — minus identifiers and learning.
import { normalizeContext, stateFromInput, type ContextInput, type StateInput } from './context.js';
import { evaluate } from './policy/evaluate.js';
import type { CompiledPolicy } from './policy/types.js';
import { computeSignals } from './signals/index.js';
import { EMPTY_STATE, type Evaluation, type SignalFacts, type UserState } from './types.js';

export interface EvalContextInput extends ContextInput {
  time?: string;
  state?: StateInput;
}

export interface OfflineEvaluation extends Evaluation {
  /** What the signal stage derived (device key, location key, travel): handy when writing inline state. */
  facts: SignalFacts;
}

export function decideWithState(policy: CompiledPolicy, input: ContextInput, state: UserState, now: number): OfflineEvaluation {
  const context = normalizeContext(input);
  const { signals, facts } = computeSignals(policy, context, state, now);
  return { ...evaluate(policy, { context, state, signals, facts }, now), facts };
}

/** Evaluates an eval-context (schemas/eval-context.schema.json); `state` absent means a user never seen before. */
export function decideOffline(policy: CompiledPolicy, input: EvalContextInput, now: number): OfflineEvaluation {
  const { time: _time, state, ...context } = input;
  return decideWithState(policy, context, state ? stateFromInput(state) : EMPTY_STATE, now);
}
