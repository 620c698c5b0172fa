// Great-circle distance and the impossible-travel test between two logins.

/** IUGG mean Earth radius R1 = (2a + b) / 3 of GRS80 (Moritz, Geodetic Reference System 1980), in km. */
export const EARTH_RADIUS_KM = 6371.0088;

const MS_PER_HOUR = 3_600_000;
const DEG_TO_RAD = Math.PI / 180;

/**
 * The speed reported when no time passed between the two logins (or the clocks disagree and the last login
 * is in the future). Mathematically infinite, but JSON.stringify(Infinity) is `null`, which would break
 * the decision log's numeric field; Number.MAX_VALUE serialises as a number, reads back unchanged, and
 * exceeds every real speed (the worst real case, half the Earth in 1 ms, is ~7.2e10 km/h).
 */
export const UNBOUNDED_SPEED_KMH = Number.MAX_VALUE;

export interface LatLon {
  lat: number;
  lon: number;
}

export interface TravelLimits {
  max_speed_kmh: number;
  min_distance_km: number;
}

export interface TravelAssessment {
  /** Rounded to 0.1 km. */
  distance_km: number;
  /** Rounded to 0.1 km/h; UNBOUNDED_SPEED_KMH when elapsed ≤ 0. */
  speed_kmh: number;
  /** Decided on the unrounded values. */
  impossible: boolean;
}

/** Haversine great-circle distance in km (spherical Earth: within ~0.5% of the ellipsoid, plenty here). */
export function distanceKm(a: LatLon, b: LatLon): number {
  const dLat = (b.lat - a.lat) * DEG_TO_RAD;
  const dLon = (b.lon - a.lon) * DEG_TO_RAD;
  const sinLat = Math.sin(dLat / 2);
  const sinLon = Math.sin(dLon / 2);
  const h = sinLat * sinLat + Math.cos(a.lat * DEG_TO_RAD) * Math.cos(b.lat * DEG_TO_RAD) * sinLon * sinLon;
  // Rounding can push h a hair above 1 for antipodal points; asin would then give NaN.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(Math.min(1, h)));
}

/**
 * Impossible when the distance exceeds `min_distance_km` (nearby jumps are geo-IP noise: the same city
 * resolves to points tens of km apart) and the implied speed exceeds `max_speed_kmh`.
 */
export function assessTravel(from: LatLon, to: LatLon, elapsedMs: number, limits: TravelLimits): TravelAssessment {
  const distance = distanceKm(from, to);
  // `> 0` is also false for NaN, so a garbage time counts as "no time passed" rather than "no travel".
  const speed = elapsedMs > 0 ? distance / (elapsedMs / MS_PER_HOUR) : Infinity;
  const reportedSpeed = round1(speed); // Infinity for Infinity, and for a finite speed near Number.MAX_VALUE
  return {
    distance_km: round1(distance),
    speed_kmh: Number.isFinite(reportedSpeed) ? reportedSpeed : UNBOUNDED_SPEED_KMH,
    impossible: distance > limits.min_distance_km && speed > limits.max_speed_kmh,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
