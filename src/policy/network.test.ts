import { BlockList, isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv6, parseIp, parseIpv4, parseIpv6 } from './ip.js';
import { compileNetworkList, explainCidr, parseCidr } from './network.js';

describe('compileNetworkList', () => {
  const list = compileNetworkList(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7', '10.1.0.0/16', '::1']);

  it.each([
    ['10.1.2.3', '10.0.0.0/8'], // the first entry that contains it, in the order written
    ['10.255.255.255', '10.0.0.0/8'],
    ['11.0.0.0', null],
    ['9.255.255.255', null],
    ['192.0.2.7', '192.0.2.7'],
    ['192.0.2.8', null],
    ['2001:db8::5', '2001:db8::/32'],
    ['2001:DB8:ffff::1', '2001:db8::/32'],
    ['2001:db9::1', null],
    ['::1', '::1'],
    ['::2', null],
    ['::ffff:10.1.2.3', '10.0.0.0/8'],
    ['::ffff:a01:203', '10.0.0.0/8'],
    ['0:0:0:0:0:ffff:192.0.2.7', '192.0.2.7'],
    ['::10.1.2.3', null], // IPv4-compatible (deprecated), not mapped
  ])('%s -> %s', (ip, expected) => {
    expect(list.match(ip)).toBe(expected);
  });

  it.each(['', 'x', '10.1.2', '10.1.2.3.4', '010.1.2.3', '10.1.2.256', ' 10.1.2.3', '10.1.2.3 ', '10.1.2.3/8', 'fe80::1%eth0', '::ffff:10.1.2.3.4', '1::2::3', '2001:db8::g'])(
    'malformed %j -> null',
    (ip) => {
      expect(list.match(ip)).toBeNull();
    },
  );

  it('never throws, whatever it is given', () => {
    const anyList = compileNetworkList(['0.0.0.0/0', '::/0']);
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const r = anyList.match(v as string);
        expect(r === null || typeof r === 'string').toBe(true);
      }),
    );
  });

  it('returns null at once for an empty list', () => {
    const empty = compileNetworkList([]);
    expect(empty.size).toBe(0);
    expect(empty.match('10.1.2.3')).toBeNull();
  });

  it('reports its size', () => {
    expect(list.size).toBe(5);
  });

  it('prefers the entry written first when several contain the address', () => {
    const l = compileNetworkList(['10.1.0.0/16', '10.0.0.0/8', '::ffff:0:0/96', '0.0.0.0/0']);
    expect(l.match('10.1.2.3')).toBe('10.1.0.0/16');
    expect(l.match('10.2.0.1')).toBe('10.0.0.0/8');
    expect(l.match('8.8.8.8')).toBe('::ffff:0:0/96');
    const v6first = compileNetworkList(['::/0', '10.0.0.0/8']);
    expect(v6first.match('10.0.0.1')).toBe('::/0'); // as BlockList: ::/0 contains every mapped IPv4 address
  });

  it('throws on an invalid CIDR (the schema catches these first)', () => {
    expect(() => compileNetworkList(['10.0.0.0/33'])).toThrow('invalid CIDR "10.0.0.0/33": the prefix length must be 0..32 for IPv4');
  });

  it('agrees with node:net BlockList', () => {
    const v4 = fc.ipV4();
    const v6 = fc.ipV6();
    const cidr = fc.oneof(
      fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => ({ a, p, family: 'ipv4' as const })),
      fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, p]) => ({ a, p, family: 'ipv6' as const })),
    );
    const near = (a: string): fc.Arbitrary<string> => fc.constantFrom(a, `::ffff:${a}`);
    fc.assert(
      fc.property(fc.array(cidr, { minLength: 1, maxLength: 6 }), fc.array(fc.oneof(v4.chain(near), v6), { maxLength: 8 }), (nets, ips) => {
        // Networks as written by a person: host bits cleared (BlockList masks them itself).
        const sources = nets.map(({ a, p, family }) => {
          const parsed = parseCidr(`${a}/${p}`);
          if (typeof parsed !== 'string') return `${a}/${p}`;
          const m = /did you mean (.*)\?/.exec(parsed);
          return m?.[1] ?? `${a}/${family === 'ipv4' ? 32 : 128}`;
        });
        const list = compileNetworkList(sources);
        const block = new BlockList();
        for (const s of sources) {
          const [addr = '', p] = s.split('/');
          block.addSubnet(addr, Number(p), isIP(addr) === 4 ? 'ipv4' : 'ipv6');
        }
        for (const ip of [...ips, ...nets.map((n) => n.a)]) {
          expect(list.match(ip) !== null).toBe(block.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6'));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', null],
    ['0.0.0.0/0', null],
    ['192.0.2.7', null],
    ['192.0.2.7/32', null],
    ['2001:db8::/32', null],
    ['::/0', null],
    ['::1', null],
    ['::ffff:10.0.0.0/104', null],
    ['10.0.0.1/8', 'host bits are set (did you mean 10.0.0.0/8?)'],
    ['2001:db8::1/32', 'host bits are set (did you mean 2001:db8::/32?)'],
    ['2001:db8:0:0:0:0:2:1/112', 'host bits are set (did you mean 2001:db8::2:0/112?)'],
    ['10.0.0.0/33', 'the prefix length must be 0..32 for IPv4'],
    ['2001:db8::/129', 'the prefix length must be 0..128 for IPv6'],
    ['10.0.0.0/', 'the prefix length must be 0..32 for IPv4'],
    ['10.0.0.0/8/8', 'the prefix length must be 0..32 for IPv4'],
    ['10.0.0.0/-1', 'the prefix length must be 0..32 for IPv4'],
    ['10.0.0.0/ 8', 'the prefix length must be 0..32 for IPv4'],
    ['10.0.0/8', '"10.0.0" is not an IPv4 or IPv6 address'],
    ['hello', 'not an IPv4 or IPv6 address'],
    ['fe80::1%eth0', 'zone ids (%) are not allowed'],
  ])('%s -> %s', (source, reason) => {
    expect(explainCidr(source)).toBe(reason);
  });
});

describe('IP parsing', () => {
  it('reads IPv4 exactly as isIP does', () => {
    const text = fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.stringMatching(/^[0-9.]{0,16}$/));
    fc.assert(
      fc.property(text, (s) => {
        expect(parseIpv4(s) >= 0).toBe(isIP(s) === 4);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads IPv6 exactly as isIP does (zone ids aside)', () => {
    const text = fc.oneof(fc.ipV6(), fc.stringMatching(/^[0-9a-fA-F:.]{0,24}$/));
    fc.assert(
      fc.property(text, (s) => {
        expect(parseIpv6(s) !== null).toBe(isIP(s) === 6);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips IPv6 through RFC 5952 text', () => {
    fc.assert(
      fc.property(fc.ipV6(), (s) => {
        const words = parseIpv6(s);
        expect(words).not.toBeNull();
        expect(parseIpv6(formatIpv6(words as [number, number, number, number]))).toEqual(words);
      }),
    );
  });

  it('maps IPv4 into ::ffff:0:0/96', () => {
    expect(parseIp('10.1.2.3')).toEqual(parseIp('::ffff:10.1.2.3'));
    expect(formatIpv6([0, 0, 0, 1])).toBe('::1');
    expect(formatIpv6([0x20010db8, 0, 0, 0])).toBe('2001:db8::');
  });
});
