import { PolicyError } from '../errors.js';
import { loadPolicy } from '../policy/index.js';
import { UsageError, parse, type Command } from './command.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check policy files; print every error with file:line:col',
  usage: `usage: mfa-gate validate <policy.yaml>...

Loads each policy (YAML, schema, durations, CIDRs, action patterns, json-logic rules) and prints "ok"
with its version, or every problem as FILE:LINE:COL PATH: MESSAGE. Exit 0 when all are valid, 1 otherwise.`,
  async run(argv) {
    const { positionals } = parse(argv, {}, true);
    if (positionals.length === 0) throw new UsageError('name at least one policy file');
    let failed = 0;
    for (const file of positionals) {
      try {
        const policy = loadPolicy(file);
        console.log(positionals.length > 1 ? `${file}: ok (version ${policy.version.slice(0, 12)})` : 'ok');
      } catch (err) {
        failed++;
        console.error(err instanceof PolicyError ? err.message : `${file}: ${(err as Error).message}`);
      }
    }
    return failed === 0 ? 0 : 1;
  },
};
