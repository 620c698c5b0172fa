// `/metrics` under `serve --workers N`: each worker process counts only its own requests, and a scrape reaches
// one worker at random, so the worker that answers asks the primary process, which asks every worker that is
// serving for its registry (as JSON), merges them with prom-client's AggregatorRegistry.aggregate and sends back
// the text. Each worker's series carry a `worker` label (its slot): when a worker restarts, its counters start
// again from zero as a series of their own, which Prometheus reads as the counter reset it is; summed with the
// others' they would drop, and rate() would show a false spike. Sum over `worker` in PromQL for the service.
//
// Not prom-client's clusterMetrics(): it asks every connected worker, including one still loading its modules
// after a restart, so a scrape during a restart waited 5 s and failed; and it never forgets a request that
// timed out. Here only workers that have listened are asked, with a timeout of our own, and concurrent scrapes
// share one gathering.
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';

const SCRAPE = 'mfa-gate:metrics-scrape';
const SCRAPED = 'mfa-gate:metrics-scraped';
const COLLECT = 'mfa-gate:metrics-collect';
const COLLECTED = 'mfa-gate:metrics-collected';
/** How long the primary waits for every serving worker's registry. */
export const COLLECT_TIMEOUT_MS = 3000;
/** How long a worker waits for the primary's answer (the primary's own wait, plus margin). */
export const SCRAPE_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 2000;

interface Message {
  type?: string;
  id?: string;
  text?: string;
  error?: string;
  metrics?: unknown;
}

type Pending<T> = Map<string, { resolve: (value: T) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>;

function ask<T>(pending: Pending<T>, send: (id: string) => void, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const id = randomUUID();
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`${what} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, { resolve, reject, timer });
    send(id);
  });
}

function settle<T>(pending: Pending<T>, id: string | undefined, result: { value: T } | { error: string }): void {
  const p = id === undefined ? undefined : pending.get(id);
  if (!p || id === undefined) return;
  pending.delete(id);
  clearTimeout(p.timer);
  if ('value' in result) p.resolve(result.value);
  else p.reject(new Error(result.error));
}

/**
 * In a worker: labels `registry` with the worker's slot, answers the primary's collection requests with it, and
 * returns the scrape function that asks the primary for every worker's metrics. Rejects when it cannot.
 */
export function workerScrape(registry: Registry, slot: number, timeoutMs = SCRAPE_TIMEOUT_MS): () => Promise<string> {
  if (!cluster.isWorker || typeof process.send !== 'function') throw new Error('workerScrape runs only in a cluster worker');
  registry.setDefaultLabels({ worker: String(slot) });
  const pending: Pending<string> = new Map();
  process.on('message', (m: Message) => {
    if (m?.type === COLLECT) {
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: COLLECTED, id: m.id, metrics }),
        (err: Error) => process.send?.({ type: COLLECTED, id: m.id, error: err.message }),
      );
    } else if (m?.type === SCRAPED) {
      settle(pending, m.id, typeof m.text === 'string' ? { value: m.text } : { error: `the primary process could not gather the workers' metrics: ${m.error ?? 'no answer'}` });
    }
  });
  return () => ask(pending, (id) => process.send!({ type: SCRAPE, id }), timeoutMs, 'the primary process');
}

/**
 * In the primary: answers the workers' scrapes with the metrics of every worker in `serving()` (the workers that
 * have listened and not exited), merged.
 */
export function serveWorkerScrapes(serving: () => readonly Worker[], timeoutMs = COLLECT_TIMEOUT_MS): () => void {
  const pending: Pending<unknown> = new Map();
  let gathering: Promise<string> | null = null;
  const gather = async (): Promise<string> => {
    const workers = serving().filter((w) => w.isConnected());
    const parts = await Promise.all(
      workers.map((w) => ask(pending, (id) => w.send({ type: COLLECT, id }), timeoutMs, `worker ${w.id}`)),
    );
    return AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  };
  const onMessage = (worker: Worker, m: Message) => {
    if (m?.type === COLLECTED) {
      settle(pending, m.id, m.error === undefined ? { value: m.metrics } : { error: m.error });
      return;
    }
    if (m?.type !== SCRAPE) return;
    const id = m.id;
    // Scrapes that arrive together share one gathering: each costs every worker a serialisation.
    gathering ??= gather().finally(() => (gathering = null));
    gathering.then(
      (text) => worker.isConnected() && worker.send({ type: SCRAPED, id, text }),
      (err: Error) => worker.isConnected() && worker.send({ type: SCRAPED, id, error: err.message }),
    );
  };
  cluster.on('message', onMessage);
  return () => {
    cluster.off('message', onMessage);
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
    }
  };
}
