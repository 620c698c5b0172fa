import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_STATE, type LoginContext, type UserState } from '../types.js';
import { computeSignals } from './index.js';
import { testPolicy, type TestPolicyOptions } from './test-policy.js';

const CHROME_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

// geoip-lite 1.4.10 data (pinned in geo.test.ts).
const ST_ALBANS = '81.2.69.142'; // GB/ENG/St Albans, 51.753 -0.3256
const SYRACUSE = '24.24.24.24'; // US/NY/Syracuse, 43.0483 -76.1468; ~5,490 km from St Albans
const FRANKFURT_V6 = '2a00:1450:4001:81c::200e'; // DE/HE/Frankfurt am Main
const US_ONLY = '8.8.8.8'; // US, no region or city

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const HOUR = 3_600_000;

function ctx(over: Partial<LoginContext> = {}): LoginContext {
  return {
    user: { id: 'alice', type: 'human', groups: [] },
    ip: ST_ALBANS,
    user_agent: CHROME_WINDOWS,
    ...over,
  };
}

function state(over: Partial<UserState> = {}): UserState {
  return { ...EMPTY_STATE, known_devices: [], known_locations: [], ...over };
}

const CHROME_WINDOWS_KEY = computeSignals(testPolicy(), ctx(), EMPTY_STATE, 0).facts.device_key;

function run(over: { policy?: TestPolicyOptions; ctx?: Partial<LoginContext>; state?: Partial<UserState> } = {}) {
  return computeSignals(testPolicy(over.policy), ctx(over.ctx), state(over.state), NOW);
}

