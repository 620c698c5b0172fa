// The HTTP section of `npm run bench` (issue #4): `POST /v1/decide` on the service as `mfa-gate serve` builds it,
// against a bare Hono JSON POST route, both on @hono/node-server in this process, loaded one after the other
// (never together) by autocannon with the same connections, duration and bodies. The bare route is the ceiling
// this machine gives a Hono JSON POST with the load generator sharing its cores, so the targets are ratios:
// decide req/s >= 0.6x the bare route's (aim 0.8x), decide p99 <= 1.5x the bare route's p99.
//
// autocannon runs in a child process (bench/http-load.ts; see there why), so this process's event loop only
// serves. Also runnable alone: `node --import tsx bench/http.ts [--json]`.
//
// Then the same pair again with N processes on each side (BENCH_HTTP_WORKERS, default one per core): a real
// `mfa-gate serve --workers N` child process against the bare route under node:cluster with N workers
// (bench/bare-server.ts). One Node process serves on one core; this is what each side makes of the machine.
import { serve, type ServerType } from '@hono/node-server';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import type { ContextInput } from '../src/context.js';
import { openServices } from '../src/cli/services.js';
import { createDecisionLog } from '../src/decision-log.js';
import { DecisionEngine, type DecisionRecord } from '../src/engine.js';
import { createApp } from '../src/http/app.js';
import { loadApiKeys } from '../src/http/auth.js';
import { createMetrics } from '../src/http/metrics.js';
import { createLogger } from '../src/log.js';
import { compileNetworkList } from '../src/policy/index.js';
import { PolicyHolder } from '../src/policy/holder.js';
import { preloadGeoData } from '../src/signals/index.js';
import type { Store } from '../src/store/types.js';
import type { UserState } from '../src/types.js';
import { bareApp } from './bare-server.js';
import type { LoadSummary } from './http-load.js';
import { IPS, UAS } from './mix.js';

/** A decide run's figures against a bare run: what the targets are about. */
export interface DecideFigures {
  decide_rps: number;
  /** decide_rps / the bare route's req/s. */
  ratio: number;
  p50_ms: number;
  p99_ms: number;
  /** decide p99 / bare p99. */
  p99_ratio: number;
  /** Server CPU time per request in the measured run, µs: what each request costs, whatever else the machine
   * was doing. The ratio of bare's to decide's bounds the req/s ratio when the server is CPU-bound. */
  decide_cpu_us_per_req: number;
  decide: LoadSummary;
}

/** DecideFigures plus the bare run's own. */
export interface PairFigures extends DecideFigures {
  bare_rps: number;
  bare_p50_ms: number;
  bare_p99_ms: number;
  bare_cpu_us_per_req: number;
  bare: LoadSummary;
}

/** `POST /v1/decide` on the PostgreSQL store, against the same bare run (issue #6; ratio target >= 0.4). */
export interface PostgresBenchResult extends DecideFigures {
  /** How the server reached PostgreSQL: `unix socket <dir>` or `tcp <host:port>`. */
  via: string;
  decisions: Record<string, number>;
  loadavg_1m: number;
}

export interface HttpBenchOptions {
  /**
   * The PostgreSQL database for the second decide run (BENCH_DATABASE_URL, default the local `test` database);
   * a fresh schema is created in it and dropped afterwards. null: no PostgreSQL run.
   */
  databaseUrl?: string | null;
  /** The measured run per server, seconds (BENCH_HTTP_SECONDS, default 10). */
  seconds?: number;
  /** The discarded warm-up run before it, seconds (BENCH_HTTP_WARMUP_SECONDS, default 2). */
  warmupSeconds?: number;
  connections?: number;
  /**
   * The worker processes of the second pair of runs, `serve --workers N` against the bare route served by N
   * processes too (BENCH_HTTP_WORKERS, default one per core); 1: no such runs.
   */
  workers?: number;
  /**
   * After the single-process SQLite run, the same run with parts of the work left out (explainRuns): where a
   * decision's CPU goes (`--explain`, or BENCH_HTTP_EXPLAIN=1). About a minute more.
   */
  explain?: boolean;
  /** Progress lines (stderr). */
  log?: (line: string) => void;
}

/** The single-process pair (ratio target >= 0.6, aim 0.8; p99 ratio <= 1.5); CPU is this process's, all threads. */
export interface HttpBenchResult extends PairFigures {
  connections: number;
  seconds: number;
  warmup_seconds: number;
  /** Outcomes of the measured run's decisions. */
  decisions: Record<string, number>;
  /** Lines in the decision log at the end (seeding, warm-up and measured decisions). */
  decision_log_lines: number;
  /** 1-minute load average before each measured server: other work on the machine skews a run. */
  loadavg_1m: { bare: number; decide: number };
  decision_log_bytes: number;
  /** The PostgreSQL run, or why there was none. */
  postgres: PostgresBenchResult | { skipped: string };
  /** The same runs with N processes serving each side, or why there were none. */
  workers: WorkersBenchResult | { skipped: string };
  /** With `explain`: the single-process SQLite run with parts of the work left out, against the same bare run. */
  explain: ExplainRun[] | { skipped: string };
}

