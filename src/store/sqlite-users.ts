// The SQLite store's admin views of users: one user's summary, all users, forgetting a device. Not the hot
// path (that is getUserState): each view reads in one transaction, so it is one consistent snapshot even
// while other connections write.
import type Database from 'better-sqlite3';
import type { RecoveryRecord, UserSummary } from './types.js';

type Device = UserSummary['known_devices'][number];
type Location = UserSummary['known_locations'][number];
type Destination = NonNullable<UserSummary['message_destination']>;
type PushDevice = UserSummary['push_devices'][number];
type UserRow = { id: string; first_seen: number; enrolled_at: number | null };
type Keyed<T> = T & { user_id: string };

// Same orders as getUserState: most recently seen first, then by key.
const DEVICES = `SELECT user_id, device_key AS key, first_seen, last_seen, last_mfa_at FROM known_devices`;
const DEVICE_ORDER = `last_seen DESC, device_key`;
const LOCATIONS = `SELECT user_id, location_key AS key, first_seen, last_seen FROM known_locations`;
const LOCATION_ORDER = `last_seen DESC, location_key`;
// The same text as the partial index's WHERE (migration 2), so it is used.
const OPEN_RECOVERIES = `SELECT * FROM recovery_requests WHERE cancelled_at IS NULL AND applied_at IS NULL`;
// Only the confirmed destination: a pending one is not (yet) a factor. Push devices oldest first, without keys.
const DESTINATIONS = `SELECT user_id, channel, address, confirmed_at FROM message_destinations`;
const PUSH_DEVICES = `SELECT user_id, device_id, name, created_at FROM push_devices`;
const PUSH_DEVICE_ORDER = `created_at, device_id`;

export function prepareUserViews(db: Database.Database) {
  const st = {
    user: db.prepare<[string], UserRow>(`SELECT id, first_seen, enrolled_at FROM users WHERE id = ?`),
    devices: db.prepare<[string], Keyed<Device>>(`${DEVICES} WHERE user_id = ? ORDER BY ${DEVICE_ORDER}`),
    locations: db.prepare<[string], Keyed<Location>>(`${LOCATIONS} WHERE user_id = ? ORDER BY ${LOCATION_ORDER}`),
    codes: db
      .prepare<[string], number>(`SELECT count(*) FROM backup_codes WHERE user_id = ? AND used_at IS NULL`)
      .pluck(),
    recoveries: db.prepare<[string], RecoveryRecord>(`${OPEN_RECOVERIES} AND user_id = ? ORDER BY effective_at, id`),
    destination: db.prepare<[string], Keyed<Destination>>(`${DESTINATIONS} WHERE user_id = ?`),
    pushDevices: db.prepare<[string], Keyed<PushDevice>>(
      `${PUSH_DEVICES} WHERE user_id = ? ORDER BY ${PUSH_DEVICE_ORDER}`,
    ),

    allUsers: db.prepare<[], UserRow>(`SELECT id, first_seen, enrolled_at FROM users ORDER BY id`),
    allDevices: db.prepare<[], Keyed<Device>>(`${DEVICES} ORDER BY user_id, ${DEVICE_ORDER}`),
    allLocations: db.prepare<[], Keyed<Location>>(`${LOCATIONS} ORDER BY user_id, ${LOCATION_ORDER}`),
    allCodes: db
      .prepare<[], [string, number]>(
        `SELECT user_id, count(*) FROM backup_codes WHERE used_at IS NULL GROUP BY user_id`,
      )
      .raw(),
    allRecoveries: db.prepare<[], RecoveryRecord>(`${OPEN_RECOVERIES} ORDER BY user_id, effective_at, id`),
    allDestinations: db.prepare<[], Keyed<Destination>>(DESTINATIONS),
    allPushDevices: db.prepare<[], Keyed<PushDevice>>(`${PUSH_DEVICES} ORDER BY user_id, ${PUSH_DEVICE_ORDER}`),

    forgetDevice: db.prepare<[string, string]>(`DELETE FROM known_devices WHERE user_id = ? AND device_key = ?`),
  };

  const summary = db.transaction((userId: string): UserSummary | null => {
    const user = st.user.get(userId);
    if (user === undefined) return null;
    const dest = st.destination.get(userId);
    return {
      ...user,
      backup_codes_remaining: st.codes.get(userId) ?? 0,
      known_devices: st.devices.all(userId).map(device),
      known_locations: st.locations.all(userId).map(location),
      pending_recoveries: st.recoveries.all(userId),
      message_destination: dest === undefined ? null : destination(dest),
      push_devices: st.pushDevices.all(userId).map(pushDevice),
    };
  });

  // Seven queries for all users, grouped here, rather than seven per user.
  const list = db.transaction((): UserSummary[] => {
    const devices = groupBy(st.allDevices.all(), device);
    const locations = groupBy(st.allLocations.all(), location);
    const recoveries = groupBy(st.allRecoveries.all(), (r) => r);
    const codes = new Map(st.allCodes.all());
    const destinations = new Map(st.allDestinations.all().map((d) => [d.user_id, destination(d)]));
    const pushDevices = groupBy(st.allPushDevices.all(), pushDevice);
    return st.allUsers.all().map((u) => ({
      ...u,
      backup_codes_remaining: codes.get(u.id) ?? 0,
      known_devices: devices.get(u.id) ?? [],
      known_locations: locations.get(u.id) ?? [],
      pending_recoveries: recoveries.get(u.id) ?? [],
      message_destination: destinations.get(u.id) ?? null,
      push_devices: pushDevices.get(u.id) ?? [],
    }));
  });

  return {
    // Deferred (read) transactions: they take no write lock.
    getUserSummary: (userId: string): UserSummary | null => summary.deferred(userId),
    listUsers: (): UserSummary[] => list.deferred(),
    forgetDevice: (userId: string, deviceKey: string): boolean => st.forgetDevice.run(userId, deviceKey).changes === 1,
  };
}

const device = ({ key, first_seen, last_seen, last_mfa_at }: Keyed<Device>): Device => ({
  key,
  first_seen,
  last_seen,
  last_mfa_at,
});
const location = ({ key, first_seen, last_seen }: Keyed<Location>): Location => ({ key, first_seen, last_seen });
const destination = ({ channel, address, confirmed_at }: Keyed<Destination>): Destination => ({
  channel,
  address,
  confirmed_at,
});
const pushDevice = ({ device_id, name, created_at }: Keyed<PushDevice>): PushDevice => ({ device_id, name, created_at });

function groupBy<R extends { user_id: string }, T>(rows: R[], map: (row: R) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const list = out.get(row.user_id);
    if (list === undefined) out.set(row.user_id, [map(row)]);
    else list.push(map(row));
  }
  return out;
}
