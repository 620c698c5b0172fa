// The factor API: TOTP enrollment and confirmation, verification (completing a challenge), new backup codes.
// The out-of-band factors' own routes are in out-of-band.ts; a code sent by message is verified here.
import { Hono } from 'hono';
import type { OutOfBandService } from '../../factors/out-of-band.js';
import type { FactorService } from '../../factors/service.js';
import type { Metrics } from '../metrics.js';
import { requireScope, type ApiKeyring, type AuthVariables } from '../auth.js';
import { readJson } from '../body.js';
import { body, failureResponse } from '../outcome.js';

interface EnrollBody { user_id: string; account_name?: string; issuer?: string; challenge_id?: string; code?: string; ip?: string | null }
interface CodeBody { user_id: string; code: string; challenge_id?: string; ip?: string | null }
interface VerifyBody extends CodeBody { factor?: 'totp' | 'backup_code' | 'message' }

export function mfaRoutes(factors: FactorService, outOfBand: OutOfBandService, keys: ApiKeyring, metrics?: Metrics) {
  const throttled = (error: string, code: string, factor?: 'message') => {
    if (error === 'too_many_attempts' || error === 'factor_locked') {
      const label = factor ?? (/^\s*\d{3}\s?\d{3}\s*$/.test(code) ? 'totp' : 'backup_code');
      metrics?.observeThrottled(label, error === 'factor_locked' ? 'locked' : 'throttled');
    }
  };
  return new Hono<{ Variables: AuthVariables }>()
    .use('/v1/mfa/*', requireScope(keys, 'mfa'))
    .post('/v1/mfa/totp/enroll', async (c) => {
      const r = await factors.enrollTotp(await readJson<EnrollBody>(c, 'enroll-request'));
      return r.ok ? c.json(body(r)) : failureResponse(c, r);
    })
    .post('/v1/mfa/totp/confirm', async (c) => {
      const req = await readJson<CodeBody>(c, 'confirm-request');
      const r = await factors.confirmTotp(req);
      if (!r.ok) throttled(r.error, req.code);
      return r.ok ? c.json(body(r)) : failureResponse(c, r);
    })
    .post('/v1/mfa/verify', async (c) => {
      const { factor, ...req } = await readJson<VerifyBody>(c, 'verify-request');
      // `message`: a code sent by message; otherwise the code's shape tells TOTP from a backup code, as before.
      const r = factor === 'message' ? await outOfBand.verifyMessageCode(req) : await factors.verify(req);
      if (!r.ok) throttled(r.error, req.code, factor === 'message' ? 'message' : undefined);
      return r.ok ? c.json(r) : failureResponse(c, r);
    })
    .post('/v1/mfa/backup-codes/regenerate', async (c) => {
      const req = await readJson<CodeBody>(c, 'regenerate-request');
      const r = await factors.regenerateBackupCodes(req);
      if (!r.ok) throttled(r.error, req.code);
      return r.ok ? c.json(body(r)) : failureResponse(c, r);
    });
}
