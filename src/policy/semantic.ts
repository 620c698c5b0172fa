// The checks a JSON Schema cannot express: unique and unreserved rule ids, json-logic conditions, threshold
// order, the time zone. They run on the raw document beside the schema (guarding every type, since the
// schema may have failed elsewhere) so one load reports every problem.
import type { PolicyProblem } from '../errors.js';
import { ENGINE_REASON_NAMES, RESERVED_RULE_IDS } from './defaults.js';
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
  return out;
}
