import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import type { ContextInput } from '../../context.js';
import { decisionJson } from '../../decision-log.js';
import type { DecisionEngine, DecisionRecord } from '../../engine.js';
import type { NetworkList } from '../../policy/types.js';
import { requireScope, type ApiKeyring, type AuthVariables } from '../auth.js';
import { readJson } from '../body.js';
import { clientIpFromProxy } from '../client-ip.js';
import type { Metrics } from '../metrics.js';
import { turnEndOnSocket } from '../turn.js';

export interface DecideRouteOptions {
  engine: DecisionEngine;
  keys: ApiKeyring;
  trustedProxies: NetworkList;
  metrics?: Metrics;
  /** Every decision, for the decision log. */
  onDecision?: (record: DecisionRecord) => void;
}

/** The TCP peer, when the app runs on @hono/node-server (not under app.request in tests). */
export function peerAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

// What c.json(decision) sends, built once instead of per answer.
const JSON_HEADERS = Object.freeze({ 'Content-Type': 'application/json' });

export function decideRoutes({ engine, keys, trustedProxies, metrics, onDecision }: DecideRouteOptions) {
  return new Hono<{ Variables: AuthVariables }>().post('/v1/decide', requireScope(keys, 'decide'), async (c) => {
    const input = await readJson<ContextInput>(c, 'context');
    // The caller knows the end user's IP and sends it; only when it does not, and a trusted proxy forwarded
    // the request, does X-Forwarded-For say it. Never the peer's own address.
    if (input.ip === undefined) input.ip = clientIpFromProxy(peerAddress(c), c.req.header('x-forwarded-for'), trustedProxies);
    const record = await engine.decideDetailed(input);
    metrics?.observeDecision(record.decision, record.latency_ms / 1000);
    // The answer first: decisionJson keeps the parts the decision log line repeats (signals, reasons,
    // enrollment) for the onDecision call right after, so they are serialised once.
    const body = decisionJson(record);
    onDecision?.(record);
    // Sent with the rest of this event-loop turn's answers (src/http/turn.ts).
    const turnEnd = turnEndOnSocket(c);
    if (turnEnd) await turnEnd;
    return c.body(body, 200, JSON_HEADERS);
  });
}
