// The policy stage's public surface.
export { loadPolicy, parsePolicy } from './load.js';
export { parseYamlWithSchema, formatPath, sortProblems, createAjv, type YamlSource, type Position, type Path, type FormatSpec } from './yaml-source.js';
export { parseDuration, tryParseDuration, formatDuration } from './duration.js';
export { compileActionPattern, isValidActionPattern, explainActionPattern, HTTP_METHODS } from './glob.js';
export { compileNetworkList, parseCidr, explainCidr } from './network.js';
export { checkJsonLogic, CONTEXT_VARIABLES, JSONLOGIC_OPERATORS, SIGNAL_KEYS } from './jsonlogic.js';
export {
  DEFAULT_SENSITIVE_ACTIONS,
  DEFAULT_RISK_WEIGHTS,
  DEFAULTS,
  DEFAULT_FACTORS,
  DEFAULT_MESSAGE_FACTOR,
  DEFAULT_PUSH_FACTOR,
  DEFAULT_NOTIFICATIONS,
  DEFAULT_THROTTLING,
  LIMITS,
  RESERVED_RULE_IDS,
  factorsByDecision,
} from './defaults.js';
export { sharedAjv, policyValidate, POLICY_FORMATS, POLICY_SCHEMA_ID, POLICY_SCHEMA_URL } from './schema.js';
export * from './types.js';
