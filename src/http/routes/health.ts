// Liveness, readiness, metrics and the API document: the only routes without an API key.
import { Hono } from 'hono';
import type { CompiledPolicy } from '../../policy/types.js';
import type { Store } from '../../store/types.js';
import type { Metrics } from '../metrics.js';
import { errorResponse } from '../errors.js';
import { buildOpenApi } from '../openapi.js';
import { HttpErrorCode } from '../route-table.js';

export interface HealthRouteOptions {
  store: Store;
  policy: () => CompiledPolicy;
  /** The last failed policy reload, if the newest edit was rejected (the previous policy still serves). */
  policyError?: () => { message: string } | null;
  metrics?: Metrics;
}

export function healthRoutes({ store, policy, policyError = () => null, metrics }: HealthRouteOptions) {
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok', policy: { version: policy().version } }))
    .get('/readyz', async (c) => {
      let storeCheck: { ok: boolean; error?: string } = { ok: true };
      try {
        await store.ping();
      } catch (err) {
        storeCheck = { ok: false, error: (err as Error).message };
      }
      const reload = policyError();
      const policyCheck = { ok: reload === null, version: policy().version, ...(reload ? { error: reload.message } : {}) };
      const ready = storeCheck.ok && policyCheck.ok;
      return c.json({ status: ready ? 'ready' : 'not_ready', checks: { store: storeCheck, policy: policyCheck } }, ready ? 200 : 503);
    })
    .get('/metrics', async (c) => {
      if (!metrics) return c.text('', 404);
      let text: string;
      try {
        text = await metrics.scrape();
      } catch (err) {
        // Under `serve --workers`, the primary gathers the workers' metrics; a scrape it cannot answer is a 503
        // (try again), not an unexpected 500.
        return errorResponse(c, 503, HttpErrorCode.METRICS_UNAVAILABLE, (err as Error).message);
      }
      return c.body(text, 200, { 'content-type': metrics.registry.contentType });
    })
    .get('/openapi.json', (c) => c.json(buildOpenApi()));
}
