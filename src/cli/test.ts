import { findSuites, runSuites } from '../suite.js';
import { parse, type Command } from './command.js';

export const testCommand: Command = {
  name: 'test',
  summary: 'run policy test suites (*_test.yaml)',
  usage: `usage: mfa-gate test [--verbose] [path...]

Runs policy test suites: files named *_test.yaml (or any YAML file in a tests/ folder) under the given
paths (default: policies). Each suite names its policy, pins the clock (options.now) and lists inputs
with the decision expected. Prints one line per failing test with the difference, then
"N passed, N failed" (a suite that cannot be read counts as one failure). Exit 1 on any failure.

  --verbose   also print a line per passing test`,
  async run(argv) {
    const { values, positionals } = parse(argv, { verbose: { type: 'boolean', short: 'v' } }, true);
    const files = findSuites(positionals.length > 0 ? positionals : ['policies']);
    const { outcomes, problems, broken } = runSuites(files);
    for (const p of problems) console.error(p);
    let passed = 0;
    let failed = broken;
    let skipped = 0;
    for (const o of outcomes) {
      const label = `${o.file}: ${o.suite} › ${o.test}`;
      if (o.status === 'passed') {
        passed++;
        if (values.verbose) console.log(`PASS ${label}`);
      } else if (o.status === 'skipped') {
        skipped++;
        if (values.verbose) console.log(`SKIP ${label}`);
      } else {
        failed++;
        console.log(`FAIL ${label}\n${o.failures.map((f) => `     ${f}`).join('\n')}`);
      }
    }
    if (files.length === 0) console.error('no test suites found');
    console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
    return failed === 0 && files.length > 0 ? 0 : 1;
  },
};
