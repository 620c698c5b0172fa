// Retention defaults and their checks, shared by the drivers (both take `retention?: Partial<RetentionOptions>`).
import type { RetentionOptions } from './types.js';

const DAY = 24 * 60 * 60 * 1000;

export const DEFAULT_RETENTION: Readonly<RetentionOptions> = Object.freeze({
  // Enough for a person's laptops, phones and browsers over months; a user id shared by a script that sends a
  // new user agent on every call cannot grow its rows without bound.
  knownDevices: 50,
  knownLocations: 50,
  // Half a year: a device unused that long is a new device again (Keycloak and Authelia keep remembered
  // devices for a bounded time too); long enough that seasonal travel still counts as known.
  knownMaxAgeMs: 180 * DAY,
  // A day after expiry, so recent prompts stay inspectable, then the row goes.
  challengesMs: DAY,
  // A closed recovery stays visible to an audit for 90 days; the audit log keeps it for good.
  recoveriesMs: 90 * DAY,
  // A streak of failures a month old is forgotten; locks are kept whatever their age.
  failuresMs: 30 * DAY,
});

/** The defaults overridden by `partial`; throws (fail fast at construction) on a value that is not a non-negative integer. */
export function resolveRetention(partial: Partial<RetentionOptions> = {}): RetentionOptions {
  const out = { ...DEFAULT_RETENTION, ...partial };
  for (const [key, value] of Object.entries(out)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`retention.${key} must be a non-negative integer, got ${String(value)}`);
    }
  }
  if (out.knownDevices < 1 || out.knownLocations < 1) {
    throw new RangeError('retention.knownDevices and retention.knownLocations must be at least 1');
  }
  return out;
}
