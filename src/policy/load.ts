// Loading a policy file: the bytes are read once, so the version hash is of exactly what was compiled.
import { readFileSync } from 'node:fs';
import { PolicyError } from '../errors.js';
import { parsePolicy } from './compile.js';
import type { CompiledPolicy } from './types.js';

export { parsePolicy } from './compile.js';

/** Reads and compiles `path` (sync: policies load at start and on reload, never per request).
 * Throws PolicyError for an unreadable file as for an invalid one, so callers handle one error type. */
export function loadPolicy(path: string): CompiledPolicy {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new PolicyError([{ file: path, line: 1, col: 1, path: '', message: `cannot read the policy file (${reason})` }]);
  }
  return parsePolicy(bytes, path);
}
