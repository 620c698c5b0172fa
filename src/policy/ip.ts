// IP addresses as four 32-bit words of the 128-bit IPv6 space, an IPv4 address mapped into ::ffff:0:0/96
// (RFC 4291 2.5.5.2) — the same single space node:net's BlockList matches in, so `10.0.0.0/8` contains
// `::ffff:10.1.2.3` and `::ffff:0:0/96` contains `10.1.2.3`. Parsing is in plain JavaScript because the
// matcher runs on every decision and `BlockList.check(string)` costs ~2.5 µs (it builds a SocketAddress).
export type Words = [number, number, number, number];

/** The third word of an IPv4-mapped address. */
export const MAPPED_PREFIX_WORD = 0xffff;

/** Parses a dotted quad as strictly as node:net's isIP (no leading zeros); the address as uint32, or -1. */
export function parseIpv4(s: string, start = 0, end = s.length): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (octets < 4) {
    const first = i;
    let octet = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const len = i - first;
    if (len === 0 || len > 3 || octet > 255 || (len > 1 && s.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (s.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses an IPv6 address (also with a trailing dotted quad) into words; null when invalid or with a zone id.
 * A single pass without allocation beyond the result: split-based parsing measured ~3 µs per address. */
export function parseIpv6(s: string): Words | null {
  const n = s.length;
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gap = -1; // where `::` stands, as a group index
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return null;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    let d: number;
    while (i < n && i - start < 5 && (d = hexValue(s.charCodeAt(i))) >= 0) {
      value = value * 16 + d;
      i++;
    }
    if (i < n && s.charCodeAt(i) === 46) {
      if (count > 6) return null;
      const v4 = parseIpv4(s, start, n);
      if (v4 < 0) return null;
      g[count++] = Math.floor(v4 / 65536);
      g[count++] = v4 % 65536;
      i = n;
      break;
    }
    const len = i - start;
    if (len === 0 || len > 4 || count === 8) return null;
    g[count++] = value;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return null;
    i++;
    if (s.charCodeAt(i) === 58) {
      if (gap >= 0) return null;
      gap = count;
      i++;
    } else if (i === n) {
      return null;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return null;
  if (gap >= 0) {
    const shift = 8 - count;
    for (let k = count - 1; k >= gap; k--) g[k + shift] = g[k] as number;
    for (let k = gap; k < gap + shift; k++) g[k] = 0;
  }
  const w = (k: number): number => ((g[k] as number) * 65536 + (g[k + 1] as number)) >>> 0;
  return [w(0), w(2), w(4), w(6)];
}

/** Words for any IP string, or null when it is not one. */
export function parseIp(s: string): Words | null {
  if (s.includes(':')) return parseIpv6(s);
  const v4 = parseIpv4(s);
  return v4 < 0 ? null : [0, 0, MAPPED_PREFIX_WORD, v4];
}

/** The mask for the `bits` high bits of a 32-bit word (bits clamped to 0..32). */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** The words with every bit after `prefix` (0..128) cleared. */
export function maskWords(words: Words, prefix: number): Words {
  return words.map((w, i) => (w & wordMask(prefix - i * 32)) >>> 0) as Words;
}

export function formatIpv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.');
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups compressed (the first on a tie). */
export function formatIpv6(words: Words): string {
  const groups: number[] = [];
  for (const w of words) groups.push(w >>> 16, w & 0xffff);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
