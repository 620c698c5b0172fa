// `npm run bench`: in-process decisions per second with warm caches, stage by stage, each as a ratio to a
// baseline measured in the same process (one json-logic rule of five conditions, the cheapest piece of real
// work a decision contains). Issue #2's target: >= 100k decisions/s on one core.
// Then the HTTP section (bench/http.ts, issue #4): POST /v1/decide against a bare Hono JSON POST route.
//
// `npm run bench -- --json`: this script prints one JSON object on stdout and nothing else (progress goes to
// stderr): { inprocess: { decisions_per_s, <row key>_per_s, ... }, http: { bare_rps, decide_rps, ratio, ... } }.
// npm itself prints its "> mfa-gate@0.1.0 bench" banner on stdout first; to pipe the JSON, silence npm:
// `npm run -s bench -- --json | ...` (or run `node --import tsx bench/decide.ts --json`).
// BENCH_SECONDS (in-process seconds per row, default 1), BENCH_HTTP_SECONDS (default 10),
// BENCH_HTTP_WARMUP_SECONDS (default 2); `--no-http` skips the HTTP section, `--http-only` the in-process rows
// (then the JSON has no `inprocess`); `--explain` (or BENCH_HTTP_EXPLAIN=1) adds the SQLite decide run again with
// parts of the work left out, to show where a decision's CPU goes (`http.explain` in the JSON).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsonLogic from 'json-logic-js';
import geoip from 'geoip-lite';
import UAParser from 'ua-parser-js';
import { normalizeContext, stateFromInput, type ContextInput } from '../src/context.js';
import { DecisionEngine } from '../src/engine.js';
import { decideWithState } from '../src/offline.js';
import { evaluate } from '../src/policy/evaluate.js';
import { loadPolicy } from '../src/policy/index.js';
import { computeSignals, preloadGeoData } from '../src/signals/index.js';
import { openSqliteStore } from '../src/store/index.js';
import type { EvaluationInput, UserState } from '../src/types.js';
import { formatHttp, runHttpBench, type HttpBenchResult } from './http.js';
import { IPS, UAS } from './mix.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const TARGET = 100_000;

const ACTIONS = [undefined, 'login', 'payment.refund', 'admin.users.delete', 'reports.export', 'POST /admin/users/7'];

function contexts(n: number): ContextInput[] {
  return Array.from({ length: n }, (_, i) => ({
    user: { id: `user-${i % 1000}`, groups: i % 3 === 0 ? ['finance'] : i % 3 === 1 ? ['admins'] : ['sales'] },
    ip: IPS[i % IPS.length] as string,
    user_agent: UAS[i % UAS.length] as string,
    ...(i % 2 === 0 ? { device_id: `device-${i % 50}` } : {}),
    ...(ACTIONS[i % ACTIONS.length] ? { action: ACTIONS[i % ACTIONS.length] as string } : {}),
  }));
}

const STATE: UserState = stateFromInput({
  enrolled: true,
  first_seen: '2026-01-01T00:00:00Z',
  known_devices: Array.from({ length: 20 }, (_, i) => `device-${i}`),
  known_locations: ['GB/ENG/St Albans', 'DE/NW/Dortmund', 'AU/QLD/Brisbane', 'US'],
  last_login: { time: '2026-05-31T20:00:00Z', ip: '81.2.69.142' },
  last_mfa: { time: '2026-06-01T09:00:00Z', device: 'device-2' },
});
const NOW = Date.parse('2026-06-01T12:00:00Z');

interface Result {
  /** Its field in the JSON output (`<key>_per_s`). */
  key: string;
  name: string;
  perSecond: number;
}

function measure(key: string, name: string, fn: (i: number) => unknown): Result {
  for (let i = 0; i < 20_000; i++) fn(i); // warm caches and the JIT
  let ops = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 1000; k++) fn(ops++);
  }
  return { key, name, perSecond: (ops * 1000) / (performance.now() - start) };
}

async function measureAsync(key: string, name: string, fn: (i: number) => Promise<unknown>, concurrency: number): Promise<Result> {
  const round = async (base: number, count: number) => {
    const batch: Promise<unknown>[] = [];
    for (let k = 0; k < count; k++) batch.push(fn(base + k));
    await Promise.all(batch);
  };
  for (let i = 0; i < 5_000; i += concurrency) await round(i, concurrency);
  let ops = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    await round(ops, concurrency);
    ops += concurrency;
  }
  return { key, name, perSecond: (ops * 1000) / (performance.now() - start) };
}

interface InProcess {
  baseline: Result;
  results: Result[];
  parts: Result[];
}

