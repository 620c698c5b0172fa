// The Hono application, built from services made once at start (never per request).
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { DecisionEngine } from '../engine.js';
import { ErrorCode, MfaGateError } from '../errors.js';
import { MAX_BODY_BYTES } from './body.js';
import { errorResponse, fromError, notFound } from './errors.js';
import { decideRoutes } from './routes/decide.js';
import { healthRoutes } from './routes/health.js';

export interface AppServices {
  engine: DecisionEngine;
  /** Where unexpected errors go (never request bodies: they may hold codes). */
  logError?: (err: unknown, requestId: string) => void;
}

export function createApp({ engine, logError = (err, id) => console.error(`request ${id}:`, err) }: AppServices) {
  const app = new Hono();
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => errorResponse(c, 413, ErrorCode.PAYLOAD_TOO_LARGE, `the body is larger than ${MAX_BODY_BYTES} bytes`),
    }),
  );
  app.route('/', healthRoutes(engine));
  app.route('/', decideRoutes(engine));
  app.notFound(notFound);
  app.onError((err, c) => {
    if (err instanceof MfaGateError && err.status < 500) return fromError(c, err);
    const requestId = randomUUID();
    logError(err, requestId);
    return errorResponse(c, 500, ErrorCode.INTERNAL, `unexpected error; request id ${requestId}`, [{ request_id: requestId }]);
  });
  return app;
}
