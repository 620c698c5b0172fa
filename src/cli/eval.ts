import { readFileSync } from 'node:fs';
import { schemaProblems, validator } from '../schemas.js';
import { PolicyError } from '../errors.js';
import { decideOffline, decideWithState, type EvalContextInput } from '../offline.js';
import { loadPolicy } from '../policy/index.js';
import { openSqliteStore } from '../store/index.js';
import { parseDevice, deviceKey } from '../signals/index.js';
import { normalizeContext } from '../context.js';
import { UsageError, parse, type Command } from './command.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'print the decision and reasons for one context',
  usage: `usage: mfa-gate eval --policy FILE --context FILE [--at ISO-TIME] [--db FILE]

Evaluates one context against a policy and prints the decision as JSON: decision, reasons, risk,
enrollment, policy version, and the facts the signals were derived from (device key, location key,
travel). Nothing is written, except that with --db a user the store never saw is
recorded as first seen (as the server would).

  --policy FILE    the policy (default: policies/default.yaml)
  --context FILE   a JSON context (- for standard input):
                   { user, ip, user_agent, device_id?, action?, sensitive?, attributes?, time?, state? }
                   With "state" (the user's history inline) no store is needed.
  --at ISO-TIME    when the login happens (default: the context's "time", else now)
  --db FILE        without "state": read the user's state from this SQLite store
                   (otherwise the user is one never seen before)

See examples/contexts/ for context files.`,
  async run(argv) {
    const { values } = parse(argv, {
      policy: { type: 'string', default: 'policies/default.yaml' },
      context: { type: 'string' },
      at: { type: 'string' },
      db: { type: 'string' },
    });
    if (!values.context) throw new UsageError('--context is required');
    let policy;
    try {
      policy = loadPolicy(values.policy);
    } catch (err) {
      console.error(err instanceof PolicyError ? err.message : `${values.policy}: ${(err as Error).message}`);
      return 1;
    }
    const label = values.context === '-' ? '<stdin>' : values.context;
    let input: EvalContextInput;
    try {
      input = JSON.parse(readFileSync(values.context === '-' ? 0 : values.context, 'utf8')) as EvalContextInput;
    } catch (err) {
      console.error(`${label}: ${(err as Error).message}`);
      return 1;
    }
    const validate = validator('eval-context');
    if (!validate(input)) {
      for (const p of schemaProblems(validate.errors)) console.error(`${label}: ${p.path}: ${p.message}`);
      return 1;
    }
    const when = values.at ?? input.time;
    const now = when === undefined ? Date.now() : Date.parse(when);
    if (Number.isNaN(now)) throw new UsageError(`--at: invalid time "${when}" (expected ISO 8601, e.g. 2026-01-31T09:00:00Z)`);

    let result;
    if (input.state === undefined && values.db) {
      const store = openSqliteStore({ path: values.db });
      try {
        const context = normalizeContext(input);
        const state = await store.getUserState(context.user.id, deviceKey(context, parseDevice(context.user_agent)), now);
        result = decideWithState(policy, input, state, now);
      } finally {
        await store.close();
      }
    } else {
      result = decideOffline(policy, input, now);
    }
    console.log(JSON.stringify(result, null, 2));
    return 0;
  },
};
