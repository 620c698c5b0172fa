// YAML with positions, validated by a JSON Schema: every problem located at file:line:col with its key path.
// Reusable for any YAML file with a schema (the policy and the policy test suites).
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';
import type { PolicyProblem } from '../errors.js';
import { schemaProblems, type Path } from './schema-errors.js';

export type { Path } from './schema-errors.js';
export { createAjv, type FormatSpec } from './schema-errors.js';

export interface Position {
  line: number;
  col: number;
}

export interface YamlSource {
  /** The document as plain data; undefined when the YAML could not be read at all. */
  value: unknown;
  /** YAML and schema problems, in document order. */
  problems: PolicyProblem[];
  /** true when the YAML itself is broken (value and positions are unreliable; schema checks were skipped). */
  syntaxErrors: boolean;
  /** Where the value at `path` starts (the deepest existing node on the way when the path runs out). */
  locate(path: Path): Position;
  /** Where the key of the entry at `path` starts (for a list item or the root, the value). */
  locateKey(path: Path): Position;
  /** A problem at `path`, pointing at its key (`atKey`) or its value. */
  problem(path: Path, message: string, atKey?: boolean): PolicyProblem;
}

const START: Position = { line: 1, col: 1 };

/** `mfa_enforcement.grace_period`, `rules[0].when`, `networks.trusted[2]`, `attributes["a b"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function keyText(pair: Pair): string {
  const k = pair.key;
  if (isScalar(k)) return String(k.value);
  return k === null || k === undefined ? '' : String(k);
}

interface Step {
  node: Node | null;
  pair: Pair | null;
}

/** Walks `path` from the root; returns each step reached (the last is the deepest existing node). */
function walk(doc: Document, path: Path): Step[] {
  const steps: Step[] = [{ node: (doc.contents as Node | null) ?? null, pair: null }];
  let node = steps[0]?.node ?? null;
  for (const seg of path) {
    if (isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? null;
    let next: Step | null = null;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p) === String(seg));
      if (pair) next = { node: (pair.value as Node | null) ?? null, pair };
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (item !== undefined) next = { node: item, pair: null };
    }
    if (!next) break;
    steps.push(next);
    node = next.node;
  }
  return steps;
}

// The yaml parser recurses per nesting level and, a few thousand levels deep, can take the process down
// (V8 runs out of memory compiling a RegExp on an exhausted stack) instead of throwing. No real policy comes
// near these bounds; they are checked on the raw text before parsing.
const MAX_FLOW_DEPTH = 200;
const MAX_BLOCK_PREFIX = 400;

/** The offset where nesting becomes too deep for the parser, or -1. Brackets in quoted text count too: an
 * over-estimate, harmless at this bound. */
function tooDeep(source: string): number {
  let depth = 0;
  let lineStart = true;
  let prefix = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 10) {
      lineStart = true;
      prefix = 0;
      continue;
    }
    // Block nesting needs indentation or `- ` / `? ` markers at the start of a line.
    if (lineStart && (c === 32 || c === 9 || c === 45 || c === 63 || c === 58)) {
      if (++prefix > MAX_BLOCK_PREFIX) return i;
    } else {
      lineStart = false;
    }
    if (c === 91 || c === 123) {
      if (++depth > MAX_FLOW_DEPTH) return i;
    } else if ((c === 93 || c === 125) && depth > 0) {
      depth--;
    }
  }
  return -1;
}

export function parseYamlWithSchema(source: string, file: string, validate: ValidateFunction): YamlSource {
  const lineCounter = new LineCounter();
  const deep = tooDeep(source);
  const doc = parseDocument(deep < 0 ? source : '', { lineCounter, prettyErrors: false });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const startOf = (node: Node | null | undefined, pair: Pair | null): Position | null => {
    const empty = !node || (isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1]);
    // `key:` with nothing after it: point at the key, not at the end of the line.
    if (empty && pair && isScalar(pair.key) && pair.key.range) return pos(pair.key.range[0]);
    return node?.range ? pos(node.range[0]) : null;
  };
  const locate = (path: Path): Position => {
    const steps = walk(doc, path);
    for (let i = steps.length - 1; i >= 0; i--) {
      const s = steps[i] as Step;
      const p = startOf(s.node, s.pair);
      if (p) return p;
    }
    return START;
  };
  const locateKey = (path: Path): Position => {
    const steps = walk(doc, path);
    const last = steps[steps.length - 1] as Step;
    if (steps.length === path.length + 1 && last.pair && isScalar(last.pair.key) && last.pair.key.range) {
      return pos(last.pair.key.range[0]);
    }
    return locate(path);
  };
  const problem = (path: Path, message: string, atKey = false): PolicyProblem => {
    const at = atKey ? locateKey(path) : locate(path);
    return { file, line: at.line, col: at.col, path: formatPath(path), message };
  };

  const problems: PolicyProblem[] = [];
  if (deep >= 0) {
    const at = positionIn(source, deep);
    const message = `nesting is too deep (more than ${MAX_FLOW_DEPTH} levels or ${MAX_BLOCK_PREFIX} columns of indentation)`;
    problems.push({ file, ...at, path: '', message });
    const none = (): Position => at;
    return { value: undefined, syntaxErrors: true, problems, locate: none, locateKey: none, problem: (path, msg) => ({ file, ...at, path: formatPath(path), message: msg }) };
  }
  const fatal = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY');
  for (const e of fatal) {
    const at = pos(e.pos[0]);
    problems.push({ file, line: at.line, col: at.col, path: '', message: `invalid YAML: ${e.message}` });
  }
  if (fatal.length === 0 && doc.errors.length > 0) {
    const found = duplicateKeys(doc, file, pos);
    if (found.length) problems.push(...found);
    else for (const e of doc.errors) problems.push({ file, ...pos(e.pos[0]), path: '', message: e.message });
  }
  const base = { problems, locate, locateKey, problem };
  if (fatal.length > 0) return { value: undefined, syntaxErrors: true, ...base };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Unresolved or excessive aliases (YAML's "billion laughs"): the document has no usable value.
    const at = danglingAlias(doc);
    const where = at ? pos(at) : START;
    problems.push({ file, ...where, path: '', message: `invalid YAML: ${(e as Error).message}` });
    return { value: undefined, syntaxErrors: true, ...base };
  }
  if (!validate(value)) {
    for (const p of schemaProblems(validate.errors ?? [], value)) problems.push(problem(p.path, p.message, p.atKey));
  }
  return { value, syntaxErrors: false, ...base, problems: sortProblems(dedupe(problems)) };
}

/** Every repeated key of every mapping, at the repetition, naming the first occurrence. */
function duplicateKeys(doc: Document, file: string, pos: (offset: number) => Position): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  const visit = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        const key = keyText(pair);
        const range = isScalar(pair.key) ? pair.key.range : undefined;
        if (range) {
          const at = pos(range[0]);
          const firstLine = seen.get(key);
          if (firstLine === undefined) seen.set(key, at.line);
          else out.push({ file, ...at, path: formatPath([...path, key]), message: `duplicate key (first defined on line ${firstLine})` });
        }
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    }
  };
  visit(doc.contents, []);
  return out;
}

/** The offset of the first alias without an anchor before it, if any. */
function danglingAlias(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) === undefined && node.range) {
        offset = node.range[0];
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return offset;
}

function positionIn(source: string, offset: number): Position {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

function dedupe(problems: PolicyProblem[]): PolicyProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.col}:${p.path}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Document order (stable, so problems at one position keep their order). */
export function sortProblems(problems: PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}
