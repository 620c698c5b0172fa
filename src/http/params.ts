// Path parameters checked against the schemas the route table documents for them, so a 4 KiB "user id"
// in a URL is a 400 like the same id in a body.
import { createMiddleware } from 'hono/factory';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { ErrorCode, MfaGateError } from '../errors.js';
import { sharedAjv } from '../policy/index.js';
import { validator } from '../schemas.js';
import { route } from './route-table.js';

export function validParams(routeId: string) {
  validator('common'); // registers schemas/ on the shared ajv, so the $refs below resolve
  const checks: [string, ValidateFunction][] = (route(routeId).params ?? []).map((p) => {
    const v = sharedAjv().getSchema(p.schema);
    if (!v) throw new Error(`route ${routeId}: no schema ${p.schema}`);
    return [p.name, v];
  });
  return createMiddleware(async (c, next) => {
    const details = checks
      .filter(([name, v]) => !v(c.req.param(name)))
      .map(([name, v]) => ({ path: `/${name}`, message: v.errors?.[0]?.message ?? 'is invalid' }));
    if (details.length > 0) {
      throw new MfaGateError(ErrorCode.VALIDATION_FAILED, `invalid path parameter: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
    }
    await next();
  });
}
