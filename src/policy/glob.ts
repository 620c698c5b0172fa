// Sensitive-action patterns: a name or name glob (`admin.*`) for applications, or `METHOD /path/*` for the
// gateway hook, whose action is the request line `POST /admin/users`. Compiled once at load.
import type { ActionMatcher } from './types.js';

// RFC 9110 section 9 methods a gateway forwards for an authenticated request (CONNECT and TRACE never
// reach an application); `*` stands for any method.
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const NAME_RE = /^[A-Za-z0-9_.:*?-]+$/;
const WILDCARD_RE = /[*?]/;

/** Why `source` is not a valid action pattern, or null when it is. */
export function explainActionPattern(source: unknown): string | null {
  if (typeof source !== 'string') return 'must be a string';
  if (source === '') return 'must not be empty';
  if (source.includes('***')) return '`***` is not a wildcard (use * within a segment or ** across segments)';
  const space = source.indexOf(' ');
  if (space < 0) {
    if (source.startsWith('/')) return 'a path needs a method in front, e.g. `GET /path` or `* /path`';
    if (NAME_RE.test(source)) return null;
    const bad = [...source].find((c) => !/[A-Za-z0-9_.:*?-]/.test(c)) ?? '';
    return `character ${JSON.stringify(bad)} is not allowed in an action name (letters, digits, _ . : - and the wildcards * ?)`;
  }
  const method = source.slice(0, space);
  const path = source.slice(space + 1);
  if (method !== '*' && !(HTTP_METHODS as readonly string[]).includes(method)) {
    const upper = method.toUpperCase();
    if ((HTTP_METHODS as readonly string[]).includes(upper)) return `write the method in upper case: ${upper}`;
    if (!path.startsWith('/')) {
      return `an action name may not contain whitespace; for a request write METHOD /path (${HTTP_METHODS.join(', ')} or *)`;
    }
    return `unknown HTTP method ${JSON.stringify(method)} (use ${HTTP_METHODS.join(', ')} or *)`;
  }
  if (!path.startsWith('/')) return 'the path must start with / and follow the method after one space';
  if (/\s/.test(path)) return 'the path must not contain whitespace';
  return null;
}

export function isValidActionPattern(source: unknown): source is string {
  return explainActionPattern(source) === null;
}

// A pattern as tokens: a literal character as its char code, the wildcards as negative numbers.
const ONE = -1; // `?`: one character except `/`
const SEGMENT = -2; // `*`: any run without `/`
const ANY = -3; // `**`: any run
const SLASH = 47;

function tokenize(glob: string): number[] {
  const tokens: number[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charCodeAt(i);
    if (c === 42 && glob.charCodeAt(i + 1) === 42) {
      tokens.push(ANY);
      i++;
    } else if (c === 42) {
      tokens.push(SEGMENT);
    } else {
      tokens.push(c === 63 ? ONE : c);
    }
  }
  return tokens;
}

function regExpOf(tokens: number[]): RegExp {
  let out = '';
  for (const t of tokens) {
    if (t === ANY) out += '.*';
    else if (t === SEGMENT) out += '[^/]*';
    else if (t === ONE) out += '[^/]';
    else out += String.fromCharCode(t).replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** Simulates the pattern's automaton on every state at once: O(action length x pattern length) for any
 * pattern, where a backtracking RegExp with several stars is exponential on a crafted action. */
function stateSetMatcher(tokens: number[]): (s: string) => boolean {
  const m = tokens.length;
  const close = (set: Uint8Array): void => {
    for (let i = 0; i < m; i++) if (set[i] === 1 && (tokens[i] === SEGMENT || tokens[i] === ANY)) set[i + 1] = 1;
  };
  return (s: string): boolean => {
    let cur = new Uint8Array(m + 1);
    let next = new Uint8Array(m + 1);
    cur[0] = 1;
    close(cur);
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      next.fill(0);
      let alive = false;
      for (let i = 0; i < m; i++) {
        if (cur[i] !== 1) continue;
        const t = tokens[i] as number;
        if (t === ANY || (t === SEGMENT && c !== SLASH)) {
          next[i] = 1;
          alive = true;
        } else if (t === c || (t === ONE && c !== SLASH)) {
          next[i + 1] = 1;
          alive = true;
        }
      }
      if (!alive) return false;
      close(next);
      [cur, next] = [next, cur];
    }
    return cur[m] === 1;
  };
}

/** A matcher for a glob. The action is caller input (a gateway forwards the request path): one star keeps
 * the RegExp linear, two or more get the state-set simulation. */
function globMatcher(glob: string): (s: string) => boolean {
  const tokens = tokenize(glob);
  const stars = tokens.filter((t) => t === SEGMENT || t === ANY).length;
  if (stars >= 2) return stateSetMatcher(tokens);
  const re = regExpOf(tokens);
  return (s: string) => re.test(s);
}

/** Compiles a pattern to a matcher; throws an Error with a readable message when it is invalid. */
export function compileActionPattern(source: string): ActionMatcher {
  const problem = explainActionPattern(source);
  if (problem !== null) throw new Error(`invalid action pattern ${JSON.stringify(source)}: ${problem}`);
  if (!WILDCARD_RE.test(source)) return { source, test: (action: string) => action === source };
  const space = source.indexOf(' ');
  if (space < 0) return { source, test: globMatcher(source) };
  const method = source.slice(0, space);
  const path = globMatcher(source.slice(space + 1));
  return {
    source,
    test(action: string): boolean {
      const sp = action.indexOf(' ');
      if (sp <= 0) return false;
      // `*` stands for any method token: no space (by construction) and no slash.
      const methodOk = method === '*' ? action.lastIndexOf('/', sp) < 0 : sp === method.length && action.startsWith(method);
      return methodOk && path(action.slice(sp + 1));
    },
  };
}