async function inProcess(): Promise<InProcess> {
  preloadGeoData();
  const policies = { seed: loadPolicy('policies/default.yaml'), strict: loadPolicy('policies/strict.yaml') };
  const ctxs = contexts(4096);
  const normalized = ctxs.map(normalizeContext);
  const mask = ctxs.length - 1;

  const rule: jsonLogic.RulesLogic = {
    and: [
      { in: ['admins', { var: 'user.groups' }] },
      { '>': [{ var: 'risk.score' }, 30] },
      { '==': [{ var: 'geo.country' }, 'GB'] },
      { '!': [{ var: 'signals.trusted_network' }] },
      { '<': [{ var: 'time.hour' }, 7] },
    ],
  } as jsonLogic.RulesLogic;
  const data = { user: { groups: ['admins'] }, risk: { score: 40 }, geo: { country: 'GB' }, signals: { trusted_network: false }, time: { hour: 3 } };
  const baseline = measure('baseline_jsonlogic', 'baseline: json-logic, one 5-condition rule', () => jsonLogic.apply(rule, data));

  const results: Result[] = [];
  for (const [label, policy] of Object.entries(policies)) {
    const inputs: EvaluationInput[] = normalized.map((context) => ({ context, state: STATE, ...computeSignals(policy, context, STATE, NOW) }));
    results.push(measure(`evaluate_${label}`, `evaluate() only, ${label} policy`, (i) => evaluate(policy, inputs[i & mask] as EvaluationInput, NOW)));
    results.push(measure(`signals_evaluate_${label}`, `signals + evaluate, ${label} policy`, (i) => decideWithState(policy, ctxs[i & mask] as ContextInput, STATE, NOW)));
  }

  const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-bench-'));
  const store = openSqliteStore({ path: join(dir, 'bench.db') });
  try {
    let now = NOW;
    const engine = new DecisionEngine({ store, policy: policies.seed, clock: () => (now += 1) });
    results.push(await measureAsync('engine_sqlite_sequential', 'engine on SQLite, sequential', (i) => engine.decide(ctxs[i & mask] as ContextInput), 1));
    results.push(await measureAsync('engine_sqlite_64_in_flight', 'engine on SQLite, 64 in flight', (i) => engine.decide(ctxs[i & mask] as ContextInput), 64));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }

  // The parts a cache hides: what a cold decision pays.
  const parser = new UAParser();
  const parts = [
    measure('part_ua_parse_uncached', 'part: ua-parser-js parse, uncached', (i) => parser.setUA(`${UAS[i % UAS.length]} ${i}`).getResult()),
    measure('part_geoip_lookup_uncached', 'part: geoip-lite lookup, uncached', (i) => geoip.lookup(`${(i >>> 16) & 255 || 1}.${(i >>> 8) & 255}.${i & 255}.7`)),
  ];

  return { baseline, results, parts };
}

function formatInProcess({ baseline, results, parts }: InProcess): string {
  const row = (r: Result) =>
    `${r.name.padEnd(44)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(12)}/s ${(1e6 / r.perSecond).toFixed(2).padStart(8)} µs  ${(r.perSecond / baseline.perSecond).toFixed(2).padStart(6)}x baseline  ${(r.perSecond / TARGET).toFixed(2).padStart(6)}x target`;
  return [
    `mfa-gate decision benchmark (Node ${process.version}, ${SECONDS}s per row, one core, warm caches)`,
    '',
    row(baseline),
    ...results.map(row),
    '',
    ...parts.map(row),
  ].join('\n');
}

/** `decisions_per_s` is the headline (signals + evaluate on the seed policy); every row as `<key>_per_s`. */
function inProcessJson({ baseline, results, parts }: InProcess): Record<string, number> {
  const seed = results.find((r) => r.key === 'signals_evaluate_seed');
  if (!seed) throw new Error('no signals + evaluate row for the seed policy');
  const out: Record<string, number> = { decisions_per_s: Math.round(seed.perSecond), target_per_s: TARGET, seconds_per_row: SECONDS };
  for (const r of [baseline, ...results, ...parts]) out[`${r.key}_per_s`] = Math.round(r.perSecond);
  return out;
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const http = !process.argv.includes('--no-http');
  const httpOnly = process.argv.includes('--http-only');
  if (httpOnly && !http) throw new Error('--http-only and --no-http leave nothing to run');
  // With --json, stdout carries the JSON object alone.
  const say = json ? (text: string) => process.stderr.write(`${text}\n`) : (text: string) => process.stdout.write(`${text}\n`);

  const inprocess = httpOnly ? undefined : await inProcess();
  if (inprocess) say(formatInProcess(inprocess));
  let httpResult: HttpBenchResult | undefined;
  if (http) {
    if (inprocess) say('');
    httpResult = await runHttpBench({ ...(process.argv.includes('--explain') ? { explain: true } : {}) });
    say(formatHttp(httpResult));
  }
  if (json) process.stdout.write(`${JSON.stringify({ ...(inprocess ? { inprocess: inProcessJson(inprocess) } : {}), ...(httpResult ? { http: httpResult } : {}) })}\n`);
}

await main();