/**
 * `mfa-gate serve --workers N` (a real child process, its own data directory seeded the same way) against the
 * bare route served by N processes too (bench/bare-server.ts): one process serves on one core, so this is what
 * the machine gives each side. CPU per request is the whole process tree's.
 */
export interface WorkersBenchResult extends PairFigures {
  workers: number;
  loadavg_1m: { bare: number; decide: number };
  postgres: DecideFigures | { skipped: string };
}

export const RATIO_TARGET = 0.6;
export const POSTGRES_RATIO_TARGET = 0.4;
/**
 * The local `test` database over its Unix socket when the server has one (Debian's /var/run/postgresql), as
 * libpq connects to a database on the same machine by default; else over TCP. Over TCP loopback every query
 * and answer also crosses the kernel's TCP stack on these same two cores (measured ~15% more CPU per decision).
 */
const PG_SOCKET_DIR = '/var/run/postgresql';
const DEFAULT_DATABASE_URL = existsSync(join(PG_SOCKET_DIR, '.s.PGSQL.5432'))
  ? `postgres://postgres@localhost/test?host=${PG_SOCKET_DIR}`
  : 'postgres://postgres@127.0.0.1:5432/test';
export const RATIO_AIM = 0.8;
export const P99_RATIO_TARGET = 1.5;

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..');
const API_KEY = 'bench-key-decide-0000000000000001';
// As deployed: a few keys, so authentication compares against each digest; the bench uses the decide-only one.
const API_KEYS_ENV = `${API_KEY}:decide,bench-key-mfa-00000000000000000002:mfa,bench-key-admin-000000000000000003`;
// A fixed key (32 bytes, base64) so SQLite and PostgreSQL runs are built the same way; never a real key.
const BENCH_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

// ---- the request mix ------------------------------------------------------------------------------------------

const ACTIONS = ['login', 'reports.export', 'payment.refund', 'admin.users.delete', 'POST /admin/users/7', 'profile.view'];
const GROUPS = [['sales'], ['finance'], ['admins', 'engineering']];
const USERS = 1000;
/** Users 0..KNOWN-1 are enrolled with their home device and location known before the run; the rest are not. */
const KNOWN = 800;
/** Bodies per phase; connection k of n sends those whose index is k mod n, round and round. */
const POOL = 6000;

/** A small deterministic PRNG (mulberry32): the same mix every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** User u at home: their usual IP, browser and (for three in four) a device id the app sets. */
function homeContext(u: number): ContextInput {
  return {
    user: { id: `user-${u}`, groups: GROUPS[u % GROUPS.length] as string[] },
    ip: IPS[u % IPS.length] as string,
    user_agent: UAS[u % UAS.length] as string,
    ...(u % 4 !== 3 ? { device_id: `dev-${u}` } : {}),
  };
}

/**
 * One phase's bodies: ~85% a known or grace-period user at home, ~8% the same user from another network
 * (new location / new IP: a learning write or a challenge), ~4% from a second device (new device), ~3% a user
 * never seen before (named per phase, so the measured run has its own newcomers); a fifth carry an action, some
 * of them sensitive. A realistic spread for the geo and UA caches, the store's reads and its writes.
 */
function bodies(phase: string, seed: number): string[] {
  const rand = prng(seed);
  const out: string[] = [];
  for (let j = 0; j < POOL; j++) {
    const r = rand();
    let ctx: ContextInput;
    if (r < 0.03) {
      ctx = {
        user: { id: `new-${phase}-${j}`, groups: ['sales'] },
        ip: IPS[Math.floor(rand() * IPS.length)] as string,
        user_agent: UAS[Math.floor(rand() * UAS.length)] as string,
      };
    } else {
      const u = Math.floor(rand() * USERS);
      ctx = homeContext(u);
      if (r < 0.11) ctx.ip = IPS[(u + 1 + Math.floor(rand() * (IPS.length - 1))) % IPS.length] as string;
      else if (r < 0.15) {
        ctx.user_agent = UAS[(u + 1) % UAS.length] as string;
        ctx.device_id = `dev-${u}-b`;
      }
    }
    if (rand() < 0.2) ctx.action = ACTIONS[Math.floor(rand() * ACTIONS.length)] as string;
    out.push(JSON.stringify(ctx));
  }
  return out;
}

// ---- servers ---------------------------------------------------------------------------------------------------

function listen(fetch: (req: Request) => Response | Promise<Response>): Promise<{ server: ServerType; url: string }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve({ server, url: `http://127.0.0.1:${info.port}` }),
    );
  });
}

