// The signal stage: (policy, context, user state, now) -> Signals and the facts behind them.
// Pure apart from the geo and user-agent caches: no store (the state comes in as an argument), no clock
// (`now` is epoch ms), no randomness. This is the hot path of every decision: each lookup is a cache hit
// once warm, and the per-call work is a few comparisons over the user's lists (≤ 50 entries each).
import type { ActionMatcher, CompiledPolicy, Granularity } from '../policy/types.js';
import type { LoginContext, SignalFacts, Signals, UserState } from '../types.js';
import { deviceEntry, hasDeviceId } from './device.js';
import { lookupGeo, lookupGeoEntry, truncateLocationKey } from './geo.js';
import { isBlockedCountry, matchNetwork } from './network.js';
import { assessTravel } from './travel.js';

export { deviceEntry, deviceKey, hasDeviceId, parseDevice } from './device.js';
export { locationKeys, lookupGeo, lookupGeoEntry, preloadGeoData, truncateLocationKey } from './geo.js';
export { isBlockedCountry, matchNetwork } from './network.js';
export { assessTravel, distanceKm, EARTH_RADIUS_KM, UNBOUNDED_SPEED_KMH } from './travel.js';
export type { DeviceEntry } from './device.js';
export type { GeoEntry } from './geo.js';
export type { LatLon, TravelAssessment, TravelLimits } from './travel.js';

export interface SignalResult {
  signals: Signals;
  facts: SignalFacts;
}

/** The value of `sensitive_match` when the caller flagged the context `sensitive: true`. */
export const SENSITIVE_FLAGGED = 'flagged';

export function computeSignals(
  policy: CompiledPolicy,
  context: LoginContext,
  state: UserState,
  now: number,
): SignalResult {
  const ip = typeof context.ip === 'string' && context.ip !== '' ? context.ip : null;

  const device = deviceEntry(context.user_agent);
  const deviceKey = hasDeviceId(context) ? context.device_id : device.key;

  const trustedMatch = matchNetwork(policy.networks.trusted, ip);
  const blockedMatch = matchNetwork(policy.networks.blocked, ip);

  const located = ip === null ? null : lookupGeoEntry(ip);
  const geo = located === null ? null : located.geo;
  const granularity = policy.location.granularity;
  let locationKey: string | null = null;
  let locationKeyFull: string | null = null;
  let newLocation: boolean;
  if (located !== null) {
    locationKey = located.keys[granularity];
    locationKeyFull = located.keys.city;
    newLocation = !isKnownLocation(state.known_locations, locationKey, granularity);
  } else {
    const mode = policy.location.unknown_location;
    // `auto`: an address without a location is usually internal; inside a network the policy trusts,
    // that is expected, elsewhere it is as unfamiliar as any new place.
    newLocation = mode === 'new' || (mode === 'auto' && trustedMatch === null);
  }

  let impossibleTravel = false;
  let travel: SignalFacts['travel'] = null;
  const last = state.last_login;
  if (geo !== null && last && typeof last.ip === 'string' && last.ip !== '') {
    const lastGeo = lookupGeo(last.ip);
    if (lastGeo !== null) {
      const assessed = assessTravel(lastGeo, geo, now - last.time, policy.impossible_travel);
      impossibleTravel = assessed.impossible;
      travel = { distance_km: assessed.distance_km, speed_kmh: assessed.speed_kmh };
    }
  }

  const sensitiveMatch =
    context.sensitive === true ? SENSITIVE_FLAGGED : matchAction(policy.sensitive_actions, context.action);

  const lastMfa = state.last_mfa;
  const mfaAgeSeconds =
    lastMfa && lastMfa.device === deviceKey ? Math.max(0, Math.floor((now - lastMfa.time) / 1000)) : null;

  return {
    signals: {
      new_device: !state.known_devices.includes(deviceKey),
      new_location: newLocation,
      impossible_travel: impossibleTravel,
      sensitive_action: sensitiveMatch !== null,
      trusted_network: trustedMatch !== null,
      blocked_network: blockedMatch !== null,
      blocked_country: isBlockedCountry(policy.countries, geo),
      first_login: !last,
      failed_attempts: state.failed_attempts,
      mfa_age_seconds: mfaAgeSeconds,
    },
    facts: {
      device_key: deviceKey,
      device: device.info,
      location_key: locationKey,
      location_key_full: locationKeyFull,
      geo,
      travel,
      sensitive_match: sensitiveMatch,
      trusted_match: trustedMatch,
      blocked_match: blockedMatch,
    },
  };
}

/**
 * Does some learned key, cut to `granularity`, equal `key`? Learned keys may be at any granularity (the
 * engine learns the full key, older data or inline state may hold coarser ones). A coarser learned key
 * never covers a finer current one: knowing `US` says nothing about `US/CA/San Francisco` at city level.
 */
function isKnownLocation(known: readonly string[], key: string, granularity: Granularity): boolean {
  for (const k of known) {
    if (k === key) return true;
    // Truncation only shortens, so only a longer key with `key` as prefix can match; skip the rest unsliced.
    if (k.length > key.length && k.startsWith(key) && truncateLocationKey(k, granularity) === key) return true;
  }
  return false;
}

function matchAction(matchers: readonly ActionMatcher[], action: string | undefined): string | null {
  if (typeof action !== 'string' || action === '') return null;
  for (const m of matchers) {
    if (m.test(action)) return m.source;
  }
  return null;
}
