import { describe, expect, it } from 'vitest';
import { assessTravel, distanceKm, EARTH_RADIUS_KM, UNBOUNDED_SPEED_KMH } from './travel.js';

const HOUR = 3_600_000;
// Along a meridian the great-circle distance is exactly R·Δφ: 1° = 6371.0088·π/180 ≈ 111.195 km.
const KM_PER_DEG = (EARTH_RADIUS_KM * Math.PI) / 180;
const at = (lat: number, lon = 0) => ({ lat, lon });
/** A point `km` north of (0, 0). */
const north = (km: number) => at(km / KM_PER_DEG);
const LIMITS = { max_speed_kmh: 900, min_distance_km: 500 };

describe('distanceKm', () => {
  it('is R·Δφ along a meridian', () => {
    expect(distanceKm(at(0), at(1))).toBeCloseTo(111.195, 3);
    expect(distanceKm(at(10), at(20))).toBeCloseTo(10 * KM_PER_DEG, 6);
  });

  it('is zero for one point, symmetric, and half the circumference for antipodes', () => {
    expect(distanceKm(at(48.85, 2.35), at(48.85, 2.35))).toBe(0);
    const paris = at(48.8566, 2.3522);
    const newYork = at(40.7128, -74.006);
    expect(distanceKm(paris, newYork)).toBeCloseTo(distanceKm(newYork, paris), 9);
    // Paris–New York is ~5837 km.
    expect(distanceKm(paris, newYork)).toBeGreaterThan(5800);
    expect(distanceKm(paris, newYork)).toBeLessThan(5870);
    expect(distanceKm(at(0, 0), at(0, 180))).toBeCloseTo(Math.PI * EARTH_RADIUS_KM, 6);
    expect(distanceKm(at(90), at(-90))).toBeCloseTo(Math.PI * EARTH_RADIUS_KM, 6);
  });
});

describe('assessTravel', () => {
  it('1000 km: just under 900 km/h is possible, just over is impossible', () => {
    const from = north(0);
    const to = north(1000);
    // 1000 km at 899 km/h takes 1000/899 h.
    const under = assessTravel(from, to, (1000 / 899) * HOUR, LIMITS);
    expect(under.impossible).toBe(false);
    expect(under.speed_kmh).toBe(899);
    expect(under.distance_km).toBe(1000);
    const over = assessTravel(from, to, (1000 / 901) * HOUR, LIMITS);
    expect(over.impossible).toBe(true);
    expect(over.speed_kmh).toBe(901);
  });

  it('at exactly the limits it is not impossible (strictly greater)', () => {
    const from = north(0);
    const to = north(1000);
    const d = distanceKm(from, to);
    expect(assessTravel(from, to, HOUR, { max_speed_kmh: d, min_distance_km: 1 }).impossible).toBe(false);
    expect(assessTravel(from, to, 1, { max_speed_kmh: 900, min_distance_km: d }).impossible).toBe(false);
  });

  it('fast but just under the minimum distance is possible; just over is impossible', () => {
    const minute = 60_000;
    expect(assessTravel(north(0), north(499.9), minute, LIMITS).impossible).toBe(false);
    expect(assessTravel(north(0), north(500.1), minute, LIMITS).impossible).toBe(true);
  });

  it('compares unrounded values: 500.04 km rounds to 500 but is over the minimum', () => {
    const r = assessTravel(north(0), north(500.04), 60_000, LIMITS);
    expect(r.distance_km).toBe(500);
    expect(r.impossible).toBe(true);
  });

  it('rounds to one decimal for reporting', () => {
    const r = assessTravel(at(0), at(1), HOUR, LIMITS);
    expect(r.distance_km).toBe(111.2);
    expect(r.speed_kmh).toBe(111.2);
  });

  it('no elapsed time (or a last login in the future) reports an unbounded, JSON-safe speed', () => {
    for (const elapsed of [0, -5_000, Number.NaN]) {
      const r = assessTravel(north(0), north(1000), elapsed, LIMITS);
      expect(r.speed_kmh).toBe(UNBOUNDED_SPEED_KMH);
      expect(r.impossible).toBe(true);
      expect(JSON.parse(JSON.stringify(r)).speed_kmh).toBe(UNBOUNDED_SPEED_KMH);
    }
    // Simultaneous logins from the same place are not travel.
    expect(assessTravel(north(0), north(0), 0, LIMITS).impossible).toBe(false);
  });

  it('a tiny but positive elapsed time still gives a finite reported speed', () => {
    const r = assessTravel(at(0, 0), at(0, 180), Number.MIN_VALUE, LIMITS);
    expect(Number.isFinite(r.speed_kmh)).toBe(true);
    expect(r.impossible).toBe(true);
  });
});