function close(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

/**
 * The service as `mfa-gate serve` (src/cli/serve.ts) builds it: policy holder (watching the file), metrics with
 * the default process metrics, openServices (SQLite store in a temp dir, keyring, engine, factor service), API
 * keys, the decision log to a file with the audit events in it, geo data preloaded, createApp. Logs go to stderr.
 */
async function realService(dir: string, databaseUrl?: string) {
  const logger = createLogger(pino.destination(2));
  const metrics = createMetrics();
  const holder = new PolicyHolder({ path: join(ROOT, 'policies/default.yaml'), log: logger, onReload: (r) => metrics.observeReload(r) });
  metrics.setPolicyVersion(holder.current.version);
  const decisionLogPath = join(dir, 'decisions.jsonl');
  const decisionLog = createDecisionLog({ destination: decisionLogPath });
  const audit = (e: Parameters<typeof decisionLog.audit>[0]) => {
    decisionLog.audit(e);
    metrics.observeAudit(e);
  };
  // notice: the "generated a new secret key" warning, expected in a fresh temp dir.
  const services = await openServices({
    dataDir: dir,
    ...(databaseUrl ? { databaseUrl } : {}),
    policy: () => holder.current,
    logger,
    audit,
    notice: () => {},
    env: { ...process.env, MFA_GATE_SECRET_KEY: BENCH_SECRET_KEY },
  });
  const apiKeys = loadApiKeys({ env: { MFA_GATE_API_KEYS: API_KEYS_ENV }, dataDir: dir });
  preloadGeoData();
  const decisions: Record<string, number> = {};
  const unexpected: unknown[] = [];
  const countDecision = (record: DecisionRecord) => {
    decisions[record.decision.decision] = (decisions[record.decision.decision] ?? 0) + 1;
  };
  /** The app as serve builds it, on `engine`, writing the decision log or (log: false) only counting. */
  const appWith = (engine: DecisionEngine, log = true) =>
    createApp({
      engine,
      factors: services.factors,
      outOfBand: services.outOfBand,
      store: services.store,
      keys: apiKeys.keys,
      keyring: services.keyring,
      policy: () => holder.current,
      policyError: () => holder.lastError,
      metrics,
      trustedProxies: compileNetworkList([]),
      onDecision: log
        ? (record) => {
            decisionLog.write(record);
            countDecision(record);
          }
        : countDecision,
      logError: (err, requestId) => {
        unexpected.push(err);
        logger.error({ err, request_id: requestId }, 'unexpected error');
      },
    });
  const app = appWith(services.engine);
  return {
    app,
    appWith,
    policy: () => holder.current,
    ...services,
    decisions,
    unexpected,
    decisionLog,
    decisionLogPath,
    close: async () => {
      holder.close();
      await Promise.allSettled([services.store.close(), decisionLog.close()]);
    },
  };
}

/** Users 0..KNOWN-1: enrolled, and their home device and location learned through a completed challenge. */
async function seedKnownUsers(service: Service): Promise<void> {
  const now = Date.now();
  for (let u = 0; u < KNOWN; u++) {
    const ctx = homeContext(u);
    await service.store.setEnrolled(ctx.user.id, now - 90 * 24 * 3600 * 1000);
    const record = await service.engine.decideDetailed(ctx);
    if (record.decision.challenge_id !== undefined) await service.engine.completeChallenge(record.decision.challenge_id);
  }
}

// ---- load ------------------------------------------------------------------------------------------------------

interface LoadOptions {
  connections: number;
  warmupSeconds: number;
  seconds: number;
  headers: Record<string, string>;
  bodiesFile: string;
}

interface LoadRun {
  warmup: LoadSummary;
  measured: LoadSummary;
  /** This process's CPU time (all threads: the event loop, libuv's pool, GC) over the measured run, in µs. */
  cpu_us: number;
}

/** This process's CPU time so far (all threads), µs. */
const ownCpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * Runs bench/http-load.ts against `url`; `onMeasuring` is called when its warm-up is over. `cpu` reads the
 * server's CPU time (µs): this process's for the servers it runs itself, a process tree's for `serve --workers`.
 */
function load(url: string, options: LoadOptions, onMeasuring: () => void = () => {}, cpu: () => number = ownCpu) {
  return new Promise<LoadRun>((resolve, reject) => {
    let cpuFrom: number | null = null;
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'http-load.ts'), url, JSON.stringify(options)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('message', (m: { phase?: string }) => {
      if (m.phase !== 'measured') return;
      cpuFrom = cpu();
      onMeasuring();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const cpuTo = cpu();
      if (code !== 0) return reject(new Error(`bench/http-load.ts exited with ${code}`));
      if (cpuFrom === null) return reject(new Error('bench/http-load.ts never said its warm-up was over'));
      try {
        resolve({ ...(JSON.parse(out) as { warmup: LoadSummary; measured: LoadSummary }), cpu_us: cpuTo - cpuFrom });
      } catch (err) {
        reject(new Error(`bench/http-load.ts printed no result: ${(err as Error).message}\n${out}`));
      }
    });
  });
}

