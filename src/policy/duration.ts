// Policy durations: `30_days`, `24_hours`, `15_minutes`, `90_seconds` (singular or plural) or the short
// forms `30d`, `24h`, `15m`, `90s`. Kept in step with `$defs/duration` in schemas/policy.schema.json.

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  d: 86_400,
  day: 86_400,
  days: 86_400,
  h: 3_600,
  hour: 3_600,
  hours: 3_600,
  m: 60,
  minute: 60,
  minutes: 60,
  s: 1,
  second: 1,
  seconds: 1,
};

// At most nine digits, as in the schema: 999_999_999 days is still a safe integer of seconds.
const DURATION_RE = /^([0-9]{1,9})(?:_(days?|hours?|minutes?|seconds?)|([dhms]))$/;

export const DURATION_HINT = 'use e.g. 30_days, 24_hours, 15_minutes, 90_seconds or 30d, 24h, 15m, 90s';

/** Seconds for a duration string, or null when it is not one. */
export function tryParseDuration(text: string): number | null {
  const m = DURATION_RE.exec(text);
  if (!m) return null;
  const unit = UNIT_SECONDS[m[2] ?? m[3] ?? ''];
  return unit === undefined ? null : Number(m[1]) * unit;
}

/** Seconds for a duration string; throws an Error naming the value and the accepted forms. */
export function parseDuration(text: unknown): number {
  const seconds = typeof text === 'string' ? tryParseDuration(text) : null;
  if (seconds === null) throw new Error(`invalid duration ${JSON.stringify(text) ?? String(text)} (${DURATION_HINT})`);
  return seconds;
}

const FORMAT_UNITS: ReadonlyArray<readonly [number, string]> = [
  [86_400, 'day'],
  [3_600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** The policy spelling of a number of seconds in its largest whole unit: 2592000 -> `30_days`, 90 -> `90_seconds`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  for (const [size, name] of FORMAT_UNITS) {
    if (s !== 0 && s % size === 0) {
      const n = s / size;
      return `${n}_${name}${n === 1 ? '' : 's'}`;
    }
  }
  return '0_seconds';
}
