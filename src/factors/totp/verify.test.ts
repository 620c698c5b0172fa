import { HOTP, Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { FactorError } from '../errors.js';
import { normalizeTotpCode, totpAt, totpStep, verifyTotp, type TotpAlgorithm } from './verify.js';

// RFC 6238 Appendix B: the seed is the ASCII "1234567890" repeated to the hash's output length.
const SEEDS: Record<TotpAlgorithm, string> = {
  SHA1: '12345678901234567890',
  SHA256: '12345678901234567890123456789012',
  SHA512: '1234567890123456789012345678901234567890123456789012345678901234',
};
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'ascii'));

// RFC 6238 Appendix B, 8 digits: [T seconds, SHA1, SHA256, SHA512]
const RFC6238: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

// RFC 4226 Appendix D: HOTP of the 20-byte SHA1 seed for counters 0..9.
const RFC4226 = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

describe('totpAt: RFC test vectors', () => {
  for (const [t, ...codes] of RFC6238) {
    (['SHA1', 'SHA256', 'SHA512'] as const).forEach((algorithm, i) => {
      it(`RFC 6238 Appendix B: ${algorithm} at T=${t}`, () => {
        expect(totpAt(ascii(SEEDS[algorithm]), { timeMs: t * 1000 }, { algorithm, digits: 8 })).toBe(codes[i]);
      });
    });
  }

  RFC4226.forEach((code, counter) => {
    it(`RFC 4226 Appendix D: HOTP counter ${counter}`, () => {
      expect(totpAt(ascii(SEEDS.SHA1), { step: counter })).toBe(code);
    });
  });

  it('6-digit truncation is the last six digits of the 8-digit value (code mod 10^digits)', () => {
    for (const [t, sha1] of RFC6238) {
      expect(totpAt(ascii(SEEDS.SHA1), { timeMs: t * 1000 })).toBe(sha1.slice(-6));
    }
  });

  it('accepts the secret as base32 as well as bytes', () => {
    const b32 = new Secret({ buffer: ascii(SEEDS.SHA1).buffer as ArrayBuffer }).base32;
    expect(b32).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(totpAt(b32, { step: 0 })).toBe('755224');
  });

  it('refuses secrets under 128 bits, non-base32 text and bad options', () => {
    expect(() => totpAt(ascii('123456789012345'), { step: 0 })).toThrow(FactorError);
    expect(() => totpAt('not base32!', { step: 0 })).toThrow(FactorError);
    expect(() => totpAt(ascii(SEEDS.SHA1), { step: -1 })).toThrow(RangeError);
    expect(() => totpAt(ascii(SEEDS.SHA1), { step: 0 }, { digits: 5 })).toThrow(RangeError);
    expect(() => totpAt(ascii(SEEDS.SHA1), { step: 0 }, { algorithm: 'MD5' as TotpAlgorithm })).toThrow(RangeError);
  });
});