function assertClean(name: string, phase: string, s: LoadSummary): void {
  if (s.non2xx !== 0 || s.errors !== 0 || s.timeouts !== 0 || s.total === 0) {
    throw new Error(
      `HTTP bench: ${name} ${phase} run was not clean: ${s.total} responses, ${s.non2xx} non-2xx, ${s.errors} errors, ` +
        `${s.timeouts} timeouts; status codes ${JSON.stringify(s.status_codes)}`,
    );
  }
}

/** The lines of a decision log, every one parsed (throws on one that is not JSON), and how many are decisions. */
async function readDecisionLog(path: string): Promise<{ lines: number; decisions: number }> {
  let lines = 0;
  let decisions = 0;
  let rest = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
    const parts = (rest + (chunk as string)).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      if (line === '') continue;
      lines++;
      let parsed: { type?: unknown };
      try {
        parsed = JSON.parse(line) as { type?: unknown };
      } catch {
        throw new Error(`HTTP bench: a torn decision log line in ${path}: ${line.slice(0, 200)}`);
      }
      if (parsed.type === 'decision') decisions++;
    }
  }
  if (rest !== '') throw new Error(`HTTP bench: ${path} ends in the middle of a line`);
  return { lines, decisions };
}

/** Whether PostgreSQL answers at `url` (the reason when it does not). */
async function postgresReason(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL at ${url} does not answer: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** One decide run on a seeded service: listen, probe, load. */
async function decideRun(service: Service, common: LoadOptions, servers: ServerType[]) {
  await seedKnownUsers(service);
  return loadApp(service, service.app, 'decide', common, servers);
}

/** Loads `POST /v1/decide` on `app` (built on `service`) after a probe; the measured run's outcomes counted. */
async function loadApp(service: Service, app: { fetch: (req: Request) => Response | Promise<Response> }, name: string, common: LoadOptions, servers: ServerType[]) {
  const real = await listen(app.fetch);
  servers.push(real.server);
  const probe = homeContext(1);
  const realProbe = await fetch(`${real.url}/v1/decide`, { method: 'POST', headers: { ...common.headers, 'content-type': 'application/json' }, body: JSON.stringify(probe) });
  const realBody = (await realProbe.json()) as { decision?: string };
  if (realProbe.status !== 200 || typeof realBody.decision !== 'string') throw new Error(`${name} probe: ${realProbe.status} ${JSON.stringify(realBody)}`);
  const loadBefore = loadavg()[0] as number;
  // The measured run's decisions: the counts when the child says its warm-up is over are subtracted.
  let measuredFrom: Record<string, number> = {};
  const run = await load(`${real.url}/v1/decide`, common, () => (measuredFrom = { ...service.decisions }));
  assertClean(name, 'warm-up', run.warmup);
  assertClean(name, 'measured', run.measured);
  if (service.unexpected.length > 0) throw new Error(`HTTP bench: ${service.unexpected.length} unexpected errors in the service`);
  const decisions: Record<string, number> = {};
  for (const [k, v] of Object.entries(service.decisions)) decisions[k] = v - (measuredFrom[k] ?? 0);
  return { run, decisions, loadBefore };
}

type Service = Awaited<ReturnType<typeof realService>>;

// ---- where a decision's CPU goes (--explain) -------------------------------------------------------------------

/** One ablation: the single-process decide run with parts of the work taken out, against the same bare run. */
export interface ExplainRun {
  name: string;
  /** What this run leaves out. */
  without: string;
  decide_rps: number;
  ratio: number;
  p99_ms: number;
  decide_cpu_us_per_req: number;
}

/**
 * The store as the engine sees it, minus its I/O: each user's state read once (the first time a user and device
 * are asked for) and answered from memory after; logins and challenges not written at all. A measuring tool
 * for --explain only: wrong as a store (it never learns anything), right for "what if the store cost nothing".
 */
function withoutStoreIo(store: Store): Store {
  const states = new Map<string, Promise<UserState>>();
  const done = Promise.resolve();
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'getUserState') {
        return (userId: string, deviceKey: string, now: number) => {
          const key = `${userId}\u0000${deviceKey}`;
          let state = states.get(key);
          if (state === undefined) states.set(key, (state = target.getUserState(userId, deviceKey, now)));
          return state;
        };
      }
      if (prop === 'recordLogin' || prop === 'createChallenge') return () => done;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The ablations behind the README's "where a decision's CPU goes", each a decide run of its own after the main
 * one on the same seeded SQLite store (the variants that write nothing leave it as it was):
 * the decision log left out; the store's I/O left out; both; and the engine too (one decision computed before
 * the run, answered to every request: HTTP, authentication, validation, metrics and the answer alone).
 */
