// Replay: re-decide every logged decision under another policy, with the logged context, state and time,
// and report which decisions would change. Pure apart from the policy it is given: no store, no clock.
import { DECISION_LINE_TYPE, stateFromLogged, type DecisionLogLine } from './decision-log.js';
import { decideWithState } from './offline.js';
import type { CompiledPolicy } from './policy/types.js';
import { schemaProblems, validator } from './schemas.js';
import { DECISIONS, decisionRank, type DecisionKind, type Reason } from './types.js';

export const STORE_UNAVAILABLE = 'store was unavailable';

export interface ChangedDecision {
  /** 1-based line number in the log. */
  line: number;
  decision_id: string;
  user: string;
  /** When the decision was made (ISO), as logged. */
  time: string;
  from: DecisionKind;
  to: DecisionKind;
  /** The reasons under the new policy. */
  reasons: Reason[];
  /** The reasons logged with the original decision. */
  previous_reasons: Reason[];
}

export interface SkippedLine {
  line: number;
  reason: string;
}

export interface ReplayResult {
  /** Decision lines re-evaluated; the summary's counts add up to this. */
  total: number;
  /** Non-blank lines read: total + audit + ignored + skipped.length. */
  lines: number;
  /** Audit events (factor and recovery events share the log). */
  audit: number;
  /** Other JSON lines that are not decisions (e.g. service log lines in a shared file). */
  ignored: number;
  /** Changed decisions in log order, at most `limit` of them. */
  changed: ChangedDecision[];
  /** All changed decisions, listed or not. */
  changed_total: number;
  /** `from→to` (e.g. `allow→prompt_mfa`, unchanged ones too) to the number of decisions. */
  summary: Map<string, number>;
  /** Lines that could not be replayed: malformed, or decided while the store was down. */
  skipped: SkippedLine[];
}

export interface ReplayOptions {
  /** List at most this many changed decisions (the counts still cover all): bounds memory on a big log. */
  limit?: number;
}

export function summaryKey(from: DecisionKind, to: DecisionKind): string {
  return `${from}→${to}`;
}

