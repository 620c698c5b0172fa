// User agent -> DeviceInfo and device key, via ua-parser-js 1.x (MIT; 2.x is AGPL) behind an LRU cache.
// A parse costs ~22 µs, a cache hit ~0.2 µs; a deployment sees few distinct user agents.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import UAParser from 'ua-parser-js';
import type { DeviceInfo, LoginContext } from '../types.js';

/** A parsed user agent and the device key derived from it, computed once per cache entry. */
export interface DeviceEntry {
  readonly info: Readonly<DeviceInfo>;
  /** `ua-` + 16 hex chars of sha256(`browser|os|type`). */
  readonly key: string;
}

const UNKNOWN = 'unknown';

// ua-parser-js 1.x (src/ua-parser.js, UA_MAX_LENGTH) strips leading whitespace from a user agent longer
// than 500 characters and parses only its first 500; we cut the same way before caching, so a long or
// hostile user agent costs at most 500 characters of cache and maps to the entry ua-parser would compute.
const UA_MAX_LENGTH = 500;

// 10k entries × ≤500 chars: ≤10 MB; distinct user agents are far fewer (one per browser build and OS).
const DEVICE_CACHE_MAX = 10_000;
const cache = new LRUCache<string, DeviceEntry>({ max: DEVICE_CACHE_MAX });

/** Device keys of the DeviceInfo objects this module handed out, so `deviceKey` need not hash again. */
const keyOfInfo = new WeakMap<object, string>();

/** Forgets cached parses (tests). */
export function clearDeviceCache(): void {
  cache.clear();
}

/** Browser family, OS name and device type of a user agent; `unknown` parts for empty or garbage. Never throws. */
export function parseDevice(userAgent: string): DeviceInfo {
  return deviceEntry(userAgent).info;
}

/** Like `parseDevice`, with the UA-derived device key. The returned objects are frozen and shared (the cache's). */
export function deviceEntry(userAgent: string): DeviceEntry {
  let ua = typeof userAgent === 'string' ? userAgent : '';
  if (ua.length > UA_MAX_LENGTH) ua = ua.replace(/^\s+/, '').slice(0, UA_MAX_LENGTH);
  let entry = cache.get(ua);
  if (entry === undefined) {
    const info = Object.freeze(parse(ua));
    const key = hashDeviceInfo(info);
    keyOfInfo.set(info, key);
    entry = Object.freeze({ info, key });
    cache.set(ua, entry);
  }
  return entry;
}

function parse(ua: string): DeviceInfo {
  if (ua === '') return { browser: UNKNOWN, os: UNKNOWN, type: UNKNOWN };
  try {
    // Only the three parts we use: getResult() would also run the engine and CPU regexes.
    const parser = new UAParser(ua);
    const browser = parser.getBrowser().name || UNKNOWN;
    const os = parser.getOS().name || UNKNOWN;
    // ua-parser reports a type (mobile, tablet, smarttv, wearable, console, embedded, xr) only for those;
    // a recognised browser or OS without one is a desktop, nothing recognised is unknown (curl, bots, junk).
    const type = parser.getDevice().type || (browser !== UNKNOWN || os !== UNKNOWN ? 'desktop' : UNKNOWN);
    return { browser, os, type };
  } catch {
    return { browser: UNKNOWN, os: UNKNOWN, type: UNKNOWN };
  }
}

function hashDeviceInfo(info: DeviceInfo): string {
  const digest = createHash('sha256').update(`${info.browser}|${info.os}|${info.type}`).digest('hex');
  // Joined, not concatenated: a flat string, not a V8 rope (see fullLocationKey in geo.ts), since this key
  // is compared against every known device of the user on every decision.
  return ['ua-', digest.slice(0, 16)].join('');
}

/** True when the caller supplied a device id (non-empty string), which then is the device key verbatim. */
export function hasDeviceId(context: Pick<LoginContext, 'device_id'>): context is { device_id: string } {
  return typeof context.device_id === 'string' && context.device_id !== '';
}

/**
 * The device key: the caller's `device_id` verbatim when given, else the hash of browser family, OS and
 * device type (no versions, so a browser update keeps the key).
 */
export function deviceKey(context: Pick<LoginContext, 'device_id'>, info: DeviceInfo): string {
  if (hasDeviceId(context)) return context.device_id;
  return keyOfInfo.get(info) ?? hashDeviceInfo(info);
}