async function explainRuns(service: Service, common: LoadOptions, bare: LoadSummary, servers: ServerType[], log: (line: string) => void): Promise<ExplainRun[]> {
  const engine = (store: Store) => new DecisionEngine({ store, policy: service.policy });
  const noIo = engine(withoutStoreIo(service.store));
  const canned = await service.engine.decideDetailed(homeContext(1));
  const noEngine = { decideDetailed: async () => canned } as unknown as DecisionEngine;
  const variants: Array<{ name: string; without: string; app: ReturnType<Service['appWith']> }> = [
    { name: 'no_decision_log', without: 'the decision log line', app: service.appWith(service.engine, false) },
    { name: 'no_store_io', without: "the store's reads and writes", app: service.appWith(noIo) },
    { name: 'no_store_io_no_log', without: "the store's reads and writes, the decision log line", app: service.appWith(noIo, false) },
    { name: 'no_engine_no_log', without: 'the engine (one decision answered to all), the store, the decision log line', app: service.appWith(noEngine, false) },
  ];
  const out: ExplainRun[] = [];
  for (const v of variants) {
    log(`http: explain: POST /v1/decide without ${v.without}`);
    const { run } = await loadApp(service, v.app, `decide without ${v.without}`, common, servers);
    const f = decideFigures(run, bare);
    out.push({ name: v.name, without: v.without, decide_rps: f.decide_rps, ratio: f.ratio, p99_ms: f.p99_ms, decide_cpu_us_per_req: f.decide_cpu_us_per_req });
  }
  return out;
}

// ---- worker processes ------------------------------------------------------------------------------------------

/** CPU time (user + system, µs) of process `root` and all its descendants so far, from /proc (Linux). */
function treeCpuUs(root: number): number {
  // USER_HZ: /proc/<pid>/stat counts clock ticks, 100 per second on Linux (sysconf(_SC_CLK_TCK)).
  const TICK_US = 10_000;
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // After "pid (comm) ": state ppid ... utime (14th field) stime (15th); comm may hold spaces, so cut at ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    procs.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
  }
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    total += procs.get(pid)?.ticks ?? 0;
    for (const [child, p] of procs) if (p.ppid === pid) todo.push(child);
  }
  return total * TICK_US;
}

