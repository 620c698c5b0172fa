import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../crypto.js';
import { FactorError, FactorErrorCode } from '../errors.js';
import {
  BACKUP_CODE_ALPHABET,
  backupCodeCandidates,
  formatBackupCode,
  generateBackupCodes,
  hashBackupCode,
  hashBackupCodes,
  normalizeBackupCode,
} from './codes.js';

describe('generateBackupCodes', () => {
  it('uses the 32-symbol Crockford alphabet (no I, L, O, U): 12 symbols = 60 bits', () => {
    expect(BACKUP_CODE_ALPHABET).toHaveLength(32);
    expect(new Set(BACKUP_CODE_ALPHABET).size).toBe(32);
    expect(BACKUP_CODE_ALPHABET).not.toMatch(/[ILOU]/);
    expect(12 * Math.log2(BACKUP_CODE_ALPHABET.length)).toBe(60);
  });

  it('formats XXXX-XXXX-XXXX from the alphabet', () => {
    for (const code of generateBackupCodes(100)) {
      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    }
  });

  it('gives the requested count, distinct within a set and across many sets', () => {
    const all = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const set = generateBackupCodes(10);
      expect(set).toHaveLength(10);
      expect(new Set(set).size).toBe(10);
      for (const c of set) all.add(c);
    }
    expect(all.size).toBe(2000);
  });

  it('uses every symbol about equally often in every position (no modulo bias, no stuck position)', () => {
    const codes = Array.from({ length: 200 }, () => generateBackupCodes(100)).flat().map((c) => c.replace(/-/g, ''));
    const n = codes.length; // 20 000 codes -> 625 expected per symbol per position
    for (let pos = 0; pos < 12; pos++) {
      const counts = new Map<string, number>();
      for (const c of codes) counts.set(c[pos]!, (counts.get(c[pos]!) ?? 0) + 1);
      expect(counts.size).toBe(32);
      // Chi-squared, 31 degrees of freedom: P(> 100) is ~3e-9 for a uniform source, so this does not flake,
      // yet a biased source fails it by far (e.g. randomInt(100) % 32, where 0-3 are 4/3 as likely: ~224).
      const expected = n / 32;
      let chi2 = 0;
      for (const count of counts.values()) chi2 += (count - expected) ** 2 / expected;
      expect(chi2).toBeLessThan(100);
    }
  });

  it.each([0, 101, -1, 1.5, Number.NaN])('refuses count %s with INVALID_COUNT', (count) => {
    try {
      generateBackupCodes(count);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FactorError);
      expect((err as FactorError).code).toBe(FactorErrorCode.INVALID_COUNT);
    }
  });

  it('accepts the bounds 1 and 100', () => {
    expect(generateBackupCodes(1)).toHaveLength(1);
    expect(generateBackupCodes(100)).toHaveLength(100);
  });

  it('every generated code normalises to its own 12 symbols', () => {
    for (const code of generateBackupCodes(100)) {
      expect(normalizeBackupCode(code)).toBe(code.replace(/-/g, ''));
      expect(formatBackupCode(normalizeBackupCode(code)!)).toBe(code);
    }
  });
});

describe('normalizeBackupCode', () => {
  it.each([
    ['ABCD-EFGH-JKMN', 'ABCDEFGHJKMN'],
    ['abcd-efgh-jkmn', 'ABCDEFGHJKMN'],
    ['ABCDEFGHJKMN', 'ABCDEFGHJKMN'],
    ['abcd efgh jkmn', 'ABCDEFGHJKMN'],
    ['  ABCD - EFGH - JKMN  ', 'ABCDEFGHJKMN'],
    ['AB-CD-EF-GH-JK-MN', 'ABCDEFGHJKMN'],
    ['0123-4567-89AB', '0123456789AB'],
    ['OI23-456L-89AB', '0123456189AB'], // look-alikes: O -> 0, I -> 1, L -> 1
    ['oi23-456l-89ab', '0123456189AB'],
    ['ABCD-EFGH-JKM', null], // 11 symbols
    ['ABCD-EFGH-JKMNP', null], // 13 symbols
    ['ABCD-EFGH-JKMU', null], // U is not in the alphabet
    ['ABCD_EFGH_JKMN', null],
    ['ABCD-EFGH-JKM!', null],
    ['ＡＢＣＤ-ＥＦＧＨ-ＪＫＭＮ', null], // full-width letters
    ['ABCD-EFGH-JKMı', null], // dotless i upper-cases to I in Unicode; ASCII only
    ['', null],
    ['123456', null], // a TOTP code
    [null, null],
    [undefined, null],
    [123456789012, null],
    ['A'.repeat(12) + ' '.repeat(100), null],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeBackupCode(input)).toBe(expected);
  });
});

describe('hashing', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const code = normalizeBackupCode(generateBackupCodes(1)[0]!)!;

  it('is a stable hex HMAC per key, different across keys and codes, never the code', () => {
    const ring = createKeyring(k1);
    const h = hashBackupCode(ring, code);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(hashBackupCode(createKeyring(k1), code)).toBe(h);
    expect(hashBackupCode(createKeyring(k2), code)).not.toBe(h);
    expect(hashBackupCode(ring, code === '000000000000' ? '111111111111' : '000000000000')).not.toBe(h);
    expect(h).not.toContain(code.toLowerCase());
  });

  it('candidates are the primary hash first, then one per old key', () => {
    const ring = createKeyring(k2, [k1]);
    expect(backupCodeCandidates(ring, code)).toEqual([hashBackupCode(createKeyring(k2), code), hashBackupCode(createKeyring(k1), code)]);
  });

  it('a rotated keyring still matches a code hashed under the old primary', () => {
    const stored = hashBackupCodes(createKeyring(k1), [formatBackupCode(code)]);
    const rotated = createKeyring(k2, [k1]);
    expect(backupCodeCandidates(rotated, code)).toContain(stored[0]);
    expect(hashBackupCode(rotated, code)).not.toBe(stored[0]); // new codes are stored under the new primary
    expect(backupCodeCandidates(createKeyring(k2), code)).not.toContain(stored[0]); // once k1 is dropped, gone
  });

  it('the same code typed any accepted way hashes the same', () => {
    const ring = createKeyring(k1);
    const formatted = formatBackupCode(code);
    const variants = [formatted, formatted.toLowerCase(), formatted.replace(/-/g, ' '), code];
    const hashes = variants.map((v) => hashBackupCode(ring, normalizeBackupCode(v)!));
    expect(new Set(hashes).size).toBe(1);
  });

  it('refuses to hash a non-canonical code', () => {
    const ring = createKeyring(k1);
    expect(() => hashBackupCode(ring, 'abcd-efgh-jkmn')).toThrow(FactorError);
    expect(() => backupCodeCandidates(ring, 'ABCDEFGHJKMU')).toThrow(FactorError);
    expect(() => hashBackupCodes(ring, ['not a code'])).toThrow(FactorError);
  });
});