describe('computeSignals', () => {
  it('a first login from a public IP: everything new, nothing else', () => {
    const { signals, facts } = run();
    expect(signals).toEqual({
      new_device: true,
      new_location: true,
      impossible_travel: false,
      sensitive_action: false,
      trusted_network: false,
      blocked_network: false,
      blocked_country: false,
      first_login: true,
      failed_attempts: 0,
      mfa_age_seconds: null,
    });
    expect(facts).toEqual({
      device_key: CHROME_WINDOWS_KEY,
      device: { browser: 'Chrome', os: 'Windows', type: 'desktop' },
      location_key: 'GB',
      location_key_full: 'GB/ENG/St Albans',
      geo: { country: 'GB', region: 'ENG', city: 'St Albans', lat: 51.753, lon: -0.3256 },
      travel: null,
      sensitive_match: null,
      trusted_match: null,
      blocked_match: null,
    });
    expect(CHROME_WINDOWS_KEY).toMatch(/^ua-[0-9a-f]{16}$/);
  });

  describe('new_device', () => {
    it('false for a known UA-derived key, true for another device', () => {
      expect(run({ state: { known_devices: ['x', CHROME_WINDOWS_KEY] } }).signals.new_device).toBe(false);
      expect(run({ state: { known_devices: ['x'] } }).signals.new_device).toBe(true);
    });

    it('the caller device_id is the key when given', () => {
      const r = run({ ctx: { device_id: 'phone-7' }, state: { known_devices: [CHROME_WINDOWS_KEY] } });
      expect(r.facts.device_key).toBe('phone-7');
      expect(r.signals.new_device).toBe(true);
      expect(run({ ctx: { device_id: 'phone-7' }, state: { known_devices: ['phone-7'] } }).signals.new_device).toBe(
        false,
      );
    });
  });

  describe('new_location', () => {
    const at = (granularity: 'country' | 'region' | 'city', known: string[], ip = ST_ALBANS) =>
      run({ policy: { granularity }, ctx: { ip }, state: { known_locations: known } });

    it('keys at each granularity; the full key is always city level', () => {
      expect(at('country', []).facts).toMatchObject({ location_key: 'GB', location_key_full: 'GB/ENG/St Albans' });
      expect(at('region', []).facts.location_key).toBe('GB/ENG');
      expect(at('city', []).facts.location_key).toBe('GB/ENG/St Albans');
      expect(at('city', [], US_ONLY).facts).toMatchObject({ location_key: 'US', location_key_full: 'US' });
    });

    it('country granularity: any learned key in the same country is known', () => {
      expect(at('country', ['GB']).signals.new_location).toBe(false);
      expect(at('country', ['GB/SCT/Edinburgh']).signals.new_location).toBe(false);
      expect(at('country', ['US', 'GBR', 'G']).signals.new_location).toBe(true);
    });

    it('region granularity', () => {
      expect(at('region', ['GB/ENG/London']).signals.new_location).toBe(false);
      expect(at('region', ['GB/ENG']).signals.new_location).toBe(false);
      expect(at('region', ['GB']).signals.new_location).toBe(true);
      expect(at('region', ['GB/SCT']).signals.new_location).toBe(true);
    });

    it('city granularity: a coarser learned key does not make a city known', () => {
      expect(at('city', ['GB/ENG/St Albans']).signals.new_location).toBe(false);
      expect(at('city', ['GB', 'GB/ENG', 'GB/ENG/London']).signals.new_location).toBe(true);
      // No region or city in the data: the key is the country, and a learned country matches it.
      expect(at('city', ['US'], US_ONLY).signals.new_location).toBe(false);
      expect(at('city', ['US/CA'], US_ONLY).signals.new_location).toBe(true);
    });

    it('IPv6 with a city', () => {
      const r = run({ policy: { granularity: 'city' }, ctx: { ip: FRANKFURT_V6 } });
      expect(r.facts.location_key).toBe('DE/HE/Frankfurt am Main');
    });
  });

  describe('unknown location', () => {
    const cases = [
      { ip: null, label: 'no IP' },
      { ip: '', label: 'empty IP' },
      { ip: '10.1.2.3', label: 'private IP' },
      { ip: 'not-an-ip', label: 'malformed IP' },
    ];
    for (const { ip, label } of cases) {
      it(`${label}: no location facts; new/known modes are taken as written`, () => {
        const newMode = run({ policy: { unknown_location: 'new' }, ctx: { ip } });
        expect(newMode.facts).toMatchObject({ geo: null, location_key: null, location_key_full: null });
        expect(newMode.signals.new_location).toBe(true);
        expect(run({ policy: { unknown_location: 'known' }, ctx: { ip } }).signals.new_location).toBe(false);
        expect(run({ policy: { unknown_location: 'auto' }, ctx: { ip } }).signals.new_location).toBe(true);
      });
    }

    it('auto: an address in a trusted network is not a new location', () => {
      const r = run({ policy: { unknown_location: 'auto', trusted: ['10.0.0.0/8'] }, ctx: { ip: '10.1.2.3' } });
      expect(r.signals).toMatchObject({ new_location: false, trusted_network: true });
      expect(r.facts.trusted_match).toBe('10.0.0.0/8');
      const outside = run({ policy: { unknown_location: 'auto', trusted: ['10.0.0.0/8'] }, ctx: { ip: '192.168.0.1' } });
      expect(outside.signals.new_location).toBe(true);
    });

    it('a trusted network does not hide a new location that has a geo', () => {
      const r = run({ policy: { trusted: ['81.2.69.0/24'] } });
      expect(r.signals).toMatchObject({ trusted_network: true, new_location: true });
    });
  });

  describe('impossible_travel', () => {
    const from = (ip: string | null, hoursAgo: number, currentIp: string | null = SYRACUSE) =>
      run({ ctx: { ip: currentIp }, state: { last_login: { time: NOW - hoursAgo * HOUR, ip } } });

    it('St Albans to Syracuse in 1 hour is impossible, in 10 hours it is not', () => {
      const fast = from(ST_ALBANS, 1);
      expect(fast.signals.impossible_travel).toBe(true);
      expect(fast.facts.travel?.distance_km).toBeGreaterThan(5400);
      expect(fast.facts.travel?.distance_km).toBeLessThan(5600);
      expect(fast.facts.travel?.speed_kmh).toBe(fast.facts.travel?.distance_km);
      const slow = from(ST_ALBANS, 10);
      expect(slow.signals.impossible_travel).toBe(false);
      expect(slow.facts.travel?.speed_kmh).toBeCloseTo(slow.facts.travel!.distance_km / 10, 0);
    });

    it('IPv4 to IPv6: St Albans to Frankfurt (~640 km) in 15 minutes', () => {
      expect(from(ST_ALBANS, 0.25, FRANKFURT_V6).signals.impossible_travel).toBe(true);
    });

    it('the same place at the same time is not travel', () => {
      const r = from(SYRACUSE, 0);
      expect(r.signals.impossible_travel).toBe(false);
      expect(r.facts.travel?.distance_km).toBe(0);
    });

    it('no travel without both locations', () => {
      for (const r of [from(null, 1), from('10.0.0.1', 1), from('junk', 1), from(ST_ALBANS, 1, '10.0.0.1')]) {
        expect(r.signals.impossible_travel).toBe(false);
        expect(r.facts.travel).toBeNull();
      }
      expect(run({ ctx: { ip: SYRACUSE } }).facts.travel).toBeNull();
    });

    it('uses the policy limits', () => {
      const r = run({
        policy: { max_speed_kmh: 20_000 },
        ctx: { ip: SYRACUSE },
        state: { last_login: { time: NOW - HOUR, ip: ST_ALBANS } },
      });
      expect(r.signals.impossible_travel).toBe(false);
    });
  });

  describe('sensitive_action', () => {
    it('matches the policy actions and names the pattern', () => {
      const r = run({ ctx: { action: 'admin.users.delete' } });
      expect(r.signals.sensitive_action).toBe(true);
      expect(r.facts.sensitive_match).toBe('admin.*');
      expect(run({ ctx: { action: 'login' } }).signals.sensitive_action).toBe(false);
      expect(run({ ctx: { action: '' } }).facts.sensitive_match).toBeNull();
    });

    it('the first matching pattern wins', () => {
      const sensitive_actions = [
        { source: 'payment.refund', test: (a: string) => a === 'payment.refund' },
        { source: 'payment.*', test: (a: string) => a.startsWith('payment.') },
      ];
      expect(run({ policy: { sensitive_actions }, ctx: { action: 'payment.refund' } }).facts.sensitive_match).toBe(
        'payment.refund',
      );
      expect(run({ policy: { sensitive_actions }, ctx: { action: 'payment.x' } }).facts.sensitive_match).toBe(
        'payment.*',
      );
    });

    it('a caller flag makes any context sensitive', () => {
      const r = run({ ctx: { sensitive: true } });
      expect(r.signals.sensitive_action).toBe(true);
      expect(r.facts.sensitive_match).toBe('flagged');
      expect(run({ ctx: { sensitive: false, action: 'admin.x' } }).facts.sensitive_match).toBe('admin.*');
    });
  });

  describe('networks and countries', () => {
    it('blocked network', () => {
      const r = run({ policy: { blocked: ['81.2.64.0/20'] } });
      expect(r.signals.blocked_network).toBe(true);
      expect(r.facts.blocked_match).toBe('81.2.64.0/20');
      expect(run({ policy: { blocked: ['81.2.64.0/20'] }, ctx: { ip: SYRACUSE } }).signals.blocked_network).toBe(false);
    });

    it('blocked and allowed countries; an unknown location is never blocked', () => {
      expect(run({ policy: { blocked_countries: ['GB'] } }).signals.blocked_country).toBe(true);
      expect(run({ policy: { allowed_countries: ['US'] } }).signals.blocked_country).toBe(true);
      expect(run({ policy: { allowed_countries: ['US', 'GB'] } }).signals.blocked_country).toBe(false);
      expect(run({ policy: { allowed_countries: ['US'] }, ctx: { ip: '10.0.0.1' } }).signals.blocked_country).toBe(
        false,
      );
    });
  });

  describe('user history', () => {
    it('first_login and failed_attempts come from the state', () => {
      const r = run({ state: { last_login: { time: NOW - HOUR, ip: null }, failed_attempts: 3 } });
      expect(r.signals.first_login).toBe(false);
      expect(r.signals.failed_attempts).toBe(3);
    });

    it('mfa_age_seconds for the same device, null for another', () => {
      const same = run({ state: { last_mfa: { time: NOW - 90_500, device: CHROME_WINDOWS_KEY } } });
      expect(same.signals.mfa_age_seconds).toBe(90);
      const other = run({ state: { last_mfa: { time: NOW - 90_500, device: 'phone-7' } } });
      expect(other.signals.mfa_age_seconds).toBeNull();
      const byId = run({ ctx: { device_id: 'phone-7' }, state: { last_mfa: { time: NOW - 1_000, device: 'phone-7' } } });
      expect(byId.signals.mfa_age_seconds).toBe(1);
    });

    it('an MFA time in the future (clock skew) is age 0', () => {
      const r = run({ state: { last_mfa: { time: NOW + 60_000, device: CHROME_WINDOWS_KEY } } });
      expect(r.signals.mfa_age_seconds).toBe(0);
    });

    it('does not modify the state', () => {
      const s = state({
        known_devices: [CHROME_WINDOWS_KEY],
        known_locations: ['GB/ENG/St Albans'],
        last_login: { time: NOW - HOUR, ip: SYRACUSE },
        last_mfa: { time: NOW - HOUR, device: CHROME_WINDOWS_KEY },
      });
      const before = structuredClone(s);
      computeSignals(testPolicy({ granularity: 'city' }), ctx(), s, NOW);
      expect(s).toEqual(before);
    });
  });
});

