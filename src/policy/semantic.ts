// The checks a JSON Schema cannot express: unique and unreserved rule ids, json-logic conditions, threshold
// order, the time zone, duration ranges, the order of the throttling settings and what a message code
// satisfies. They run on the raw document beside the schema (guarding every type, since the schema may have
// failed elsewhere) so one load reports every problem.
import type { PolicyProblem } from '../errors.js';
import { DEFAULT_THROTTLING, ENGINE_REASON_NAMES, LIMITS, RESERVED_RULE_IDS } from './defaults.js';
import { formatDuration, tryParseDuration } from './duration.js';
import { checkJsonLogic } from './jsonlogic.js';
import { closest } from './suggest.js';
import type { YamlSource } from './yaml-source.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface SemanticResult {
  problems: PolicyProblem[];
  /** Per rule index: the variable roots its condition reads. */
  reads: Map<number, Set<string>>;
  /** The canonical time zone name, when valid. */
  timeZone: string | undefined;
}

function checkRules(doc: Obj, src: YamlSource, out: SemanticResult): void {
  const rules = doc.rules;
  if (!Array.isArray(rules)) return;
  const firstUse = new Map<string, number>();
  rules.forEach((rule: unknown, i) => {
    if (!isObj(rule)) return;
    const id = rule.id;
    if (typeof id === 'string') {
      const first = firstUse.get(id);
      if (first !== undefined) {
        const line = src.locate(['rules', first, 'id']).line;
        out.problems.push(src.problem(['rules', i, 'id'], `duplicate rule id "${id}" (first used by rules[${first}] on line ${line})`));
      } else {
        firstUse.set(id, i);
      }
      if (RESERVED_RULE_IDS.has(id)) {
        const what = ENGINE_REASON_NAMES.includes(id) ? 'an engine reason' : 'a signal';
        out.problems.push(src.problem(['rules', i, 'id'], `rule id "${id}" is reserved (it names ${what}; reasons would be ambiguous)`));
      }
    }
    if (isObj(rule.when)) {
      const check = checkJsonLogic(rule.when);
      out.reads.set(i, check.reads);
      for (const p of check.problems) {
        const base = ['rules', i, 'when'];
        const at = p.atKey ? src.locateKey([...base, ...p.at]) : src.locate([...base, ...p.at]);
        const located = src.problem([...base, ...p.path], p.message);
        out.problems.push({ ...located, line: at.line, col: at.col });
      }
    }
  });
}

function checkThresholds(doc: Obj, src: YamlSource, out: SemanticResult): void {
  const risk = doc.risk;
  const t = isObj(risk) ? risk.thresholds : undefined;
  if (!isObj(t)) return;
  const { prompt_mfa: prompt, require_mfa: require } = t;
  if (typeof prompt === 'number' && typeof require === 'number' && prompt >= require) {
    out.problems.push(
      src.problem(['risk', 'thresholds', 'prompt_mfa'], `prompt_mfa (${prompt}) must be below require_mfa (${require})`),
    );
  }
}

interface Range {
  min: number;
  max: number;
}

/** Durations with bounds (`x-duration-range` in the schema): [path, bounds in seconds]. */
export const BOUNDED_DURATIONS: ReadonlyArray<readonly [readonly string[], Range]> = [
  [['factors', 'challenge_ttl'], LIMITS.challenge_ttl_s],
  [['factors', 'enrollment_approval_ttl'], LIMITS.enrollment_approval_ttl_s],
  [['factors', 'message', 'code_ttl'], LIMITS.message_code_ttl_s],
  [['factors', 'message', 'send_window'], LIMITS.message_send_window_s],
  [['factors', 'push', 'ttl'], LIMITS.push_ttl_s],
  [['factors', 'push', 'unanswered_window'], LIMITS.push_unanswered_window_s],
  [['throttling', 'backoff_base'], LIMITS.backoff_base_s],
  [['throttling', 'backoff_max'], LIMITS.backoff_max_s],
];

