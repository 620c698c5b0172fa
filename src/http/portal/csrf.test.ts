import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../../factors/crypto.js';
import { csrfTokensMatch, csrfTokenValidFor, issueCsrfToken } from './csrf.js';
import { groupSecret } from './views.js';

const k1 = createKeyring(randomBytes(32));
const k2 = createKeyring(randomBytes(32));

describe('CSRF double-submit tokens', () => {
  it('are random, bound to the user and to the keyring', () => {
    const t = issueCsrfToken(k1, 'alice');
    expect(t).toMatch(/^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{43}$/);
    expect(issueCsrfToken(k1, 'alice')).not.toBe(t);
    expect(csrfTokenValidFor(k1, 'alice', t)).toBe(true);
    expect(csrfTokenValidFor(k1, 'bob', t)).toBe(false);
    expect(csrfTokenValidFor(k2, 'alice', t)).toBe(false);
    const [random] = t.split('.') as [string];
    expect(csrfTokenValidFor(k1, 'alice', `${random}.${'A'.repeat(43)}`)).toBe(false);
    for (const bad of [undefined, '', '.', t.slice(0, -1), `${t}x`, t.replace('.', '')]) expect(csrfTokenValidFor(k1, 'alice', bad)).toBe(false);
  });

  it('still accepts a token issued under a key that has since become an old key', () => {
    const primary = randomBytes(32);
    const t = issueCsrfToken(createKeyring(primary), 'alice');
    expect(csrfTokenValidFor(createKeyring(randomBytes(32), [primary]), 'alice', t)).toBe(true);
  });

  it('match only when cookie and field are the same valid token', () => {
    const t = issueCsrfToken(k1, 'alice');
    const other = issueCsrfToken(k1, 'alice');
    expect(csrfTokensMatch(k1, 'alice', t, t)).toBe(true);
    expect(csrfTokensMatch(k1, 'alice', t, other)).toBe(false);
    expect(csrfTokensMatch(k1, 'alice', t, undefined)).toBe(false);
    expect(csrfTokensMatch(k1, 'alice', undefined, t)).toBe(false);
    expect(csrfTokensMatch(k1, 'alice', 'x', 'x')).toBe(false); // equal but never issued
    expect(csrfTokensMatch(k1, 'bob', t, t)).toBe(false);
  });
});

describe('groupSecret', () => {
  it('groups the manual-entry secret in fours for reading', () => {
    expect(groupSecret('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')).toBe('ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567');
    expect(groupSecret('ABCDEF')).toBe('ABCD EF');
  });
});