interface ChildServer {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/** Starts `node <args>` and resolves once it prints `listening on http://...` (the serve banner, bare-server.ts). */
function startChildServer(args: string[], env: Record<string, string>): Promise<ChildServer> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`HTTP bench: ${args.join(' ')} did not listen within 60 s:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      // Keep draining both pipes: a full pipe would block the server's writes.
      child.stdout?.resume();
      resolve({
        url: m[1]!,
        pid: child.pid!,
        stop: async () => {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
          await exited;
          clearTimeout(t);
        },
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`HTTP bench: ${args.join(' ')} exited with ${code} before listening:\n${out}`));
    });
  });
}

/** `unix socket <dir>` or `tcp <host:port>`: how a connection string reaches PostgreSQL (never the password). */
function postgresVia(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const host = url.searchParams.get('host') ?? url.hostname;
  return host.startsWith('/') ? `unix socket ${host}` : `tcp ${host || 'localhost'}:${url.port || '5432'}`;
}

/** A fresh PostgreSQL schema for `fn`, dropped afterwards; `fn` gets the URL that selects it. */
async function withSchema<T>(databaseUrl: string, fn: (url: string, schema: string) => Promise<T>): Promise<T> {
  const schema = `mfa_gate_bench_${randomBytes(6).toString('hex')}`;
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  try {
    return await fn(url.toString(), schema);
  } finally {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
  }
}

/**
 * `mfa-gate serve --workers N` on a data directory (and database) seeded as the single-process run's, loaded
 * like it; checks its answers and that every decision reached the decision log.
 */
async function workersDecideRun(workers: number, common: LoadOptions, databaseUrl: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-bench-workers-'));
  try {
    const seeding = await realService(dir, databaseUrl);
    try {
      await seedKnownUsers(seeding);
    } finally {
      await seeding.close();
    }
    const decisionLogPath = join(dir, 'decisions-workers.jsonl');
    const server = await startChildServer(
      [
        join(ROOT, 'bin/mfa-gate.js'), 'serve', '--workers', String(workers), '--port', '0', '--data-dir', dir,
        '--policy', join(ROOT, 'policies/default.yaml'), '--decision-log', decisionLogPath,
        ...(databaseUrl ? ['--database-url', databaseUrl] : []),
      ],
      { MFA_GATE_API_KEYS: API_KEYS_ENV, MFA_GATE_SECRET_KEY: BENCH_SECRET_KEY, MFA_GATE_LOG_LEVEL: 'warn' },
    );
    let run: LoadRun;
    let loadBefore: number;
    try {
      const probe = await fetch(`${server.url}/v1/decide`, {
        method: 'POST',
        headers: { ...common.headers, 'content-type': 'application/json' },
        body: JSON.stringify(homeContext(1)),
      });
      const body = (await probe.json()) as { decision?: string };
      if (probe.status !== 200 || typeof body.decision !== 'string') throw new Error(`decide probe (workers): ${probe.status} ${JSON.stringify(body)}`);
      loadBefore = loadavg()[0] as number;
      run = await load(`${server.url}/v1/decide`, common, () => {}, () => treeCpuUs(server.pid));
    } finally {
      await server.stop();
    }
    assertClean(`decide (${workers} workers)`, 'warm-up', run.warmup);
    assertClean(`decide (${workers} workers)`, 'measured', run.measured);
    // The workers flush their decision logs when they stop: every answered decision is a line by now, and every
    // line parses (the workers append to one file; a torn line would not).
    const { decisions } = await readDecisionLog(decisionLogPath);
    const answered = run.warmup.total + run.measured.total;
    if (decisions < answered) throw new Error(`HTTP bench: ${answered} decisions answered by the workers but ${decisions} decision log lines`);
    return { run, loadBefore };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function workersRuns(
  workers: number,
  common: LoadOptions,
  databaseUrl: string | null,
  log: (line: string) => void,
): Promise<WorkersBenchResult> {
  log(`http: bare POST /echo, ${workers} worker processes: ${common.connections} connections, ${common.warmupSeconds}s warm-up + ${common.seconds}s`);
  const bareServer = await startChildServer(['--import', 'tsx', join(HERE, 'bare-server.ts'), String(workers)], {});
  let bareRun: LoadRun;
  const loadBare = loadavg()[0] as number;
  try {
    bareRun = await load(`${bareServer.url}/echo`, common, () => {}, () => treeCpuUs(bareServer.pid));
  } finally {
    await bareServer.stop();
  }
  assertClean(`bare (${workers} workers)`, 'warm-up', bareRun.warmup);
  assertClean(`bare (${workers} workers)`, 'measured', bareRun.measured);

  log(`http: mfa-gate serve --workers ${workers} (SQLite): seeding, then ${common.connections} connections, ${common.warmupSeconds}s warm-up + ${common.seconds}s`);
  const sqlite = await workersDecideRun(workers, common, undefined);

  let postgres: WorkersBenchResult['postgres'];
  if (databaseUrl === null) postgres = { skipped: 'no PostgreSQL run' };
  else {
    log(`http: mfa-gate serve --workers ${workers} (PostgreSQL): seeding, then ${common.connections} connections, ${common.warmupSeconds}s warm-up + ${common.seconds}s`);
    const { run } = await withSchema(databaseUrl, (url) => workersDecideRun(workers, common, url));
    postgres = decideFigures(run, bareRun.measured);
  }
  return {
    workers,
    ...pairFigures(bareRun, sqlite.run),
    loadavg_1m: { bare: round(loadBare, 2), decide: round(sqlite.loadBefore, 2) },
    postgres,
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function decideFigures(run: LoadRun, bare: LoadSummary): DecideFigures {
  const d = run.measured;
  return {
    decide_rps: round(d.rps, 1),
    ratio: round(d.rps / bare.rps, 3),
    p50_ms: d.p50_ms,
    p99_ms: d.p99_ms,
    p99_ratio: round(d.p99_ms / bare.p99_ms, 3),
    decide_cpu_us_per_req: round(run.cpu_us / d.total, 1),
    decide: d,
  };
}

function pairFigures(bareRun: LoadRun, decideRun: LoadRun): PairFigures {
  const b = bareRun.measured;
  return {
    bare_rps: round(b.rps, 1),
    bare_p50_ms: b.p50_ms,
    bare_p99_ms: b.p99_ms,
    bare_cpu_us_per_req: round(bareRun.cpu_us / b.total, 1),
    bare: b,
    ...decideFigures(decideRun, b),
  };
}

export async function runHttpBench({
  seconds = Number(process.env.BENCH_HTTP_SECONDS ?? 10),
  warmupSeconds = Number(process.env.BENCH_HTTP_WARMUP_SECONDS ?? 2),
  connections = 50,
  databaseUrl = process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL,
  workers = Number(process.env.BENCH_HTTP_WORKERS ?? availableParallelism()),
  explain = process.env.BENCH_HTTP_EXPLAIN === '1',
  log = (line) => process.stderr.write(`${line}\n`),
}: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`BENCH_HTTP_WORKERS must be a positive integer, got ${workers}`);
  const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-bench-http-'));
  const service = await realService(dir);
  const servers: ServerType[] = [];
  try {
    log(`http: seeding ${KNOWN} known users (of ${USERS}) into SQLite at ${dir}`);
    const bodiesFile = join(dir, 'bodies.json');
    writeFileSync(bodiesFile, JSON.stringify({ warmup: bodies('w', 1), measured: bodies('m', 2) }));

    const bare = await listen(bareApp().fetch);
    servers.push(bare.server);
    // One request before loading: the right answer, not just a 2xx.
    const probe = homeContext(1);
    const headers = { authorization: `Bearer ${API_KEY}` };
    const bareProbe = await fetch(`${bare.url}/echo`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(probe) });
    const bareBody = (await bareProbe.json()) as { user?: string };
    if (bareProbe.status !== 200 || bareBody.user !== probe.user.id) throw new Error(`bare probe: ${bareProbe.status} ${JSON.stringify(bareBody)}`);

    const common: LoadOptions = { connections, warmupSeconds, seconds, headers, bodiesFile };
    log(`http: bare POST /echo: ${connections} connections, ${warmupSeconds}s warm-up + ${seconds}s`);
    const loadBare = loadavg()[0] as number;
    const bareRun = await load(`${bare.url}/echo`, common);
    assertClean('bare', 'warm-up', bareRun.warmup);
    assertClean('bare', 'measured', bareRun.measured);

    log(`http: POST /v1/decide (SQLite): ${connections} connections, ${warmupSeconds}s warm-up + ${seconds}s`);
    const sqlite = await decideRun(service, common, servers);
    // Every decision so far has its line; the ablations without the log add decisions and no lines.
    const decided = Object.values(service.decisions).reduce((a, n) => a + n, 0);
    const explained: HttpBenchResult['explain'] = explain
      ? await explainRuns(service, common, bareRun.measured, servers, log)
      : { skipped: 'not asked for (--explain, or BENCH_HTTP_EXPLAIN=1)' };

    await service.decisionLog.flush();
    const { lines: decisionLogLines, decisions: loggedDecisions } = await readDecisionLog(service.decisionLogPath);
    const decisionLogBytes = statSync(service.decisionLogPath).size;
    if (loggedDecisions < decided) throw new Error(`HTTP bench: ${decided} decisions but ${loggedDecisions} decision log lines`);

    const b = bareRun.measured;
    let postgres: HttpBenchResult['postgres'];
    const reason = databaseUrl === null || databaseUrl === '' ? 'no database URL given (BENCH_DATABASE_URL is empty)' : await postgresReason(databaseUrl);
    if (reason !== null || databaseUrl === null) {
      postgres = { skipped: reason ?? 'no database URL given' };
      log(`http: PostgreSQL run skipped: ${postgres.skipped}`);
    } else {
      postgres = await postgresRun(databaseUrl, common, b, log);
    }
    // CPU per request of a process tree is read from /proc: Linux only.
    const workersResult: HttpBenchResult['workers'] =
      workers <= 1
        ? { skipped: 'one worker (BENCH_HTTP_WORKERS=1, or a single core)' }
        : !existsSync('/proc/self/stat')
          ? { skipped: 'no /proc here to read the worker processes\' CPU time from (Linux only)' }
          : await workersRuns(workers, common, 'skipped' in postgres ? null : (databaseUrl as string), log);
    return {
      ...pairFigures(bareRun, sqlite.run),
      connections,
      seconds,
      warmup_seconds: warmupSeconds,
      decisions: sqlite.decisions,
      decision_log_lines: decisionLogLines,
      loadavg_1m: { bare: round(loadBare, 2), decide: round(sqlite.loadBefore, 2) },
      decision_log_bytes: decisionLogBytes,
      postgres,
      workers: workersResult,
      explain: explained,
    };
  } finally {
    await Promise.all(servers.map(close));
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The decide run again on a PostgreSQL store in a fresh schema (dropped afterwards), against the bare run `bare`. */
async function postgresRun(databaseUrl: string, common: LoadOptions, bare: LoadSummary, log: (line: string) => void): Promise<PostgresBenchResult> {
  return withSchema(databaseUrl, async (url, schema) => {
    const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-bench-pg-'));
    const servers: ServerType[] = [];
    const service = await realService(dir, url);
    try {
      log(`http: POST /v1/decide (PostgreSQL, schema ${schema}): seeding, then ${common.connections} connections, ${common.warmupSeconds}s warm-up + ${common.seconds}s`);
      const { run, decisions, loadBefore } = await decideRun(service, common, servers);
      return { via: postgresVia(databaseUrl), ...decideFigures(run, bare), decisions, loadavg_1m: round(loadBefore, 2) };
    } finally {
      await Promise.all(servers.map(close));
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** One load run's line: req/s, latency and the number of requests. */
const row = (name: string, s: LoadSummary) =>
  `${name.padEnd(28)} ${int(s.rps).padStart(9)} req/s  p50 ${s.p50_ms.toFixed(1).padStart(5)} ms  p99 ${s.p99_ms.toFixed(1).padStart(5)} ms  max ${s.max_ms.toFixed(0).padStart(4)} ms  ${int(s.total).padStart(9)} requests`;

export function formatHttp(r: HttpBenchResult): string {
  const decided = Object.values(r.decisions).reduce((a, b) => a + b, 0);
  const mix = Object.entries(r.decisions)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${((100 * v) / decided).toFixed(1)}%`)
    .join(', ');
  return [
    `HTTP (autocannon in a child process, ${r.connections} connections, ${r.warmup_seconds}s warm-up discarded, ${r.seconds}s measured, each server alone)`,
    '',
    row('bare Hono POST /echo', r.bare),
    row('POST /v1/decide (SQLite)', r.decide),
    ...('skipped' in r.postgres ? [] : [row('POST /v1/decide (PostgreSQL)', r.postgres.decide), `  (PostgreSQL on this machine, over its ${r.postgres.via})`]),
    '',
    ...targetLines(r, r.postgres),
    `server CPU per request    bare ${r.bare_cpu_us_per_req.toFixed(0)} µs, decide ${r.decide_cpu_us_per_req.toFixed(0)} µs (ratio ${(r.bare_cpu_us_per_req / r.decide_cpu_us_per_req).toFixed(2)})`,
    ...formatExplain(r),
    ...formatWorkers(r.workers),
    `decisions (measured run)  ${mix}`,
    `decision log              ${int(r.decision_log_lines)} lines, ${(r.decision_log_bytes / 1e6).toFixed(0)} MB`,
    `load average (1 min)      ${r.loadavg_1m.bare.toFixed(2)} before bare, ${r.loadavg_1m.decide.toFixed(2)} before decide (${cpus().length} cores; other work skews the ratio)`,
  ].join('\n');
}

