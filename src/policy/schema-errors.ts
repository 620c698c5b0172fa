// ajv errors -> one readable line per mistake. ajv (allErrors, verbose) reports every failed keyword,
// including the branches of anyOf/oneOf and the `if` of if/then; people want the one thing to fix.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { closest } from './suggest.js';

export type Path = (string | number)[];

export interface SchemaProblem {
  path: Path;
  /** Point at the key (unknown keys) rather than at the value. */
  atKey: boolean;
  message: string;
}

/** A string format with an explanation for its failures (`invalid CIDR "x" (the prefix length must be ...)`). */
export interface FormatSpec {
  name: string;
  /** Why the value is invalid, or null when it is valid. */
  explain(value: string): string | null;
}

/** Annotation on a schema node (`$defs/duration`...): how to name an invalid value and what to suggest. */
interface ErrorAnnotation {
  label: string;
  hint: string;
}
export const ERROR_KEYWORD = 'x-error';
/** Annotation on a duration (`{ minimum: "30_seconds", maximum: "24_hours" }`); semantic.ts enforces it, since a
 * pattern cannot compare numbers, and schema.test.ts ties it to the code's limits. */
export const DURATION_RANGE_KEYWORD = 'x-duration-range';

const explainers = new Map<string, (value: string) => string | null>();

/** An ajv for YAML files: draft 2020-12, every error, with data and schema in errors for the messages. */
export function createAjv(formats: readonly FormatSpec[] = []): Ajv2020 {
  // strictRequired off: `anyOf: [{required: [a]}, {required: [b]}]` names properties defined beside it.
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false });
  // ajv-formats is CommonJS; under NodeNext its plugin function sits on `.default`.
  addFormatsModule.default(ajv);
  ajv.addKeyword({ keyword: ERROR_KEYWORD, schemaType: 'object' });
  ajv.addKeyword({ keyword: DURATION_RANGE_KEYWORD, schemaType: 'object' });
  for (const f of formats) {
    explainers.set(f.name, f.explain);
    ajv.addFormat(f.name, { type: 'string', validate: (v: string) => f.explain(v) === null });
  }
  return ajv;
}

function segmentsOf(pointer: string, data: unknown): Path {
  if (pointer === '') return [];
  const out: Path = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur = data;
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return '(empty)';
  if (typeof v === 'object') return Array.isArray(v) ? '(a list)' : '(a mapping)';
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'nothing',
};

function annotation(e: ErrorObject): ErrorAnnotation | undefined {
  const parent = e.parentSchema as Record<string, unknown> | undefined;
  const a = parent?.[ERROR_KEYWORD] as ErrorAnnotation | undefined;
  return a && typeof a.label === 'string' ? a : undefined;
}

function typeMessage(e: ErrorObject): string {
  const expected = String((e.params as { type: string | string[] }).type)
    .split(',')
    .map((t) => TYPE_NAMES[t] ?? t);
  let msg = `expected ${expected.join(' or ')}, got ${describe(e.data)}`;
  if (e.instancePath === '' && (e.data === null || e.data === undefined)) return 'the document is empty (expected a mapping)';
  if (expected.length === 1 && expected[0] === 'a string' && (typeof e.data === 'number' || typeof e.data === 'boolean')) {
    msg += ` (quote it if you mean the text: "${String(e.data)}")`;
  }
  return msg;
}

function enumMessage(allowed: unknown[], data: unknown): string {
  const names = allowed.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)));
  const list = names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', ');
  const guess = typeof data === 'string' ? closest(data, names) : undefined;
  return `must be one of ${list} (got ${shown(data)}${guess ? `; did you mean ${guess}?` : ''})`;
}

