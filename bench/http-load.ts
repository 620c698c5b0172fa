// The load generator of the HTTP benchmark (bench/http.ts), run as a CHILD process:
//   node --import tsx bench/http-load.ts <url> <options-json>
// autocannon in the server's own process would share its event loop: every response parsed and every request
// written by the client would be time the server's loop cannot serve, and the client's timers would measure the
// server's queueing plus its own. In a separate process the server's loop only serves; the two processes still
// share the machine's cores, as a load generator next to the service would.
//
// Options: { connections, warmupSeconds, seconds, headers, bodiesFile }. bodiesFile holds
// { warmup: string[], measured: string[] }, JSON bodies POSTed in that phase. Connection k sends the bodies
// whose index is k modulo the connection count, over and over: all requests are built once (no per-request
// setupRequest cost in the client), and the connections do not walk the same users in lockstep.
// Prints one JSON line on stdout: { warmup: Summary, measured: Summary }; with an IPC channel, sends
// { phase: 'measured' } to the parent between the two runs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface LoadOptions {
  connections: number;
  warmupSeconds: number;
  seconds: number;
  headers: Record<string, string>;
  bodiesFile: string;
}

interface RequestSpec {
  method: 'POST';
  body: string;
}

interface AutocannonClient {
  setRequests(requests: RequestSpec[]): void;
}

interface Histogram {
  average: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface AutocannonResult {
  requests: Histogram & { total: number; sent: number };
  latency: Histogram;
  throughput: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  '2xx': number;
  statusCodeStats?: Record<string, { count: number }>;
}

interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  method: 'POST';
  headers: Record<string, string>;
  requests: RequestSpec[];
  setupClient: (client: AutocannonClient) => void;
}

export interface LoadSummary {
  rps: number;
  /** Requests completed, all status codes. */
  total: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  status_codes: Record<string, number>;
  duration_s: number;
}

// autocannon ships no type declarations (and @types/autocannon is not a dependency): typed here, for the fields used.
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: AutocannonOptions) => Promise<AutocannonResult>;

function summarise(r: AutocannonResult): LoadSummary {
  const status_codes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) status_codes[code] = count;
  return {
    rps: r.requests.mean,
    total: r.requests.total,
    p50_ms: r.latency.p50,
    p90_ms: r.latency.p90,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    mean_ms: r.latency.mean,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    status_codes,
    duration_s: r.duration,
  };
}

async function run(url: string, o: LoadOptions, bodies: string[], seconds: number): Promise<LoadSummary> {
  const perClient = Array.from({ length: o.connections }, (_, k) =>
    bodies.filter((_, i) => i % o.connections === k).map((body): RequestSpec => ({ method: 'POST', body })),
  );
  let next = 0;
  const result = await autocannon({
    url,
    connections: o.connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...o.headers },
    // Replaced per client by setupClient; autocannon builds these before calling it.
    requests: [{ method: 'POST', body: bodies[0] as string }],
    setupClient: (client) => client.setRequests(perClient[next++ % o.connections] as RequestSpec[]),
  });
  return summarise(result);
}

async function main(): Promise<void> {
  const [url, json] = process.argv.slice(2);
  if (!url || !json) throw new Error('usage: node --import tsx bench/http-load.ts <url> <options-json>');
  const options = JSON.parse(json) as LoadOptions;
  const bodies = JSON.parse(readFileSync(options.bodiesFile, 'utf8')) as { warmup: string[]; measured: string[] };
  const warmup = await run(url, options, bodies.warmup, options.warmupSeconds);
  // Tells the parent (when it gave an IPC channel) that what it serves from now on is the measured run.
  process.send?.({ phase: 'measured' });
  const measured = await run(url, options, bodies.measured, options.seconds);
  process.stdout.write(`${JSON.stringify({ warmup, measured })}\n`);
  if (process.connected) process.disconnect();
}

await main();