/** The summary as rows, weakest original decision first, then weakest new one. */
export function summaryRows(summary: Map<string, number>): { from: DecisionKind; to: DecisionKind; count: number }[] {
  return [...summary]
    .map(([key, count]) => {
      const [from, to] = key.split('→') as [DecisionKind, DecisionKind];
      return { from, to, count };
    })
    .sort((a, b) => decisionRank(a.from) - decisionRank(b.from) || decisionRank(a.to) - decisionRank(b.to));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIsoTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/**
 * The context by type only. Not the context schema: its size limits bound what the HTTP API accepts, while the
 * log also holds contexts the gateway hook built from headers; replay re-decides what was decided, it does not
 * re-judge the input.
 */
function contextProblem(c: unknown): string | null {
  if (!isObject(c)) return 'context: missing or not an object';
  const u = c.user;
  if (!isObject(u) || typeof u.id !== 'string') return 'context.user.id: missing or not a string';
  if (u.type !== undefined && u.type !== 'human' && u.type !== 'service') return 'context.user.type: not human or service';
  if (u.groups !== undefined && !(Array.isArray(u.groups) && u.groups.every((g) => typeof g === 'string'))) {
    return 'context.user.groups: not an array of strings';
  }
  if (u.mfa_required_since !== undefined && !isIsoTime(u.mfa_required_since)) return 'context.user.mfa_required_since: not an ISO time';
  if (c.ip !== undefined && c.ip !== null && typeof c.ip !== 'string') return 'context.ip: not a string or null';
  for (const key of ['user_agent', 'device_id', 'action'] as const) {
    if (c[key] !== undefined && typeof c[key] !== 'string') return `context.${key}: not a string`;
  }
  if (c.sensitive !== undefined && typeof c.sensitive !== 'boolean') return 'context.sensitive: not a boolean';
  if (c.attributes !== undefined && !isObject(c.attributes)) return 'context.attributes: not an object';
  return null;
}

function stateProblem(s: unknown): string | null {
  if (!isObject(s)) return 'state: not an object or null';
  const { recovery_due_at, ...inline } = s;
  if (recovery_due_at !== undefined && recovery_due_at !== null && !isIsoTime(recovery_due_at)) {
    return 'state.recovery_due_at: not an ISO time';
  }
  const validate = validator('user-state');
  if (validate(inline)) return null;
  const p = schemaProblems(validate.errors)[0];
  return p ? `state${p.path === '/' ? '' : p.path}: ${p.message}` : 'state: invalid';
}

/** Why a decision line cannot be replayed, or null when it can. */
function lineProblem(line: Record<string, unknown>): string | null {
  if (typeof line.decision_id !== 'string' || line.decision_id === '') return 'decision_id: missing or not a string';
  if (!isIsoTime(line.decided_at)) return 'decided_at: missing or not an ISO time';
  if (!DECISIONS.includes(line.decision as DecisionKind)) return `decision: not one of ${DECISIONS.join(', ')}`;
  if (!Array.isArray(line.reasons)) return 'reasons: missing or not an array';
  const context = contextProblem(line.context);
  if (context) return context;
  if (!('state' in line)) return 'state: missing (null when the store was down)';
  return line.state === null ? null : stateProblem(line.state);
}

/** Accumulates a replay one line at a time, so a log can be streamed through it. */
export class Replayer {
  readonly #policy: CompiledPolicy;
  readonly #limit: number;
  readonly #result: ReplayResult = {
    total: 0,
    lines: 0,
    audit: 0,
    ignored: 0,
    changed: [],
    changed_total: 0,
    summary: new Map(),
    skipped: [],
  };

  constructor(policy: CompiledPolicy, { limit = Infinity }: ReplayOptions = {}) {
    if (!(limit >= 0)) throw new RangeError(`limit must be a non-negative number, got ${limit}`);
    this.#policy = policy;
    this.#limit = limit;
  }

  /** One log line (its text, or the object already parsed) and its 1-based line number. */
  add(item: string | object, lineNumber: number): void {
    const r = this.#result;
    let parsed: unknown = item;
    if (typeof item === 'string') {
      if (item.trim() === '') return;
      try {
        parsed = JSON.parse(item);
      } catch (err) {
        r.lines++;
        r.skipped.push({ line: lineNumber, reason: `not JSON (${(err as Error).message})` });
        return;
      }
    }
    r.lines++;
    if (!isObject(parsed)) {
      r.skipped.push({ line: lineNumber, reason: 'not a JSON object' });
      return;
    }
    if (parsed.type !== DECISION_LINE_TYPE) {
      if (parsed.audit === true) r.audit++;
      else r.ignored++;
      return;
    }
    const problem = lineProblem(parsed);
    if (problem) {
      r.skipped.push({ line: lineNumber, reason: problem });
      return;
    }
    const line = parsed as unknown as DecisionLogLine;
    if (line.state === null) {
      r.skipped.push({ line: lineNumber, reason: STORE_UNAVAILABLE });
      return;
    }
    let now;
    try {
      now = decideWithState(this.#policy, line.context, stateFromLogged(line.state), Date.parse(line.decided_at));
    } catch (err) {
      // Shapes were checked above; this is a safety net so one odd line cannot end a replay of millions.
      r.skipped.push({ line: lineNumber, reason: `re-evaluation failed (${(err as Error).message})` });
      return;
    }
    r.total++;
    const key = summaryKey(line.decision, now.decision);
    r.summary.set(key, (r.summary.get(key) ?? 0) + 1);
    if (now.decision === line.decision) return;
    r.changed_total++;
    if (r.changed.length < this.#limit) {
      r.changed.push({
        line: lineNumber,
        decision_id: line.decision_id,
        user: line.context.user.id,
        time: line.decided_at,
        from: line.decision,
        to: now.decision,
        reasons: now.reasons,
        previous_reasons: line.reasons,
      });
    }
  }

  result(): ReplayResult {
    return this.#result;
  }
}

/** Replays log lines (text or parsed objects, in log order; the first is line 1) under `policy`. */
export function replay(policy: CompiledPolicy, lines: Iterable<string | object>, options: ReplayOptions = {}): ReplayResult {
  const replayer = new Replayer(policy, options);
  let n = 0;
  for (const line of lines) replayer.add(line, ++n);
  return replayer.result();
}

/** As `replay`, for a log streamed line by line (readline). */
export async function replayAsync(
  policy: CompiledPolicy,
  lines: AsyncIterable<string | object> | Iterable<string | object>,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const replayer = new Replayer(policy, options);
  let n = 0;
  for await (const line of lines) replayer.add(line, ++n);
  return replayer.result();
}
