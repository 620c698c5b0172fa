import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deviceEntry, deviceKey, parseDevice } from './device.js';

const CHROME_WINDOWS_120 =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_WINDOWS_124 =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.91 Safari/537.36';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const SAFARI_IPAD =
  'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1';
const SAFARI_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15';

const UNKNOWN = { browser: 'unknown', os: 'unknown', type: 'unknown' };

describe('parseDevice', () => {
  it('Chrome on Windows is a desktop', () => {
    expect(parseDevice(CHROME_WINDOWS_120)).toEqual({ browser: 'Chrome', os: 'Windows', type: 'desktop' });
  });

  it('Safari on macOS (no device type from ua-parser) is a desktop', () => {
    expect(parseDevice(SAFARI_MAC)).toEqual({ browser: 'Safari', os: 'Mac OS', type: 'desktop' });
  });

  it('Safari on an iPhone is mobile, on an iPad a tablet', () => {
    expect(parseDevice(SAFARI_IPHONE)).toEqual({ browser: 'Mobile Safari', os: 'iOS', type: 'mobile' });
    expect(parseDevice(SAFARI_IPAD)).toEqual({ browser: 'Mobile Safari', os: 'iOS', type: 'tablet' });
  });

  it.each(['', '   ', 'garbage!!', 'curl/8.4.0', '\u0000\uffff', 'x'.repeat(10_000)])('unknown for %j', (ua) => {
    expect(parseDevice(ua)).toEqual(UNKNOWN);
  });

  it('never throws on non-string input from untyped callers', () => {
    expect(parseDevice(undefined as unknown as string)).toEqual(UNKNOWN);
    expect(parseDevice(42 as unknown as string)).toEqual(UNKNOWN);
  });

  it('parses only the first 500 characters, as ua-parser-js does, so long UAs share a bounded cache key', () => {
    const padded = `   ${CHROME_WINDOWS_120}${' junk'.repeat(200)}`;
    expect(padded.length).toBeGreaterThan(500);
    expect(parseDevice(padded)).toEqual(parseDevice(CHROME_WINDOWS_120));
  });

  it('returns the same frozen object from the cache', () => {
    const a = parseDevice(CHROME_WINDOWS_120);
    expect(parseDevice(CHROME_WINDOWS_120)).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('deviceKey', () => {
  const expected = (s: string) => `ua-${createHash('sha256').update(s).digest('hex').slice(0, 16)}`;

  it('is the caller device_id verbatim when given', () => {
    const info = parseDevice(CHROME_WINDOWS_120);
    expect(deviceKey({ device_id: 'dev-42 / ÄÖ' }, info)).toBe('dev-42 / ÄÖ');
  });

  it('else ua- and 16 hex chars of sha256(browser|os|type)', () => {
    const info = parseDevice(CHROME_WINDOWS_120);
    const key = deviceKey({}, info);
    expect(key).toBe(expected('Chrome|Windows|desktop'));
    expect(key).toMatch(/^ua-[0-9a-f]{16}$/);
    expect(deviceKey({ device_id: '' }, info)).toBe(key);
    expect(deviceEntry(CHROME_WINDOWS_120).key).toBe(key);
  });

  it('hashes an info object that did not come from the cache the same way', () => {
    expect(deviceKey({}, { browser: 'Chrome', os: 'Windows', type: 'desktop' })).toBe(
      expected('Chrome|Windows|desktop'),
    );
  });

  it('two versions of the same browser give the same key; another device type does not', () => {
    const a = deviceKey({}, parseDevice(CHROME_WINDOWS_120));
    expect(deviceKey({}, parseDevice(CHROME_WINDOWS_124))).toBe(a);
    expect(deviceKey({}, parseDevice(SAFARI_IPHONE))).not.toBe(deviceKey({}, parseDevice(SAFARI_IPAD)));
  });

  it('all unknown user agents share one key', () => {
    expect(deviceEntry('').key).toBe(expected('unknown|unknown|unknown'));
    expect(deviceEntry('garbage!!').key).toBe(deviceEntry('').key);
  });
});
