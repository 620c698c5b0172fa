// Policy test suites (`*_test.yaml`, schemas/policy-test.schema.json), in the manner of Cerbos's: a policy,
// a pinned clock, contexts with inline state, and the decisions they must get.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { formatProblem, PolicyError, type PolicyProblem } from './errors.js';
import { decideOffline, type EvalContextInput } from './offline.js';
import { loadPolicy, parseYamlWithSchema } from './policy/index.js';
import type { CompiledPolicy } from './policy/types.js';
import { validator } from './schemas.js';
import type { DecisionKind } from './types.js';

interface SuiteTest {
  name: string;
  skip?: boolean;
  input: EvalContextInput;
  expected: {
    decision: DecisionKind;
    enforced?: string[];
    not_enforced?: string[];
    report_only?: string[];
    enrollment_allowed_now?: boolean;
    risk_score?: number;
    /** Exactly these factors, in any order; [] for none. */
    factors?: string[];
  };
}

interface Suite {
  name: string;
  policy: string;
  options?: { now?: string };
  tests: SuiteTest[];
}

export interface TestOutcome {
  file: string;
  suite: string;
  test: string;
  status: 'passed' | 'failed' | 'skipped';
  /** What differed, one line each (empty when passed). */
  failures: string[];
}

export interface SuiteRun {
  outcomes: TestOutcome[];
  /** Why suites could not be run at all (YAML or schema errors, a policy that does not load), one line each. */
  problems: string[];
  /** How many suite files could not be run; each counts as a failure. */
  broken: number;
}

const SUITE_FILE = /_test\.ya?ml$/;

/** Suite files under the given paths: files as given, directories searched for `*_test.yaml` (and every YAML file in a `tests/` folder). */
export function findSuites(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, inTests: boolean): void => {
    if (statSync(p).isDirectory()) {
      for (const entry of readdirSync(p).sort()) {
        if (entry === 'node_modules' || entry.startsWith('.')) continue;
        walk(join(p, entry), entry === 'tests');
      }
    } else if (SUITE_FILE.test(p) || (inTests && /\.ya?ml$/.test(p))) {
      out.push(p);
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`${p}: no such file or directory`);
    if (statSync(p).isDirectory()) walk(p, p.endsWith('tests'));
    else out.push(p);
  }
  return [...new Set(out)];
}

export function runSuites(files: readonly string[]): SuiteRun {
  const run: SuiteRun = { outcomes: [], problems: [], broken: 0 };
  const policies = new Map<string, CompiledPolicy>();
  for (const file of files) {
    const suite = loadSuite(file, run.problems);
    if (!suite) {
      run.broken++;
      continue;
    }
    const policyPath = resolve(dirname(file), suite.policy);
    let policy = policies.get(policyPath);
    if (!policy) {
      try {
        policy = loadPolicy(policyPath);
      } catch (err) {
        run.problems.push(err instanceof PolicyError ? err.message : `${file}: policy ${suite.policy}: ${(err as Error).message}`);
        run.broken++;
        continue;
      }
      policies.set(policyPath, policy);
    }
    const compiled = policy;
    const pinned = suite.options?.now;
    for (const t of suite.tests) {
      run.outcomes.push(runTest(file, suite.name, compiled, t, pinned));
    }
  }
  return run;
}

function loadSuite(file: string, problems: string[]): Suite | null {
  const parsed = parseYamlWithSchema(readFileSync(file, 'utf8'), file, validator('policy-test'));
  if (parsed.problems.length > 0) {
    problems.push(...parsed.problems.map(formatProblem));
    return null;
  }
  const suite = parsed.value as Suite;
  const bad: PolicyProblem[] = [];
  suite.tests.forEach((t, i) => {
    if (!suite.options?.now && !t.input.time) {
      const { line, col } = parsed.locate(['tests', i]);
      bad.push({ file, line, col, path: `tests[${i}]`, message: 'no clock: set options.now for the suite or input.time for the test' });
    }
  });
  if (bad.length > 0) {
    problems.push(...bad.map(formatProblem));
    return null;
  }
  return suite;
}

function runTest(file: string, suite: string, policy: CompiledPolicy, t: SuiteTest, pinned: string | undefined): TestOutcome {
  const outcome: TestOutcome = { file, suite, test: t.name, status: 'passed', failures: [] };
  if (t.skip) {
    outcome.status = 'skipped';
    return outcome;
  }
  const now = Date.parse((t.input.time ?? pinned) as string);
  let result;
  try {
    result = decideOffline(policy, t.input, now);
  } catch (err) {
    outcome.status = 'failed';
    outcome.failures.push(`error: ${(err as Error).message}`);
    return outcome;
  }
  const f = outcome.failures;
  const e = t.expected;
  const enforced = new Set(result.reasons.filter((r) => r.enforced).map((r) => r.rule));
  const reported = new Set(result.reasons.filter((r) => !r.enforced).map((r) => r.rule));
  if (result.decision !== e.decision) f.push(`decision: expected ${e.decision}, got ${result.decision}`);
  for (const r of e.enforced ?? []) if (!enforced.has(r)) f.push(`expected enforced reason ${r}`);
  for (const r of e.not_enforced ?? []) if (enforced.has(r)) f.push(`unexpected enforced reason ${r}`);
  for (const r of e.report_only ?? []) if (!reported.has(r)) f.push(`expected report-only reason ${r}`);
  if (e.enrollment_allowed_now !== undefined && result.enrollment.allowed_now !== e.enrollment_allowed_now) {
    f.push(`enrollment.allowed_now: expected ${e.enrollment_allowed_now}, got ${result.enrollment.allowed_now}`);
  }
  if (e.risk_score !== undefined && result.risk.score !== e.risk_score) {
    f.push(`risk score: expected ${e.risk_score}, got ${result.risk.score}`);
  }
  if (e.factors !== undefined) {
    const got: readonly string[] = result.factors ?? [];
    if (got.length !== e.factors.length || !e.factors.every((x) => got.includes(x))) {
      const list = (l: readonly string[]): string => (l.length ? `[${l.join(', ')}]` : 'none');
      f.push(`factors: expected ${list(e.factors)}, got ${list(got)}`);
    }
  }
  if (f.length > 0) {
    outcome.status = 'failed';
    const reasons = result.reasons.map((r) => `${r.rule}=${r.decision}${r.enforced ? '' : ' (report only)'}`).join(', ');
    f.push(`reasons were: ${reasons || 'none'}`);
  }
  return outcome;
}
