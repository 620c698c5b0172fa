// A user's MFA state and known devices.
import { Hono } from 'hono';
import type { Keyring } from '../../factors/crypto.js';
import { maskAddress } from '../../factors/message/index.js';
import { destinationAad } from '../../factors/notify.js';
import { userSubject } from '../../store/subjects.js';
import type { RecoveryRecord, Store, UserSummary } from '../../store/types.js';
import { requireScope, type ApiKeyring, type AuthVariables } from '../auth.js';
import { errorResponse } from '../errors.js';
import { validParams } from '../params.js';
import { HttpErrorCode } from '../route-table.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function recoveryJson(r: RecoveryRecord) {
  return {
    ...r,
    opened_at: iso(r.opened_at),
    effective_at: iso(r.effective_at),
    cancelled_at: iso(r.cancelled_at),
    applied_at: iso(r.applied_at),
  };
}

/** The confirmed message destination as shown: masked, never the address (the store holds it encrypted). */
function destinationJson(keyring: Keyring, userId: string, d: UserSummary['message_destination']) {
  if (d === null) return null;
  const address = keyring.decrypt(d.address, destinationAad(userId));
  return { channel: d.channel, to: maskAddress(d.channel, address), confirmed_at: iso(d.confirmed_at) };
}

export function userRoutes(store: Store, keys: ApiKeyring, keyring: Keyring) {
  return new Hono<{ Variables: AuthVariables }>()
    .use('/v1/users/*', requireScope(keys, 'mfa'))
    .get('/v1/users/:id/mfa', validParams('getUserMfa'), async (c) => {
      const id = c.req.param('id');
      const summary = await store.getUserSummary(id);
      if (!summary) return errorResponse(c, 404, 'user_not_found', `no user ${id}`);
      const [active, pending, totpFailures, backupFailures] = await Promise.all([
        store.getActiveTotp(id),
        store.getPendingTotp(id),
        store.getFailures(userSubject(id, 'totp')),
        store.getFailures(userSubject(id, 'backup_code')),
      ]);
      return c.json({
        user_id: id,
        enrolled: summary.enrolled_at !== null,
        enrolled_at: iso(summary.enrolled_at),
        totp: { active: active !== null, pending: pending !== null },
        message_destination: destinationJson(keyring, id, summary.message_destination),
        push_devices: summary.push_devices.map((d) => ({ device_id: d.device_id, name: d.name, created_at: iso(d.created_at) })),
        backup_codes_remaining: summary.backup_codes_remaining,
        known_devices: summary.known_devices.map((d) => ({ ...d, first_seen: iso(d.first_seen), last_seen: iso(d.last_seen), last_mfa_at: iso(d.last_mfa_at) })),
        known_locations: summary.known_locations.map((l) => ({ ...l, first_seen: iso(l.first_seen), last_seen: iso(l.last_seen) })),
        pending_recoveries: summary.pending_recoveries.map(recoveryJson),
        locked: { totp: totpFailures.locked_at !== null, backup_code: backupFailures.locked_at !== null },
      });
    })
    .delete('/v1/users/:id/devices/:key', validParams('forgetDevice'), async (c) => {
      const { id, key } = c.req.param();
      if (!(await store.forgetDevice(id, key))) return errorResponse(c, 404, HttpErrorCode.DEVICE_NOT_FOUND, `user ${id} has no known device ${key}`);
      return c.json({ deleted: true });
    });
}
