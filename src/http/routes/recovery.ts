// Recovery requests (admin opens, the user cancels with a current factor) and admin actions.
import { Hono } from 'hono';
import type { FactorService } from '../../factors/service.js';
import { requireScope, type ApiKeyring, type AuthVariables } from '../auth.js';
import { readEmptyBody, readJson } from '../body.js';
import { failureResponse } from '../outcome.js';
import { validParams } from '../params.js';
import { route } from '../route-table.js';
import { recoveryJson } from './users.js';

export function recoveryRoutes(factors: FactorService, keys: ApiKeyring) {
  const admin = requireScope(keys, 'admin');
  const unlockBody = route('unlockUser').emptyBody!;
  return new Hono<{ Variables: AuthVariables }>()
    .post('/v1/recovery', admin, async (c) => {
      const r = await factors.openRecovery(await readJson<{ user_id: string; verified_by: string; verification: string }>(c, 'recovery-request'));
      return r.ok ? c.json(recoveryJson(r.recovery), 201) : failureResponse(c, r);
    })
    .delete('/v1/recovery/:id', requireScope(keys, 'mfa'), validParams('cancelRecovery'), async (c) => {
      const req = await readJson<{ code: string; ip?: string | null }>(c, 'recovery-cancel-request');
      const r = await factors.cancelRecovery({ id: c.req.param('id'), ...req });
      return r.ok ? c.json(recoveryJson(r.recovery)) : failureResponse(c, r);
    })
    .post('/v1/admin/users/:id/unlock', admin, validParams('unlockUser'), async (c) => {
      await readEmptyBody(c, unlockBody);
      const cleared = await factors.unlock(c.req.param('id'), `api-key:${c.get('apiKeyId')}`);
      return c.json({ unlocked: true, cleared });
    })
    .post('/v1/admin/users/:id/approve-enrollment', admin, validParams('approveEnrollment'), async (c) => {
      const req = await readJson<{ approved_by: string }>(c, 'approve-enrollment-request');
      const r = await factors.approveEnrollment({ user_id: c.req.param('id'), approved_by: req.approved_by });
      return r.ok ? c.json({ approved: true, expires_at: new Date(r.expires_at).toISOString() }) : failureResponse(c, r);
    });
}
