import { Hono } from 'hono';
import type { ContextInput } from '../../context.js';
import type { DecisionEngine } from '../../engine.js';
import { readJson } from '../body.js';

export function decideRoutes(engine: DecisionEngine) {
  return new Hono().post('/v1/decide', async (c) => {
    const input = await readJson<ContextInput>(c, 'context');
    return c.json(await engine.decide(input));
  });
}