const verdict = (ok: boolean) => (ok ? 'ok' : 'BELOW TARGET');

/** The targets' lines for a SQLite decide run and its PostgreSQL run: each ratio against its target. */
function targetLines(sqlite: DecideFigures, postgres: DecideFigures | { skipped: string }): string[] {
  return [
    `req/s ratio decide/bare  ${sqlite.ratio.toFixed(2)}   target >= ${RATIO_TARGET} (aim ${RATIO_AIM}): ${verdict(sqlite.ratio >= RATIO_TARGET)}`,
    `p99 ratio decide/bare    ${sqlite.p99_ratio.toFixed(2)}   target <= ${P99_RATIO_TARGET}: ${verdict(sqlite.p99_ratio <= P99_RATIO_TARGET)}`,
    'skipped' in postgres
      ? `PostgreSQL                skipped: ${postgres.skipped}`
      : `PostgreSQL ratio          ${postgres.ratio.toFixed(2)}   target >= ${POSTGRES_RATIO_TARGET}: ${verdict(postgres.ratio >= POSTGRES_RATIO_TARGET)}   p99 ratio ${postgres.p99_ratio.toFixed(2)}, ${postgres.decide_cpu_us_per_req.toFixed(0)} µs CPU per request`,
  ];
}

function formatExplain(r: HttpBenchResult): string[] {
  if ('skipped' in r.explain) return [];
  const line = (name: string, rps: number, ratio: number, cpu: number) =>
    `  ${name.padEnd(74)} ${int(rps).padStart(7)} req/s  ratio ${ratio.toFixed(2)}  ${cpu.toFixed(0).padStart(4)} µs CPU`;
  return [
    '',
    'Where the CPU goes (the SQLite decide run again with parts left out, against the same bare run):',
    line('everything (the run above)', r.decide_rps, r.ratio, r.decide_cpu_us_per_req),
    ...r.explain.map((e) => line(`without ${e.without}`, e.decide_rps, e.ratio, e.decide_cpu_us_per_req)),
    line('bare route', r.bare_rps, 1, r.bare_cpu_us_per_req),
  ];
}