function message(e: ErrorObject): SchemaProblem | null {
  const params = e.params as Record<string, unknown>;
  const label = annotation(e);
  const labelled = (detail?: string | null): string => {
    const a = label as ErrorAnnotation;
    const value = typeof e.data === 'object' && e.data !== null ? '' : ` ${shown(e.data)}`;
    if (detail) return `invalid ${a.label}${value}: ${detail}`;
    // Only a case slip earns a suggestion here: `us` is US, but `UK` is one edit from UA and UG too.
    const names = ((e.parentSchema as { enum?: unknown[] } | undefined)?.enum ?? []).map(String);
    const fix = typeof e.data === 'string' ? names.find((n) => n.toLowerCase() === (e.data as string).toLowerCase()) : undefined;
    return `invalid ${a.label}${value} (${fix ? `did you mean ${fix}?` : a.hint})`;
  };
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      // Without ajv's `verbose` there is no parentSchema, hence no suggestion.
      const props = Object.keys(((e.parentSchema as Record<string, unknown> | undefined)?.properties as object | undefined) ?? {});
      const guess = closest(key, props);
      const tail = guess ? ` (did you mean ${guess}?)` : props.length ? ` (allowed: ${props.join(', ')})` : '';
      return { path: [key], atKey: true, message: `unknown key${tail}` };
    }
    case 'required':
      return { path: [], atKey: false, message: `missing required key "${String(params.missingProperty)}"` };
    case 'type':
      return { path: [], atKey: false, message: label ? labelled() : typeMessage(e) };
    case 'enum':
      return { path: [], atKey: false, message: label ? labelled() : enumMessage(params.allowedValues as unknown[], e.data) };
    case 'const':
      return { path: [], atKey: false, message: `must be ${JSON.stringify(params.allowedValue)} (got ${shown(e.data)})` };
    case 'format': {
      const explain = explainers.get(String(params.format));
      const detail = explain && typeof e.data === 'string' ? explain(e.data) : null;
      if (label) return { path: [], atKey: false, message: labelled(detail) };
      return { path: [], atKey: false, message: `must be a valid ${String(params.format)} (got ${shown(e.data)}${detail ? `: ${detail}` : ''})` };
    }
    case 'pattern':
      return { path: [], atKey: false, message: label ? labelled() : `must match ${String(params.pattern)} (got ${shown(e.data)})` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: [], atKey: false, message: `must be ${String(params.comparison)} ${String(params.limit)} (got ${shown(e.data)})` };
    case 'minItems':
    case 'maxItems': {
      const n = Number(params.limit);
      const word = e.keyword === 'minItems' ? 'at least' : 'at most';
      return { path: [], atKey: false, message: `must have ${word} ${n} item${n === 1 ? '' : 's'}` };
    }
    case 'minLength':
      return { path: [], atKey: false, message: Number(params.limit) === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters` };
    case 'maxLength':
      return { path: [], atKey: false, message: `must be at most ${String(params.limit)} characters` };
    case 'minProperties':
    case 'maxProperties': {
      if (label) return { path: [], atKey: false, message: labelled() };
      const word = e.keyword === 'minProperties' ? 'at least' : 'at most';
      return { path: [], atKey: false, message: `must have ${word} ${String(params.limit)} keys` };
    }
    case 'uniqueItems': {
      const [first, again] = [Number(params.i), Number(params.j)].sort((a, b) => a - b);
      return { path: [again as number], atKey: false, message: `duplicate of item ${String(first)}` };
    }
    case 'propertyNames':
      return { path: [String(params.propertyName)], atKey: true, message: 'invalid key' };
    case 'dependentRequired':
      return { path: [], atKey: false, message: `"${String(params.property)}" also needs "${String(params.missingProperty)}"` };
    case 'if':
      return null;
    default:
      return { path: [], atKey: false, message: e.message ?? `fails ${e.keyword}` };
  }
}

const isUnder = (e: ErrorObject, prefix: string): boolean => e.schemaPath.startsWith(`${prefix}/`);

/** Replaces each anyOf/oneOf (outermost first) by the errors of the branch that was meant, or one summary. */
function collapseAlternatives(errors: ErrorObject[]): ErrorObject[] {
  // A bad key name is reported once, as the key; what its name failed inside propertyNames is noise.
  const names = errors.filter((e) => e.keyword === 'propertyNames');
  let list = errors.filter((e) => e.keyword !== 'if' && !names.some((n) => isUnder(e, n.schemaPath)));
  for (;;) {
    const alt = list
      .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
      .sort((a, b) => a.schemaPath.length - b.schemaPath.length)[0];
    if (!alt) return list;
    const subs = list.filter((e) => isUnder(e, alt.schemaPath));
    const rest = list.filter((e) => e !== alt && !isUnder(e, alt.schemaPath));
    const branches = new Map<string, ErrorObject[]>();
    for (const s of subs) {
      const branch = s.schemaPath.slice(alt.schemaPath.length + 1).split('/')[0] ?? '';
      branches.set(branch, [...(branches.get(branch) ?? []), s]);
    }
    const all = [...branches.values()];
    const summary = (msg: string): ErrorObject => ({ ...alt, keyword: 'summary', message: msg });
    if (subs.length > 0 && subs.every((s) => s.keyword === 'required' && s.instancePath === alt.instancePath)) {
      const keys = subs.map((s) => `"${String((s.params as { missingProperty: string }).missingProperty)}"`);
      list = [...rest, summary(`needs ${alt.keyword === 'anyOf' ? 'at least' : 'exactly'} one of the keys ${keys.join(', ')}`)];
      continue;
    }
    const typeFits = all.filter((b) => !b.some((s) => s.keyword === 'type' && s.instancePath === alt.instancePath));
    if (all.length > 0 && typeFits.length === 0) {
      const types = all.flatMap((b) => b.filter((s) => s.keyword === 'type').map((s) => String((s.params as { type: string }).type)));
      list = [...rest, { ...alt, keyword: 'type', params: { type: [...new Set(types)].join(',') } }];
      continue;
    }
    const best = (typeFits.length ? typeFits : all).reduce<ErrorObject[] | undefined>(
      (acc, b) => (acc === undefined || b.length < acc.length ? b : acc),
      undefined,
    );
    list = best ? [...rest, ...best] : [...rest, summary(alt.keyword === 'oneOf' ? 'matches more than one of the allowed forms' : (alt.message ?? 'is invalid'))];
  }
}

/** One problem per mistake, with the path of the offending node (relative to the document root). */
export function schemaProblems(errors: readonly ErrorObject[], data: unknown): SchemaProblem[] {
  // ajv puts the value in errors only with `verbose`; the messages need it either way.
  const withData = errors.map((e) => ('data' in e ? e : { ...e, data: valueAt(data, e.instancePath) }));
  const list = collapseAlternatives(withData);
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of list) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const out: SchemaProblem[] = [];
  for (const [pointer, group] of byPath) {
    let kept = group;
    // A value of the wrong type fails its enum too; the list of allowed values says more.
    if (kept.some((e) => e.keyword === 'enum' || e.keyword === 'const')) kept = kept.filter((e) => e.keyword !== 'type');
    // One annotated value ($defs with x-error) fails several keywords (type, pattern, format): say it once,
    // preferring the format, whose explanation is the most precise.
    const annotated = kept.filter((e) => annotation(e));
    if (annotated.length > 1) {
      const keep = annotated.find((e) => e.keyword === 'format') ?? annotated[0];
      kept = kept.filter((e) => !annotation(e) || e === keep);
    }
    // A misspelt required key is one mistake: the unknown key says it, with the suggestion.
    const unknown = kept.filter((e) => e.keyword === 'additionalProperties').map((e) => message(e));
    const base = segmentsOf(pointer, data);
    for (const e of kept) {
      let m: SchemaProblem | null;
      if (e.keyword === 'summary') m = { path: [], atKey: false, message: e.message ?? '' };
      else m = message(e);
      if (!m) continue;
      if (e.keyword === 'required') {
        const missing = String((e.params as { missingProperty: string }).missingProperty);
        if (unknown.some((u) => u?.message === `unknown key (did you mean ${missing}?)`)) continue;
      }
      out.push({ ...m, path: [...base, ...m.path] });
    }
  }
  return out;
}
