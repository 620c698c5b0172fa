import { Hono } from 'hono';
import type { DecisionEngine } from '../../engine.js';

export function healthRoutes(engine: DecisionEngine) {
  return new Hono().get('/healthz', (c) => c.json({ status: 'ok', policy: { version: engine.policy.version } }));
}
