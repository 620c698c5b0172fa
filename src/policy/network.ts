// Trusted and blocked networks. Parsing is strict at load (a typo in a trusted range must not silently
// trust a wider one); matching is on the hot path, in plain JavaScript over 32-bit words (see ip.ts for
// why not BlockList.check), with BlockList's semantics; the tests check it against BlockList.
import { isIP } from 'node:net';
import type { NetworkList } from './types.js';
import { formatIpv4, formatIpv6, MAPPED_PREFIX_WORD, maskWords, parseIpv4, parseIpv6, wordMask, type Words } from './ip.js';

export interface Cidr {
  /** As written in the policy. */
  source: string;
  /** The network in the 128-bit space (IPv4 mapped into ::ffff:0:0/96). */
  words: Words;
  /** Prefix length in the 128-bit space: 96 + the IPv4 prefix for an IPv4 network. */
  prefix: number;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare IP (a /32 or /128); returns the reason when invalid. */
export function parseCidr(source: string): Cidr | string {
  const slash = source.indexOf('/');
  const address = slash < 0 ? source : source.slice(0, slash);
  if (address.includes('%')) return 'zone ids (%) are not allowed';
  const version = isIP(address);
  if (version === 0) return slash < 0 ? 'not an IPv4 or IPv6 address' : `${JSON.stringify(address)} is not an IPv4 or IPv6 address`;
  const v4 = version === 4;
  const words: Words = v4 ? [0, 0, MAPPED_PREFIX_WORD, parseIpv4(address)] : (parseIpv6(address) as Words);
  const max = v4 ? 32 : 128;
  const base = v4 ? 96 : 0;
  if (slash < 0) return { source, words, prefix: 128 };
  const prefixText = source.slice(slash + 1);
  const prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix <= max)) return `the prefix length must be 0..${max} for ${v4 ? 'IPv4' : 'IPv6'}`;
  const network = maskWords(words, base + prefix);
  if (network.some((w, i) => w !== words[i])) {
    const text = v4 ? formatIpv4(network[3]) : formatIpv6(network);
    return `host bits are set (did you mean ${text}/${prefix}?)`;
  }
  return { source, words, prefix: base + prefix };
}

/** Why `source` is not a valid CIDR, or null when it is (the ajv `cidr` format). */
export function explainCidr(source: unknown): string | null {
  if (typeof source !== 'string') return 'must be a string';
  const parsed = parseCidr(source);
  return typeof parsed === 'string' ? parsed : null;
}

/** Networks inside ::ffff:0:0/96 with the same IPv4 prefix length: one Map lookup per group. */
interface V4Group {
  mask: number;
  /** masked IPv4 network -> index of the first entry written with it */
  first: Map<number, number>;
}

interface V6Entry {
  words: Words;
  prefix: number;
  index: number;
}

function contains(e: V6Entry, a: Words): boolean {
  for (let i = 0; i < 4; i++) {
    const bits = e.prefix - i * 32;
    if (bits <= 0) return true;
    if (((a[i] as number) & wordMask(bits)) >>> 0 !== e.words[i]) return false;
  }
  return true;
}

const EMPTY: NetworkList = { size: 0, match: () => null };

/** Compiles CIDRs (validated by the schema already); throws on an invalid entry. */
export function compileNetworkList(cidrs: readonly string[]): NetworkList {
  if (cidrs.length === 0) return EMPTY;
  const groups = new Map<number, V4Group>();
  const v6: V6Entry[] = [];
  cidrs.forEach((source, index) => {
    const cidr = parseCidr(source);
    if (typeof cidr === 'string') throw new Error(`invalid CIDR ${JSON.stringify(source)}: ${cidr}`);
    const [w0, w1, w2, w3] = cidr.words;
    if (cidr.prefix >= 96 && w0 === 0 && w1 === 0 && w2 === MAPPED_PREFIX_WORD) {
      const mask = wordMask(cidr.prefix - 96);
      let group = groups.get(mask);
      if (!group) groups.set(mask, (group = { mask, first: new Map() }));
      if (!group.first.has(w3)) group.first.set(w3, index);
    } else {
      v6.push({ words: cidr.words, prefix: cidr.prefix, index });
    }
  });
  const v4Groups = [...groups.values()];
  const sources = [...cidrs];

  return {
    size: sources.length,
    match(ip: string): string | null {
      if (typeof ip !== 'string') return null;
      // IPv4 (the common case) stays a number: no words are built unless an IPv6 entry needs them.
      let a: Words | null = null;
      let v4: number;
      if (ip.includes(':')) {
        a = parseIpv6(ip);
        if (a === null) return null;
        v4 = a[0] === 0 && a[1] === 0 && a[2] === MAPPED_PREFIX_WORD ? a[3] : -1;
      } else {
        v4 = parseIpv4(ip);
        if (v4 < 0) return null;
      }
      let best = Infinity;
      if (v4 >= 0) {
        for (const g of v4Groups) {
          const i = g.first.get((v4 & g.mask) >>> 0);
          if (i !== undefined && i < best) best = i;
        }
      }
      if (v6.length > 0) {
        a ??= [0, 0, MAPPED_PREFIX_WORD, v4];
        for (const e of v6) {
          if (e.index >= best) break;
          if (contains(e, a)) best = e.index;
        }
      }
      return best === Infinity ? null : (sources[best] ?? null);
    },
  };
}
