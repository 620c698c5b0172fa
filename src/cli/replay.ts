import { createReadStream, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { PolicyError } from '../errors.js';
import { loadPolicy } from '../policy/index.js';
import { replayAsync, summaryRows, type ChangedDecision, type ReplayResult } from '../replay.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { Reason } from '../types.js';
import { UsageError, parse, type Command } from './command.js';

export const replayCommand: Command = {
  name: 'replay',
  summary: 'run a decision log against a policy; report which decisions would change',
  usage: `usage: mfa-gate replay --policy FILE --log FILE [--json] [--limit N]

Re-decides every decision in a decision log under the given policy, with the context, the user's state
and the time each decision was made with, and prints how many decisions go from each outcome to each
other (unchanged ones included) and every decision that would change, with the new and the old reasons.
Audit and other non-decision lines are counted and passed over; malformed lines and decisions made while
the store was down are listed as skipped.

  --policy FILE   the policy to replay under (e.g. the change you are about to ship)
  --log FILE      the decision log, JSON lines (- for standard input); read line by line
  --json          print one JSON document: { policy, total, changed, summary, skipped, ... }
  --limit N       list at most N changed decisions (the counts still cover all)

Exit 0 when the replay ran (whether or not decisions change), 1 when the policy is invalid or the log
cannot be read, 2 on usage errors.`,
  async run(argv) {
    const { values } = parse(argv, {
      policy: { type: 'string' },
      log: { type: 'string' },
      json: { type: 'boolean', default: false },
      limit: { type: 'string' },
    });
    if (!values.policy) throw new UsageError('--policy is required');
    if (!values.log) throw new UsageError('--log is required');
    let limit: number | undefined;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit: expected a whole number, got "${values.limit}"`);
    }

    let policy: CompiledPolicy;
    try {
      policy = loadPolicy(values.policy);
    } catch (err) {
      console.error(err instanceof PolicyError ? err.message : `${values.policy}: ${(err as Error).message}`);
      return 1;
    }

    const label = values.log === '-' ? '<stdin>' : values.log;
    let input: Readable;
    try {
      // Opened here, synchronously, so a missing file is reported before any output.
      input = values.log === '-' ? process.stdin : createReadStream('', { fd: openSync(values.log, 'r') });
    } catch (err) {
      console.error(`${label}: cannot read the log (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return 1;
    }
    let result: ReplayResult;
    try {
      // readline keeps one line in memory at a time; a CRLF log reads the same as an LF one.
      result = await replayAsync(policy, createInterface({ input, crlfDelay: Infinity }), limit === undefined ? {} : { limit });
    } catch (err) {
      // e.g. EISDIR: a directory opens, but reading it fails.
      console.error(`${label}: cannot read the log (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return 1;
    } finally {
      input.destroy();
    }

    console.log(values.json ? JSON.stringify(jsonReport(policy, result), null, 2) : textReport(policy, label, result));
    return 0;
  },
};

function jsonReport(policy: CompiledPolicy, r: ReplayResult) {
  return {
    policy: { version: policy.version, source: policy.source },
    total: r.total,
    changed_total: r.changed_total,
    lines: r.lines,
    audit: r.audit,
    ignored: r.ignored,
    changed: r.changed,
    summary: summaryRows(r.summary),
    skipped: r.skipped,
  };
}

function formatReason(r: Reason): string {
  const mode = r.enforced ? '' : ', report only';
  return `${r.rule} (${r.decision}${mode})${r.detail ? `: ${r.detail}` : ''}`;
}

function formatReasons(label: string, reasons: Reason[]): string[] {
  if (reasons.length === 0) return [`    ${label} (no reasons)`];
  return reasons.map((r, i) => `    ${i === 0 ? label : ' '.repeat(label.length)} ${formatReason(r)}`);
}

function formatChanged(c: ChangedDecision): string[] {
  return [
    `  line ${c.line}  ${c.time}  user ${c.user}  ${c.from} → ${c.to}  (decision ${c.decision_id})`,
    ...formatReasons('now:   ', c.reasons),
    ...formatReasons('before:', c.previous_reasons),
  ];
}

function textReport(policy: CompiledPolicy, label: string, r: ReplayResult): string {
  const rows = summaryRows(r.summary);
  const fromW = Math.max(4, ...rows.map((x) => x.from.length));
  const toW = Math.max(2, ...rows.map((x) => x.to.length));
  const countW = Math.max(5, ...rows.map((x) => String(x.count).length));
  const out = [
    `replayed ${r.total} decision${r.total === 1 ? '' : 's'} from ${label} under ${policy.source} (version ${policy.version.slice(0, 12)})`,
    '',
    `  ${'from'.padEnd(fromW)}   ${'to'.padEnd(toW)}  ${'count'.padStart(countW)}`,
    ...rows.map((x) => `  ${x.from.padEnd(fromW)} → ${x.to.padEnd(toW)}  ${String(x.count).padStart(countW)}${x.from === x.to ? '' : '  *'}`),
    '',
    `${r.changed_total} changed, ${r.total - r.changed_total} unchanged; ${r.skipped.length} skipped; ` +
      `${r.audit} audit and ${r.ignored} other lines passed over`,
  ];
  if (r.changed.length > 0) {
    const shown = r.changed.length < r.changed_total ? ` (first ${r.changed.length} of ${r.changed_total})` : '';
    out.push('', `changed decisions${shown}:`, ...r.changed.flatMap(formatChanged));
  }
  if (r.skipped.length > 0) {
    out.push('', 'skipped lines:', ...r.skipped.map((s) => `  line ${s.line}: ${s.reason}`));
  }
  return out.join('\n');
}
