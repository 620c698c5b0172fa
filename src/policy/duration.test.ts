import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from './duration.js';

describe('parseDuration', () => {
  const valid: [string, number][] = [
    ['30_days', 2_592_000],
    ['1_day', 86_400],
    ['24_hours', 86_400],
    ['1_hour', 3_600],
    ['15_minutes', 900],
    ['1_minute', 60],
    ['90_seconds', 90],
    ['1_second', 1],
    ['0_seconds', 0],
    ['0_days', 0],
    ['30d', 2_592_000],
    ['24h', 86_400],
    ['15m', 900],
    ['90s', 90],
    ['0s', 0],
    ['007_days', 604_800],
    ['999999999_days', 999_999_999 * 86_400],
  ];
  it.each(valid)('%s -> %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
    expect(tryParseDuration(text)).toBe(seconds);
  });

  const invalid: unknown[] = [
    '30', '3 weeks', '30_fortnights', '1.5h', '-1_days', '-5m', '30 days', '30_Days', '30D', '30_d', 'd', '_days',
    '', ' 30d', '30d ', '2w', '1_week', '1000000000_days', '30days', 30, null, undefined, ['30d'],
  ];
  it.each(invalid)('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/^invalid duration .* \(use e\.g\. 30_days, 24_hours, 15_minutes, 90_seconds or 30d, 24h, 15m, 90s\)$/);
    if (typeof text === 'string') expect(tryParseDuration(text)).toBeNull();
  });

  it('names the value in the message', () => {
    expect(() => parseDuration('3 weeks')).toThrow(
      'invalid duration "3 weeks" (use e.g. 30_days, 24_hours, 15_minutes, 90_seconds or 30d, 24h, 15m, 90s)',
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [2_592_000, '30_days'],
    [86_400, '1_day'],
    [3_600, '1_hour'],
    [7_200, '2_hours'],
    [90, '90_seconds'],
    [60, '1_minute'],
    [1, '1_second'],
    [0, '0_seconds'],
    [90_000, '25_hours'],
  ])('%i -> %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
    expect(parseDuration(text)).toBe(seconds);
  });
});
