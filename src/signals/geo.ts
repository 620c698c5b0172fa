// IP -> location, via geoip-lite's bundled GeoLite2 data, behind an LRU cache.
//
// geoip-lite is loaded lazily (first lookup, or `preloadGeoData()`): its data costs ~150 MB and ~200 ms,
// and modules that import signals only for helpers or types (policy tooling, `mfa-gate validate`)
// should not pay that. A server calls `preloadGeoData()` at start so no request pays it.
import { createRequire } from 'node:module';
import { BlockList, SocketAddress, isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import type { Granularity } from '../policy/types.js';
import type { GeoInfo } from '../types.js';

type GeoipLite = typeof import('geoip-lite');

const require = createRequire(import.meta.url);
let geoip: GeoipLite | null = null;

/** Loads geoip-lite's data now (else the first lookup does). Idempotent. */
export function preloadGeoData(): void {
  db();
}

function db(): GeoipLite {
  return (geoip ??= require('geoip-lite') as GeoipLite);
}

/** A resolved IP: the location and its keys at every granularity, computed once per cache entry. */
export interface GeoEntry {
  readonly geo: Readonly<GeoInfo>;
  readonly keys: Readonly<Record<Granularity, string>>;
}

// 100k entries: a GeoEntry is ~200 bytes, so ~20 MB at most, beside the ~150 MB of geoip data; enough to hold
// the active client IPs of a large deployment. Misses (`false`) are cached too: a private or unlisted
// address costs as much to look up as a listed one.
const GEO_CACHE_MAX = 100_000;
const cache = new LRUCache<string, GeoEntry | false>({ max: GEO_CACHE_MAX });

/** Forgets cached lookups (after a geo data update, and in tests). */
export function clearGeoCache(): void {
  cache.clear();
}

// Addresses that never have a public location. IANA IPv4/IPv6 Special-Purpose Address Registries
// (RFC 6890 and updates), plus multicast (RFC 5771, RFC 4291 2.7) and 240/4 reserved (RFC 1112).
// geoip-lite already returns null for most of these; listing them keeps that a decision of ours, not a
// property of whichever data file ships.
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // RFC 6598 shared address space (carrier-grade NAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the limited broadcast 255.255.255.255
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation (RFC 8215)
  ['100::', 64], // discard-only (RFC 6666)
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (RFC 4193)
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** The location of a public IP, or null (private, reserved, unlisted or malformed). Never throws. */
export function lookupGeo(ip: string): GeoInfo | null {
  const entry = lookupGeoEntry(ip);
  return entry === null ? null : entry.geo;
}

/**
 * Like `lookupGeo`, with the location keys. The returned objects are frozen and shared by every caller:
 * they are the cache's. Malformed strings are not cached, so junk input cannot evict real entries.
 */
export function lookupGeoEntry(ip: string): GeoEntry | null {
  const hit = cache.get(ip);
  if (hit !== undefined) return hit === false ? null : hit;
  if (typeof ip !== 'string') return null;
  const family = isIP(ip);
  if (family === 0) return null;
  const entry = resolve(ip, family);
  cache.set(ip, entry ?? false);
  return entry;
}

function resolve(ip: string, family: number): GeoEntry | null {
  let address = ip;
  let type: 'ipv4' | 'ipv6' = family === 4 ? 'ipv4' : 'ipv6';
  if (type === 'ipv6') {
    // Canonicalise: drops a zone id (`%eth0`), lowercases, and writes an IPv4-mapped address in dotted form
    // whatever its spelling. geoip-lite itself mislocates `::ffff:0808:0808` (it reads it as 40.0.0.0).
    let canonical: string;
    try {
      canonical = new SocketAddress({ address: ip, family: 'ipv6' }).address;
    } catch {
      return null;
    }
    address = canonical;
    if (canonical.startsWith('::ffff:')) {
      const v4 = canonical.slice(7);
      if (isIP(v4) === 4) {
        address = v4;
        type = 'ipv4';
      }
    }
  }
  if (NON_PUBLIC.check(address, type)) return null;

  let found: ReturnType<GeoipLite['lookup']>;
  try {
    found = db().lookup(address);
  } catch {
    return null;
  }
  // geoip-lite returns a record with an empty country for ranges it lists without a location (1.1.1.1).
  if (found === null || !found.country) return null;
  const [lat, lon] = found.ll ?? [];
  if (typeof lat !== 'number' || typeof lon !== 'number' || !Number.isFinite(lat) || !Number.isFinite(lon)) {
    return null;
  }
  const geo: GeoInfo = Object.freeze({
    country: found.country,
    region: found.region ?? '',
    city: found.city ?? '',
    lat,
    lon,
  });
  const full = fullLocationKey(geo);
  return Object.freeze({
    geo,
    keys: Object.freeze({
      country: truncateLocationKey(full, 'country'),
      region: truncateLocationKey(full, 'region'),
      city: full,
    }),
  });
}

/**
 * Keys are built with Array.join, not `+` or a template: V8 represents a concatenation of 13 or more
 * characters as a rope (ConsString), and comparing a rope with another string is slow every time
 * (measured, Node 20: `includes` over 20 flat keys 1.0 µs with a rope as the needle, 55 ns with a flat
 * string). join() returns a flat string. These keys are compared against every learned key per decision.
 *
 * `CC/REGION/City`, trailing unknown parts dropped (`CC/REGION`, `CC`). An unknown part in the middle stays
 * empty (`SG//Singapore`: city-states have a city but no region), so a key never shifts a city into the
 * region's place.
 */
function fullLocationKey(geo: GeoInfo): string {
  if (geo.city) return [geo.country, geo.region, geo.city].join('/');
  if (geo.region) return [geo.country, geo.region].join('/');
  return geo.country;
}

/** The location key at `granularity` (`key`) and at city granularity (`full`, what the store learns). */
export function locationKeys(geo: GeoInfo, granularity: Granularity): { key: string; full: string } {
  const full = fullLocationKey(geo);
  return { key: truncateLocationKey(full, granularity), full };
}

const SLASH = 0x2f;

/**
 * Cuts a location key written at any granularity down to `granularity`; trailing empty parts are dropped.
 * Cuts at the first or second `/` only: country codes and region codes never hold one, city names may
 * (`CH/BE/Biel/Bienne`). A key coarser than `granularity` comes back unchanged (`US` at city is `US`).
 * Returns the same string when nothing changes, so the hot path allocates nothing for most keys.
 */
export function truncateLocationKey(key: string, granularity: Granularity): string {
  let end = key.length;
  if (granularity !== 'city') {
    const first = key.indexOf('/');
    if (first !== -1) {
      if (granularity === 'country') {
        end = first;
      } else {
        const second = key.indexOf('/', first + 1);
        if (second !== -1) end = second;
      }
    }
  }
  while (end > 0 && key.charCodeAt(end - 1) === SLASH) end--;
  return end === key.length ? key : key.slice(0, end);
}
