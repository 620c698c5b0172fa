import { describe, expect, it } from 'vitest';
import { locationKeys, lookupGeo, lookupGeoEntry, truncateLocationKey } from './geo.js';

// Pinned against geoip-lite 1.4.10's bundled GeoLite2 data; a data update may move these.
describe('lookupGeo: public addresses (geoip-lite 1.4.10 data)', () => {
  it('8.8.8.8: country only', () => {
    expect(lookupGeo('8.8.8.8')).toEqual({ country: 'US', region: '', city: '', lat: 37.751, lon: -97.822 });
  });

  it('81.2.69.142 (MaxMind test range): city level', () => {
    expect(lookupGeo('81.2.69.142')).toEqual({
      country: 'GB',
      region: 'ENG',
      city: 'St Albans',
      lat: 51.753,
      lon: -0.3256,
    });
  });

  it('24.24.24.24: a US city', () => {
    expect(lookupGeo('24.24.24.24')).toMatchObject({ country: 'US', region: 'NY', city: 'Syracuse' });
  });

  it('IPv6: 2001:4860:4860::8888 (country) and a Frankfurt address (city)', () => {
    expect(lookupGeo('2001:4860:4860::8888')).toEqual({
      country: 'US',
      region: '',
      city: '',
      lat: 37.751,
      lon: -97.822,
    });
    expect(lookupGeo('2a00:1450:4001:81c::200e')).toMatchObject({
      country: 'DE',
      region: 'HE',
      city: 'Frankfurt am Main',
    });
  });

  it('IPv6 spellings of the same address agree (expanded, upper case, with a zone id)', () => {
    const canonical = lookupGeo('2001:4860:4860::8888');
    expect(lookupGeo('2001:4860:4860:0:0:0:0:8888')).toEqual(canonical);
    expect(lookupGeo('2001:4860:4860::8888%1')).toEqual(canonical);
    expect(lookupGeo('2A00:1450:4001:81C::200E')).toEqual(lookupGeo('2a00:1450:4001:81c::200e'));
  });

  it('IPv4-mapped IPv6 is the IPv4 address, in every spelling', () => {
    const v4 = lookupGeo('81.2.69.142');
    expect(lookupGeo('::ffff:81.2.69.142')).toEqual(v4);
    expect(lookupGeo('::FFFF:81.2.69.142')).toEqual(v4);
    // geoip-lite alone reads the hex spelling as 40.0.0.0; ours canonicalises first.
    expect(lookupGeo('::ffff:5102:458e')).toEqual(v4);
    expect(lookupGeo('0:0:0:0:0:ffff:5102:458e')).toEqual(v4);
    expect(lookupGeo('::ffff:10.0.0.1')).toBeNull();
  });

  it('a listed range without a location is unknown (geoip-lite returns an empty country for 1.1.1.1)', () => {
    expect(lookupGeo('1.1.1.1')).toBeNull();
  });

  it('returns the same frozen object from the cache', () => {
    const a = lookupGeo('81.2.69.142');
    expect(lookupGeo('81.2.69.142')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('lookupGeo: no location', () => {
  it.each([
    '10.0.0.1',
    '10.255.255.255',
    '192.168.1.1',
    '172.16.0.1',
    '172.31.255.254',
    '127.0.0.1',
    '169.254.10.10',
    '100.64.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '192.0.2.1',
    '203.0.113.7',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456:789a::1',
    'fe80::1',
    'fe80::1%eth0',
    'ff02::1',
    '2001:db8::1',
  ])('%s (private, loopback, link-local or reserved) -> null', (ip) => {
    expect(lookupGeo(ip)).toBeNull();
  });

  it.each(['', 'garbage', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '::ffff:', 'gggg::1', ' 8.8.8.8', '8.8.8.8 '])(
    'malformed %j -> null',
    (ip) => {
      expect(lookupGeo(ip)).toBeNull();
    },
  );

  it('non-string input (untyped callers) -> null', () => {
    expect(lookupGeo(undefined as unknown as string)).toBeNull();
    expect(lookupGeo(8 as unknown as string)).toBeNull();
  });
});

describe('location keys', () => {
  const city = { country: 'US', region: 'CA', city: 'San Francisco', lat: 37.77, lon: -122.42 };
  const regionOnly = { country: 'US', region: 'CA', city: '', lat: 37, lon: -120 };
  const countryOnly = { country: 'US', region: '', city: '', lat: 37.751, lon: -97.822 };
  const cityNoRegion = { country: 'SG', region: '', city: 'Singapore', lat: 1.29, lon: 103.85 };

  it('at each granularity; full is always the finest', () => {
    expect(locationKeys(city, 'country')).toEqual({ key: 'US', full: 'US/CA/San Francisco' });
    expect(locationKeys(city, 'region')).toEqual({ key: 'US/CA', full: 'US/CA/San Francisco' });
    expect(locationKeys(city, 'city')).toEqual({ key: 'US/CA/San Francisco', full: 'US/CA/San Francisco' });
  });

  it('drops trailing unknown parts', () => {
    expect(locationKeys(regionOnly, 'city')).toEqual({ key: 'US/CA', full: 'US/CA' });
    expect(locationKeys(countryOnly, 'city')).toEqual({ key: 'US', full: 'US' });
    expect(locationKeys(countryOnly, 'region')).toEqual({ key: 'US', full: 'US' });
  });

  it('keeps an empty region before a known city (city-states)', () => {
    expect(locationKeys(cityNoRegion, 'city')).toEqual({ key: 'SG//Singapore', full: 'SG//Singapore' });
    expect(locationKeys(cityNoRegion, 'region')).toEqual({ key: 'SG', full: 'SG//Singapore' });
  });

  it('lookupGeoEntry precomputes the same keys, also for a city with a slash', () => {
    expect(lookupGeoEntry('81.2.69.142')?.keys).toEqual({
      country: 'GB',
      region: 'GB/ENG',
      city: 'GB/ENG/St Albans',
    });
    expect(lookupGeoEntry('219.75.79.231')?.keys).toEqual({
      country: 'SG',
      region: 'SG',
      city: 'SG//Singapore',
    });
    expect(lookupGeoEntry('178.38.113.119')?.keys).toEqual({
      country: 'CH',
      region: 'CH/BE',
      city: 'CH/BE/Biel/Bienne',
    });
  });

  it('truncateLocationKey cuts keys of any granularity', () => {
    expect(truncateLocationKey('US/CA/San Francisco', 'country')).toBe('US');
    expect(truncateLocationKey('US/CA/San Francisco', 'region')).toBe('US/CA');
    expect(truncateLocationKey('US/CA/San Francisco', 'city')).toBe('US/CA/San Francisco');
    expect(truncateLocationKey('US', 'city')).toBe('US');
    expect(truncateLocationKey('US/CA', 'city')).toBe('US/CA');
    expect(truncateLocationKey('US/CA', 'country')).toBe('US');
    expect(truncateLocationKey('CH/BE/Biel/Bienne', 'region')).toBe('CH/BE');
    expect(truncateLocationKey('CH/BE/Biel/Bienne', 'city')).toBe('CH/BE/Biel/Bienne');
    expect(truncateLocationKey('SG//Singapore', 'region')).toBe('SG');
    expect(truncateLocationKey('US/', 'city')).toBe('US');
    expect(truncateLocationKey('', 'region')).toBe('');
  });
});
