// Load-time checks of a rule's json-logic `when`: only json-logic-js's built-in operators (minus `method`,
// which calls any method of any value), and only variables the evaluator provides. Nothing is evaluated.
import type { Signals } from '../types.js';
import { BOOLEAN_SIGNALS } from '../types.js';
import { closest } from './suggest.js';

/** json-logic-js 2.0.5's operators (logic.js `operations` plus the lazily applied ones), without `method`. */
export const JSONLOGIC_OPERATORS = [
  '==', '===', '!=', '!==', '>', '>=', '<', '<=', '!!', '!', '%', 'log', 'in', 'cat', 'substr',
  '+', '*', '-', '/', 'min', 'max', 'merge', 'var', 'missing', 'missing_some',
  'if', '?:', 'and', 'or', 'map', 'reduce', 'filter', 'all', 'none', 'some',
] as const;
const OPERATORS: ReadonlySet<string> = new Set(JSONLOGIC_OPERATORS);

/** Operators whose second argument runs once per element with the element as its data. */
const CALLBACK_OPERATORS: ReadonlySet<string> = new Set(['map', 'reduce', 'filter', 'all', 'none', 'some']);

export const SIGNAL_KEYS = [...BOOLEAN_SIGNALS, 'failed_attempts', 'mfa_age_seconds'] as const satisfies readonly (keyof Signals)[];
// Fails to compile when Signals gains a key SIGNAL_KEYS lacks, so rules can always read every signal.
const everySignal: Exclude<keyof Signals, (typeof SIGNAL_KEYS)[number]> extends never ? true : never = true;
void everySignal;

/** The variables a rule may read (DESIGN.md "Signals": what json-logic conditions see). */
export const CONTEXT_VARIABLES: readonly string[] = [
  'user', 'user.id', 'user.type', 'user.groups',
  'geo', 'geo.country', 'geo.region', 'geo.city', 'geo.lat', 'geo.lon',
  'device', 'device.browser', 'device.os', 'device.type',
  'action', 'ip',
  'time', 'time.hour', 'time.weekday',
  'attributes',
  'risk', 'risk.score',
  'signals', ...SIGNAL_KEYS.map((k) => `signals.${k}`),
];
const VARIABLES: ReadonlySet<string> = new Set(CONTEXT_VARIABLES);

// Free-form caller attributes are read by path; these names would walk into Object.prototype instead.
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'prototype', 'constructor']);

export type LogicPath = (string | number)[];

export interface LogicProblem {
  /** Relative to the `when` value: what the message names. */
  path: LogicPath;
  /** Where to point, relative to `when`; with `atKey` at that key rather than at its value. */
  at: LogicPath;
  atKey: boolean;
  message: string;
}

export interface LogicCheck {
  problems: LogicProblem[];
  /** The roots of the context variables read (`user`, `geo`, `signals`, ...). */
  reads: Set<string>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function variableProblem(name: string): string | null {
  if (VARIABLES.has(name)) return null;
  if (name.startsWith('attributes.')) {
    const segments = name.slice('attributes.'.length).split('.');
    if (segments.some((s) => s === '')) return `variable "${name}" has an empty path segment`;
    const bad = segments.find((s) => FORBIDDEN_SEGMENTS.has(s));
    return bad === undefined ? null : `variable "${name}" may not use "${bad}"`;
  }
  const guess = closest(name, CONTEXT_VARIABLES);
  if (guess !== undefined) return `unknown variable "${name}" (did you mean ${guess}?)`;
  const root = name.split('.')[0] ?? '';
  const near = CONTEXT_VARIABLES.filter((v) => v.startsWith(`${root}.`));
  const hint = near.length ? near.join(', ') : 'user.*, geo.*, device.*, action, ip, time.*, attributes.*, risk.score, signals.*';
  return `unknown variable "${name}" (${near.length ? `${root} has` : 'rules can read'}: ${hint})`;
}

class Checker {
  readonly problems: LogicProblem[] = [];
  readonly reads = new Set<string>();

  private add(path: LogicPath, message: string, at: LogicPath = path, atKey = false): void {
    this.problems.push({ path, at, atKey, message });
  }

  private readVariable(name: string, path: LogicPath): void {
    const problem = variableProblem(name);
    if (problem) this.add(path, problem);
    else this.reads.add(name.split('.')[0] as string);
  }