describe('computeSignals: properties', () => {
  const policies = [
    testPolicy(),
    testPolicy({ granularity: 'city', unknown_location: 'new', trusted: ['10.0.0.0/8', 'fc00::/7'] }),
    testPolicy({ granularity: 'region', unknown_location: 'known', blocked: ['81.2.69.0/24'], allowed_countries: ['US'] }),
  ];
  const ipArb = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.ipV4(),
    fc.ipV4Extended(),
    fc.ipV6(),
    fc.constantFrom(ST_ALBANS, SYRACUSE, FRANKFURT_V6, US_ONLY, '::ffff:81.2.69.142', '10.0.0.1', '::1'),
  );
  const keyArb = fc.oneof(fc.string(), fc.constantFrom('GB', 'GB/ENG', 'GB/ENG/St Albans', 'US', 'US/NY/Syracuse', '/', ''));
  const timeArb = fc.integer({ min: NOW - 1_000 * 86_400_000, max: NOW + 86_400_000 });
  const contextArb = fc.record(
    {
      user: fc.constant<LoginContext['user']>({ id: 'u', type: 'human', groups: [] }),
      ip: fc.option(ipArb),
      user_agent: fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 700 }), fc.constant(CHROME_WINDOWS)),
      device_id: fc.string(),
      action: fc.string(),
      sensitive: fc.boolean(),
    },
    { requiredKeys: ['user', 'ip', 'user_agent'] },
  );
  const stateArb = fc.record({
    enrolled: fc.boolean(),
    enrolled_at: fc.option(timeArb),
    first_seen: fc.option(timeArb),
    known_devices: fc.array(fc.oneof(fc.string(), fc.constant(CHROME_WINDOWS_KEY)), { maxLength: 50 }),
    known_locations: fc.array(keyArb, { maxLength: 50 }),
    last_login: fc.option(fc.record({ time: timeArb, ip: fc.option(ipArb) })),
    last_mfa: fc.option(fc.record({ time: timeArb, device: fc.oneof(fc.string(), fc.constant(CHROME_WINDOWS_KEY)) })),
    failed_attempts: fc.nat(),
    enrollment_deadline: fc.constant(null),
    recovery_due_at: fc.constant(null),
  });

  it('never throws, is deterministic and JSON-safe', () => {
    fc.assert(
      fc.property(fc.constantFrom(...policies), contextArb, stateArb, timeArb, (policy, context, s, now) => {
        const a = computeSignals(policy, context, s, now);
        const b = computeSignals(policy, context, s, now);
        expect(b).toEqual(a);
        expect(JSON.parse(JSON.stringify(a))).toEqual(a);
        expect(a.facts.device_key.length).toBeGreaterThan(0);
        expect(a.signals.first_login).toBe(s.last_login === null);
        if (a.signals.mfa_age_seconds !== null) expect(a.signals.mfa_age_seconds).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 500 },
    );
  });
});