function formatWorkers(w: HttpBenchResult['workers']): string[] {
  if ('skipped' in w) return ['', `N worker processes        skipped: ${w.skipped}`];
  return [
    '',
    `The same with ${w.workers} worker processes on each side (mfa-gate serve --workers ${w.workers}; the bare route under node:cluster):`,
    '',
    row(`bare Hono POST /echo ×${w.workers}`, w.bare),
    row(`decide (SQLite) ×${w.workers}`, w.decide),
    ...('skipped' in w.postgres ? [] : [row(`decide (PostgreSQL) ×${w.workers}`, w.postgres.decide)]),
    '',
    ...targetLines(w, w.postgres),
    `server CPU per request    bare ${w.bare_cpu_us_per_req.toFixed(0)} µs, decide ${w.decide_cpu_us_per_req.toFixed(0)} µs (all processes)`,
    `load average (1 min)      ${w.loadavg_1m.bare.toFixed(2)} before bare, ${w.loadavg_1m.decide.toFixed(2)} before decide`,
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const json = process.argv.includes('--json');
  const result = await runHttpBench({ ...(process.argv.includes('--explain') ? { explain: true } : {}) });
  process.stdout.write(json ? `${JSON.stringify({ http: result })}\n` : `${formatHttp(result)}\n`);
}