describe('verifyTotp', () => {
  const seedB32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

  it('accepts the RFC 6238 vectors truncated to 6 digits, through the same code path', () => {
    for (const [t, sha1] of RFC6238.slice(0, 5)) {
      const r = verifyTotp(seedB32, sha1.slice(-6), t * 1000);
      expect(r).toEqual({ ok: true, step: Math.floor(t / 30), delta: 0 });
    }
    expect(verifyTotp(seedB32, '287082', 59_000)).toEqual({ ok: true, step: 1, delta: 0 });
  });

  it('rejects the 8-digit form (verification is fixed at 6 digits)', () => {
    expect(verifyTotp(seedB32, '94287082', 59_000)).toEqual({ ok: false });
  });

  describe('window of one step each way, at step boundaries', () => {
    const secret = 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ';
    const S = 57_000_000; // a step in 2024
    const lastMsOfS = (S + 1) * 30_000 - 1;
    const firstMsOfNext = (S + 1) * 30_000;
    // Independent of totpAt: otpauth's own TOTP generator, at a time inside each step.
    const codeAt = (step: number): string =>
      TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: step * 30_000 + 12_345 });
    const codes = new Map([-3, -2, -1, 0, 1, 2, 3].map((d) => [d, codeAt(S + d)]));

    it('(precondition) the codes around S are distinct and the boundaries fall in the expected steps', () => {
      expect(new Set(codes.values()).size).toBe(codes.size);
      expect(totpStep(lastMsOfS)).toBe(S);
      expect(totpStep(firstMsOfNext)).toBe(S + 1);
    });

    it('in the last millisecond of step T: T-1, T and T+1 accepted, T-2 and T+2 rejected', () => {
      expect(verifyTotp(secret, codes.get(-1), lastMsOfS)).toEqual({ ok: true, step: S - 1, delta: -1 });
      expect(verifyTotp(secret, codes.get(0), lastMsOfS)).toEqual({ ok: true, step: S, delta: 0 });
      expect(verifyTotp(secret, codes.get(1), lastMsOfS)).toEqual({ ok: true, step: S + 1, delta: 1 });
      expect(verifyTotp(secret, codes.get(-2), lastMsOfS)).toEqual({ ok: false });
      expect(verifyTotp(secret, codes.get(2), lastMsOfS)).toEqual({ ok: false });
    });

    it('one millisecond later (step T+1): the code of T-1 has become T-2 and is rejected', () => {
      expect(verifyTotp(secret, codes.get(-1), firstMsOfNext)).toEqual({ ok: false });
      expect(verifyTotp(secret, codes.get(0), firstMsOfNext)).toEqual({ ok: true, step: S, delta: -1 });
      expect(verifyTotp(secret, codes.get(2), firstMsOfNext)).toEqual({ ok: true, step: S + 2, delta: 1 });
      expect(verifyTotp(secret, codes.get(3), firstMsOfNext)).toEqual({ ok: false });
    });

    it('window 0 accepts only the current step; a wider window reaches further', () => {
      expect(verifyTotp(secret, codes.get(-1), lastMsOfS, { window: 0 })).toEqual({ ok: false });
      expect(verifyTotp(secret, codes.get(0), lastMsOfS, { window: 0 })).toEqual({ ok: true, step: S, delta: 0 });
      expect(verifyTotp(secret, codes.get(-2), lastMsOfS, { window: 2 })).toEqual({ ok: true, step: S - 2, delta: -2 });
      expect(() => verifyTotp(secret, codes.get(0), lastMsOfS, { window: -1 })).toThrow(RangeError);
      expect(() => verifyTotp(secret, codes.get(0), lastMsOfS, { window: 11 })).toThrow(RangeError);
    });
  });

  it('returns the highest matching step when two steps in the window share a code', () => {
    // Found by search: for this secret, steps 55097151 and 55097152 both give 061764.
    const secret = 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ';
    const [a, b] = [55_097_151, 55_097_152];
    const s = Secret.fromBase32(secret);
    expect(HOTP.generate({ secret: s, counter: a })).toBe('061764');
    expect(HOTP.generate({ secret: s, counter: b })).toBe('061764');
    // Now in step a: a (T) and b (T+1) both match; b wins, so a later replay of a is caught by the store.
    expect(verifyTotp(secret, '061764', a * 30_000)).toEqual({ ok: true, step: b, delta: 1 });
    expect(verifyTotp(secret, '061764', b * 30_000)).toEqual({ ok: true, step: b, delta: 0 });
    expect(verifyTotp(secret, '061764', (b + 1) * 30_000)).toEqual({ ok: true, step: b, delta: -1 });
  });

  it('accepts surrounding spaces and one inner space ("123 456")', () => {
    const now = 1111111109_000; // SHA1 6-digit code 081804
    for (const c of ['081804', ' 081804 ', '081 804', '\t081 804\n']) {
      expect(verifyTotp(seedB32, c, now)).toMatchObject({ ok: true });
    }
  });

  it('rejects malformed codes with the same { ok: false } shape', () => {
    const now = 1111111109_000;
    const malformed: unknown[] = [
      '08180', '0818045', 'abcdef', '08180a', '０８１８０４', '١٢٣٤٥٦', '', ' ', '081  804', '08 1804', '081-804',
      '+81804', '0x1804', '8.1e+4', null, undefined, 81804, 81804n, ['081804'], { code: '081804' }, '0'.repeat(1000),
    ];
    for (const code of malformed) expect(verifyTotp(seedB32, code, now)).toEqual({ ok: false });
  });

  it('checks the code shape before any computation: a malformed code never touches the secret', () => {
    // A broken secret would throw if it were decoded; a malformed code returns before that.
    expect(verifyTotp('not base32!', '12345', 0)).toEqual({ ok: false });
    expect(() => verifyTotp('not base32!', '123456', 0)).toThrow(FactorError);
  });

  it('refuses an invalid clock', () => {
    expect(() => verifyTotp(seedB32, '123456', Number.NaN)).toThrow(RangeError);
    expect(() => verifyTotp(seedB32, '123456', -1)).toThrow(RangeError);
    expect(() => verifyTotp(seedB32, '123456', 2 ** 31 * 30_000)).toThrow(RangeError);
  });
});

describe('normalizeTotpCode', () => {
  it.each([
    ['123456', '123456'],
    [' 123456 ', '123456'],
    ['123 456', '123456'],
    ['12345', null],
    ['1234567', null],
    ['12345６', null],
    [null, null],
    [123456, null],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeTotpCode(input)).toBe(expected);
  });
});
