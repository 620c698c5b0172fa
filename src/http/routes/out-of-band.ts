// The out-of-band factors' API (issue #7): codes by message (a destination enrolled and confirmed, codes sent for
// a challenge) and push approval (devices registered, pushes sent, answered by the device, followed by the
// sign-in screen, with long polling). The service decides (src/factors/out-of-band.ts); this file reads the
// bodies, answers the documented statuses and writes times as ISO 8601. POST /v1/mfa/verify (routes/mfa.ts)
// verifies a code sent by message.
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { OutOfBandService } from '../../factors/out-of-band.js';
import type { MessageChannel } from '../../store/types.js';
import { ErrorCode, MfaGateError } from '../../errors.js';
import { sharedAjv } from '../../policy/index.js';
import { validator } from '../../schemas.js';
import { requireScope, type ApiKeyring, type AuthVariables } from '../auth.js';
import { readJson } from '../body.js';
import type { Metrics } from '../metrics.js';
import { body, failureResponse } from '../outcome.js';
import { validParams } from '../params.js';
import { route, type QueryParam } from '../route-table.js';

interface MessageEnrollBody { user_id: string; channel: MessageChannel; address: string; code?: string; challenge_id?: string; ip?: string | null }
interface MessageConfirmBody { user_id: string; code: string; ip?: string | null }
interface MessageSendBody { user_id: string; challenge_id?: string; ip?: string | null }
interface PushDeviceBody { user_id: string; device_id: string; public_key: string; name: string; code?: string; challenge_id?: string; ip?: string | null }
interface PushStartBody { user_id: string; challenge_id?: string; device_id?: string; ip?: string | null }
interface PushRespondBody { device_id: string; decision: 'approve' | 'deny'; number: number; signature: string }

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The routes, each behind the `mfa` scope. Mounted before mfaRoutes (whose `/v1/mfa/*` check would otherwise
 * run too): a request is authenticated once, here.
 */
export function outOfBandRoutes(outOfBand: OutOfBandService, keys: ApiKeyring, metrics?: Metrics) {
  const mfa = requireScope(keys, 'mfa');
  const throttled = (factor: 'message' | 'push', error: string) => {
    if (error === 'too_many_attempts' || error === 'factor_locked') metrics?.observeThrottled(factor, error === 'factor_locked' ? 'locked' : 'throttled');
  };
  return new Hono<{ Variables: AuthVariables }>()
    .use('/v1/mfa/message/*', mfa)
    .use('/v1/mfa/push/*', mfa)
    .use('/v1/mfa/push-devices', mfa)
    .post('/v1/mfa/message/enroll', async (c) => {
      const r = await outOfBand.enrollMessage(await readJson<MessageEnrollBody>(c, 'message-enroll-request'));
      if (!r.ok) return failureResponse(c, r);
      return c.json({ ...body(r), expires_at: iso(r.expires_at) });
    })
    .post('/v1/mfa/message/confirm', async (c) => {
      const r = await outOfBand.confirmMessage(await readJson<MessageConfirmBody>(c, 'message-confirm-request'));
      if (!r.ok) throttled('message', r.error);
      return r.ok ? c.json(body(r)) : failureResponse(c, r);
    })
    .post('/v1/mfa/message/send', async (c) => {
      const r = await outOfBand.sendMessageCode(await readJson<MessageSendBody>(c, 'message-send-request'));
      if (!r.ok) {
        throttled('message', r.error);
        return failureResponse(c, r);
      }
      return c.json({ ...body(r), expires_at: iso(r.expires_at) });
    })
    .post('/v1/mfa/push-devices', async (c) => {
      const r = await outOfBand.registerPushDevice(await readJson<PushDeviceBody>(c, 'push-device-request'));
      return r.ok ? c.json(body(r)) : failureResponse(c, r);
    })
    .post('/v1/mfa/push', async (c) => {
      const r = await outOfBand.startPush(await readJson<PushStartBody>(c, 'push-start-request'));
      if (!r.ok) {
        throttled('push', r.error);
        return failureResponse(c, r);
      }
      return c.json({ ...body(r), expires_at: iso(r.expires_at) });
    })
    .post('/v1/mfa/push/:id/respond', validParams('respondPush'), async (c) => {
      const req = await readJson<PushRespondBody>(c, 'push-respond-request');
      const r = await outOfBand.respondPush({ id: c.req.param('id'), ...req });
      return r.ok ? c.json(body(r)) : failureResponse(c, r);
    })
    .get('/v1/mfa/push/:id', validParams('getPush'), validQuery('getPush'), async (c) => {
      const wait = (c.get('query') as { wait?: number }).wait ?? 0;
      const r = await outOfBand.pushStatus(c.req.param('id'), wait * 1000, c.req.raw.signal);
      if (!r.ok) return failureResponse(c, r);
      return c.json({ ...body(r), expires_at: iso(r.expires_at) });
    });
}

/**
 * The route's query parameters (QueryParam) checked against their schemas, as validParams checks path
 * parameters: a 400 validation_failed otherwise. A decimal value is read as a number (query strings are text),
 * a repeated parameter is refused (which one would count?), unknown ones are ignored. The values checked are
 * left in `c.get('query')`.
 */
function validQuery(routeId: string) {
  validator('common'); // registers schemas/ on the shared ajv, so the $refs below resolve
  const checks: [QueryParam, ValidateFunction][] = (route(routeId).query ?? []).map((q) => {
    if (!('schema' in q)) throw new Error(`route ${routeId}: query parameter ${q.name} has no schema`);
    const v = sharedAjv().getSchema(q.schema);
    if (!v) throw new Error(`route ${routeId}: no schema ${q.schema}`);
    return [q, v];
  });
  return createMiddleware<{ Variables: { query: Record<string, unknown> } }>(async (c, next) => {
    const values: Record<string, unknown> = {};
    const details: { path: string; message: string }[] = [];
    for (const [q, v] of checks) {
      const given = c.req.queries(q.name) ?? [];
      if (given.length === 0) {
        if (q.required) details.push({ path: `/${q.name}`, message: 'is required' });
        continue;
      }
      if (given.length > 1) {
        details.push({ path: `/${q.name}`, message: 'must be given once' });
        continue;
      }
      const raw = given[0]!;
      const value = /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
      if (v(value)) values[q.name] = value;
      else details.push({ path: `/${q.name}`, message: v.errors?.[0]?.message ?? 'is invalid' });
    }
    if (details.length > 0) {
      throw new MfaGateError(ErrorCode.VALIDATION_FAILED, `invalid query parameter: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
    }
    c.set('query', values);
    await next();
  });
}
