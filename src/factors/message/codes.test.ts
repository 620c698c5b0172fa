import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../crypto.js';
import { checkAddress, generateMessageCode, hashMessageCode, maskAddress, messageCodeHashes, normalizeMessageCode } from './codes.js';

describe('message codes', () => {
  it('are 6 digits, leading zeros kept, and spread over the whole range', () => {
    const codes = Array.from({ length: 20_000 }, generateMessageCode);
    for (const c of codes) expect(c).toMatch(/^\d{6}$/);
    // Each first digit about a tenth of the time (uniform), and codes below 100000 do occur.
    const firsts = new Map<string, number>();
    for (const c of codes) firsts.set(c[0]!, (firsts.get(c[0]!) ?? 0) + 1);
    expect(firsts.size).toBe(10);
    for (const n of firsts.values()) expect(n).toBeGreaterThan(1500);
    expect(new Set(codes).size).toBeGreaterThan(19_000);
  });

  it('normalise what users type', () => {
    expect(normalizeMessageCode('012 345')).toBe('012345');
    expect(normalizeMessageCode('012-345')).toBe('012345');
    expect(normalizeMessageCode('01234')).toBeNull();
    expect(normalizeMessageCode('0123456')).toBeNull();
    expect(normalizeMessageCode('abcdef')).toBeNull();
    expect(normalizeMessageCode('1'.repeat(40))).toBeNull();
  });

  it('hash under the keyring, bound to the user; every key of the ring gives a candidate, the primary first', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const ring = createKeyring(k1, [k2], 'env');
    const old = createKeyring(k2, [], 'env');
    const h = hashMessageCode(ring, 'alice', '123456');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).not.toContain('123456');
    expect(hashMessageCode(ring, 'bob', '123456')).not.toBe(h);
    expect(messageCodeHashes(ring, 'alice', '123456')).toEqual([h, hashMessageCode(old, 'alice', '123456')]);
  });
});

describe('destinations', () => {
  it.each([
    ['sms', '+33 6 12 34 56 78', '+33612345678'],
    ['sms', '+1 (415) 555-0100', '+14155550100'],
    ['email', ' Alice.Smith@Example.COM ', 'Alice.Smith@example.com'],
    ['chat', '@alice', '@alice'],
  ] as const)('accepts %s %j as %j', (channel, input, canonical) => {
    expect(checkAddress(channel, input)).toEqual({ ok: true, address: canonical });
  });

  it.each([
    ['sms', '0612345678'],
    ['sms', '+0612345678'],
    ['sms', '+33'],
    ['email', 'alice'],
    ['email', 'alice@localhost'],
    ['email', 'al ice@example.com'],
    ['email', `${'a'.repeat(250)}@example.com`],
    ['chat', ''],
    ['chat', 'x'.repeat(257)],
    ['chat', 'bad\nline'],
  ] as const)('refuses %s %j', (channel, input) => {
    expect(checkAddress(channel, input).ok).toBe(false);
  });

  it('masks addresses so they can be recognised but not harvested', () => {
    expect(maskAddress('sms', '+33612345678')).toBe('+•••••••••78');
    expect(maskAddress('email', 'alice@example.com')).toBe('a•••@example.com');
    expect(maskAddress('chat', '@alice')).toBe('@a•••');
  });
});