  /** `scoped`: inside a callback, where variables name the current element, not the context. */
  walk(node: unknown, path: LogicPath, scoped: boolean): void {
    if (Array.isArray(node)) {
      node.forEach((item, i) => this.walk(item, [...path, i], scoped));
      return;
    }
    if (!isPlainObject(node)) return;
    const keys = Object.keys(node);
    if (keys.length !== 1) {
      const what = keys.length === 0 ? 'an empty object' : `an object with ${keys.length} keys (${keys.join(', ')})`;
      this.add(path, `${what} is not a json-logic operation; write one operator per object, e.g. {"and": [...]}`);
      return;
    }
    const op = keys[0] as string;
    const arg = node[op];
    const opPath = [...path, op];
    if (!OPERATORS.has(op)) {
      const guess = closest(op, JSONLOGIC_OPERATORS);
      const extra =
        op === 'method' ? ' ("method" is disabled: it would call arbitrary methods)' : guess ? ` (did you mean ${guess}?)` : '';
      this.add(path, `unknown operator "${op}"${extra} (allowed: ${JSONLOGIC_OPERATORS.join(' ')})`, opPath, true);
      return;
    }
    const args = Array.isArray(arg) ? arg : [arg];
    const argPath = (i: number): LogicPath => (Array.isArray(arg) ? [...opPath, i] : opPath);
    switch (op) {
      case 'var':
        return this.checkVar(arg, args, argPath, opPath, scoped);
      case 'missing':
        return this.checkMissing(args, argPath, scoped);
      case 'missing_some': {
        this.walk(args[0], argPath(0), scoped);
        const names = args[1];
        if (!Array.isArray(names)) {
          this.add(argPath(1), 'missing_some takes [count, [names...]]');
          return;
        }
        return this.checkMissing(names, (i) => [...argPath(1), i], scoped);
      }
      default:
        if (CALLBACK_OPERATORS.has(op)) {
          args.forEach((a, i) => this.walk(a, argPath(i), scoped || i === 1));
        } else {
          args.forEach((a, i) => this.walk(a, argPath(i), scoped));
        }
    }
  }

  private checkVar(arg: unknown, args: unknown[], argPath: (i: number) => LogicPath, opPath: LogicPath, scoped: boolean): void {
    if (args.length > 2) this.add(opPath, 'var takes a name and an optional default');
    const name = args[0];
    if (args.length > 1) this.walk(args[1], argPath(1), scoped);
    if (isPlainObject(name) || Array.isArray(name)) {
      if (!scoped) this.add(argPath(0), 'a variable name must be a literal string, not computed by logic');
      this.walk(name, argPath(0), scoped);
      return;
    }
    if (scoped) return;
    if (typeof name !== 'string' || name === '') {
      const what = name === undefined || name === null || name === '' ? 'the whole context' : `${JSON.stringify(name)}`;
      this.add(Array.isArray(arg) ? argPath(0) : opPath, `var must name a context variable such as "user.id" (got ${what})`);
      return;
    }
    this.readVariable(name, Array.isArray(arg) ? argPath(0) : opPath);
  }

  private checkMissing(names: unknown[], namePath: (i: number) => LogicPath, scoped: boolean): void {
    // json-logic-js takes the names as arguments or, when the first one is an array, from that array.
    const list = names.length > 0 && Array.isArray(names[0]) ? (names[0] as unknown[]) : names;
    const at = names.length > 0 && Array.isArray(names[0]) ? (i: number): LogicPath => [...namePath(0), i] : namePath;
    list.forEach((name, i) => {
      if (typeof name === 'string') {
        if (!scoped) this.readVariable(name, at(i));
      } else if (isPlainObject(name) || Array.isArray(name)) {
        if (!scoped) this.add(at(i), 'a variable name must be a literal string, not computed by logic');
        this.walk(name, at(i), scoped);
      } else if (!scoped) {
        this.add(at(i), `a variable name must be a string (got ${JSON.stringify(name)})`);
      }
    });
  }
}

/** Checks a rule's `when` (already known to be an object) and returns the variable roots it reads. */
export function checkJsonLogic(when: unknown): LogicCheck {
  const checker = new Checker();
  checker.walk(when, [], false);
  return { problems: checker.problems, reads: checker.reads };
}
