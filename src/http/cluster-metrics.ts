// `/metrics` under `serve --workers N`: each worker process counts only its own requests, and a scrape reaches
// one worker at random, so the worker that answers asks the primary process, which gathers every worker's
// registry with prom-client's AggregatorRegistry (counters and histograms summed; gauges by their `aggregator`)
// and sends back the text. One scrape then shows the whole service, as with one process.
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'mfa-gate:metrics-request';
const RESPONSE = 'mfa-gate:metrics-response';
/** prom-client's own wait for every worker's registry is 5 s; a little more here so its error arrives first. */
export const CLUSTER_SCRAPE_TIMEOUT_MS = 6000;

interface ScrapeRequest {
  type: typeof REQUEST;
  id: string;
}
interface ScrapeResponse {
  type: typeof RESPONSE;
  id: string;
  text?: string;
  error?: string;
}

/**
 * In a worker: registers `registry` as the one the primary collects, and returns the scrape function that asks
 * the primary for the aggregated text. Rejects when the primary does not answer in time.
 */
export function workerScrape(registry: Registry, timeoutMs = CLUSTER_SCRAPE_TIMEOUT_MS): () => Promise<string> {
  if (!cluster.isWorker || typeof process.send !== 'function') throw new Error('workerScrape runs only in a cluster worker');
  // Constructing one is what installs prom-client's worker-side listener that answers the primary's collection.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<string, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  process.on('message', (m: Partial<ScrapeResponse>) => {
    if (m?.type !== RESPONSE || typeof m.id !== 'string') return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (typeof m.text === 'string') p.resolve(m.text);
    else p.reject(new Error(`the primary process could not gather the workers' metrics: ${m.error ?? 'no answer'}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the primary process did not send the workers' metrics within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      process.send!({ type: REQUEST, id } satisfies ScrapeRequest);
    });
}

/** In the primary: answers the workers' scrape requests with every worker's metrics, aggregated. */
export function serveWorkerScrapes(): () => void {
  const aggregator = new AggregatorRegistry();
  const onMessage = (worker: Worker, m: Partial<ScrapeRequest>) => {
    if (m?.type !== REQUEST || typeof m.id !== 'string') return;
    const id = m.id;
    const reply = (r: Omit<ScrapeResponse, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: RESPONSE, id, ...r } satisfies ScrapeResponse);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: Error) => reply({ error: err.message }),
    );
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}
