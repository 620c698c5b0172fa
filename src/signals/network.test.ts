import { describe, expect, it } from 'vitest';
import type { GeoInfo } from '../types.js';
import { isBlockedCountry, matchNetwork } from './network.js';
import { networkList } from './test-policy.js';

const geo = (country: string): GeoInfo => ({ country, region: '', city: '', lat: 0, lon: 0 });

describe('matchNetwork', () => {
  const list = networkList(['10.0.0.0/8', '203.0.113.0/24', '2001:db8::/32']);

  it('names the CIDR containing the IP', () => {
    expect(matchNetwork(list, '10.1.2.3')).toBe('10.0.0.0/8');
    expect(matchNetwork(list, '203.0.113.9')).toBe('203.0.113.0/24');
    expect(matchNetwork(list, '2001:db8::1')).toBe('2001:db8::/32');
  });

  it('null outside the list, for no IP, a malformed IP and an empty list', () => {
    expect(matchNetwork(list, '8.8.8.8')).toBeNull();
    expect(matchNetwork(list, null)).toBeNull();
    expect(matchNetwork(list, '')).toBeNull();
    expect(matchNetwork(list, 'not an ip')).toBeNull();
    expect(matchNetwork(networkList([]), '10.1.2.3')).toBeNull();
  });
});

describe('matchNetwork cache', () => {
  it('asks a list once per IP, and a new list (policy reload) afresh', () => {
    let calls = 0;
    const inner = networkList(['10.0.0.0/8']);
    const counting = { size: 1, match: (ip: string) => (calls++, inner.match(ip)) };
    expect(matchNetwork(counting, '10.0.0.1')).toBe('10.0.0.0/8');
    expect(matchNetwork(counting, '10.0.0.1')).toBe('10.0.0.0/8');
    expect(matchNetwork(counting, '8.8.8.8')).toBeNull();
    expect(matchNetwork(counting, '8.8.8.8')).toBeNull();
    expect(calls).toBe(2);
    const reloaded = { ...counting };
    expect(matchNetwork(reloaded, '10.0.0.1')).toBe('10.0.0.0/8');
    expect(calls).toBe(3);
  });
});

describe('isBlockedCountry', () => {
  const none = { blocked: new Set<string>(), allowed: null };

  it('blocked list', () => {
    const countries = { blocked: new Set(['KP', 'IR']), allowed: null };
    expect(isBlockedCountry(countries, geo('KP'))).toBe(true);
    expect(isBlockedCountry(countries, geo('US'))).toBe(false);
    expect(isBlockedCountry(none, geo('KP'))).toBe(false);
  });

  it('allow list: every other country is blocked', () => {
    const countries = { blocked: new Set<string>(), allowed: new Set(['US', 'CA']) };
    expect(isBlockedCountry(countries, geo('US'))).toBe(false);
    expect(isBlockedCountry(countries, geo('FR'))).toBe(true);
  });

  it('the blocked list wins over the allow list', () => {
    expect(isBlockedCountry({ blocked: new Set(['US']), allowed: new Set(['US']) }, geo('US'))).toBe(true);
  });

  it('an unknown location is never blocked, even with an allow list', () => {
    const countries = { blocked: new Set(['']), allowed: new Set(['US']) };
    expect(isBlockedCountry(countries, null)).toBe(false);
    expect(isBlockedCountry(countries, geo(''))).toBe(false);
  });
});
