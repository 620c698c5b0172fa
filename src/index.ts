// The library API of mfa-gate.
export { loadPolicy, parsePolicy } from './policy/index.js';
export { evaluate, evaluateStoreUnavailable, riskScore } from './policy/evaluate.js';
export type { CompiledPolicy } from './policy/types.js';
export { computeSignals } from './signals/index.js';
export { DecisionEngine, type DecisionEngineOptions, type DecisionRecord } from './engine.js';
export { decideOffline, decideWithState, type EvalContextInput } from './offline.js';
export { normalizeContext, stateFromInput, type ContextInput, type StateInput } from './context.js';
export { openSqliteStore } from './store/index.js';
export type { Store, ChallengeRecord, LoginRecord } from './store/types.js';
export { MfaGateError, PolicyError, ErrorCode, type PolicyProblem } from './errors.js';
export * from './types.js';