function checkDurationRanges(doc: Obj, src: YamlSource, out: SemanticResult): void {
  for (const [path, range] of BOUNDED_DURATIONS) {
    let text: unknown = doc;
    for (const key of path) text = isObj(text) ? text[key] : undefined;
    const s = typeof text === 'string' ? tryParseDuration(text) : null;
    if (s === null || (s >= range.min && s <= range.max)) continue; // an invalid duration is the schema's to report
    const bounds = `between ${formatDuration(range.min)} and ${formatDuration(range.max)}`;
    out.problems.push(src.problem([...path], `must be ${bounds} (got ${JSON.stringify(text)})`));
  }
}

/** A message code that may satisfy require_mfa but not the weaker prompt_mfa is a slip: the schema has checked
 * the list's items, emptiness and duplicates. */
function checkMessageSatisfies(doc: Obj, src: YamlSource, out: SemanticResult): void {
  const factors = doc.factors;
  const message = isObj(factors) ? factors.message : undefined;
  const satisfies = isObj(message) ? message.satisfies : undefined;
  if (!Array.isArray(satisfies) || !satisfies.includes('require_mfa') || satisfies.includes('prompt_mfa')) return;
  out.problems.push(
    src.problem(
      ['factors', 'message', 'satisfies'],
      'a factor that satisfies require_mfa also satisfies the weaker prompt_mfa: write [prompt_mfa, require_mfa]',
    ),
  );
}

/** One throttling setting as it takes effect: written (and valid, else null: the schema reports it) or the default. */
interface Setting {
  value: number;
  /** How a message names it: as written, or the default with `, the default`. */
  shown: string;
  written: boolean;
}

function setting(t: Obj, key: string, fallback: number, range: Range, duration: boolean): Setting | null {
  const raw = t[key];
  if (raw === undefined) return { value: fallback, shown: `${duration ? formatDuration(fallback) : fallback}, the default`, written: false };
  const value = duration ? (typeof raw === 'string' ? tryParseDuration(raw) : null) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) return null;
  return { value, shown: String(raw), written: true };
}

function checkThrottling(doc: Obj, src: YamlSource, out: SemanticResult): void {
  const t = doc.throttling;
  if (!isObj(t)) return;
  const d = DEFAULT_THROTTLING;
  const after = setting(t, 'backoff_after', d.backoff_after, LIMITS.backoff_after, false);
  const lock = setting(t, 'lock_after', d.lock_after, LIMITS.lock_after, false);
  // Point at the key the policy wrote: a default cannot be edited where it is not.
  if (after && lock && after.value >= lock.value) {
    const at = after.written ? 'backoff_after' : 'lock_after';
    out.problems.push(src.problem(['throttling', at], `backoff_after (${after.shown}) must be below lock_after (${lock.shown})`));
  }
  const base = setting(t, 'backoff_base', d.backoff_base_s, LIMITS.backoff_base_s, true);
  const max = setting(t, 'backoff_max', d.backoff_max_s, LIMITS.backoff_max_s, true);
  if (base && max && base.value > max.value) {
    const at = base.written ? 'backoff_base' : 'backoff_max';
    out.problems.push(src.problem(['throttling', at], `backoff_base (${base.shown}) must not exceed backoff_max (${max.shown})`));
  }
}

let zones: readonly string[] | undefined;

/** The canonical IANA name of a time zone Intl knows, or undefined. */
export function canonicalTimeZone(name: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined; // RangeError: unknown zone
  }
}

function checkTimeZone(doc: Obj, src: YamlSource, out: SemanticResult): void {
  const tz = doc.time_zone;
  if (typeof tz !== 'string' || tz === '') return;
  out.timeZone = canonicalTimeZone(tz);
  if (out.timeZone !== undefined) return;
  zones ??= Intl.supportedValuesOf('timeZone');
  const guess = closest(tz, zones, 3);
  const hint = guess ? `did you mean ${guess}?` : 'use an IANA name such as UTC, Europe/Berlin or America/New_York';
  out.problems.push(src.problem(['time_zone'], `unknown time zone "${tz}" (${hint})`));
}

export function checkSemantics(value: unknown, src: YamlSource): SemanticResult {
  const out: SemanticResult = { problems: [], reads: new Map(), timeZone: undefined };
  if (!isObj(value)) return out;
  checkRules(value, src, out);
  checkThresholds(value, src, out);
  checkTimeZone(value, src, out);
  checkDurationRanges(value, src, out);
  checkMessageSatisfies(value, src, out);
  checkThrottling(value, src, out);
  return out;
}
