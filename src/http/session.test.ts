import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../factors/crypto.js';
import { readSession, signSession } from './session.js';

const k1 = createKeyring(randomBytes(32));
const k2 = createKeyring(randomBytes(32));
const s = { user: 'alice', device: 'dev-1', mfa_at: 1000, expires_at: 5000 };

describe('MFA session cookie', () => {
  it('round-trips under its key and until it expires', () => {
    const v = signSession(k1, s);
    expect(readSession(k1, v, 4999)).toEqual(s);
    expect(readSession(k1, v, 5000)).toBeNull();
  });

  it('is refused under another key, tampered, truncated or malformed', () => {
    const v = signSession(k1, s);
    expect(readSession(k2, v, 0)).toBeNull();
    const [payload, sig] = v.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ u: 'mallory', d: 'dev-1', t: 1000, e: 5000 })).toString('base64url');
    expect(readSession(k1, `${forged}.${sig}`, 0)).toBeNull();
    expect(readSession(k1, `${payload}.${sig.slice(0, -2)}`, 0)).toBeNull();
    for (const bad of [undefined, '', '.', 'abc', `${payload}.`, 'x'.repeat(5000)]) expect(readSession(k1, bad, 0)).toBeNull();
  });

  it('still reads a cookie signed under a key that has since become an old key', () => {
    const primary = randomBytes(32);
    const before = createKeyring(primary);
    const after = createKeyring(randomBytes(32), [primary]);
    expect(readSession(after, signSession(before, s), 0)).toEqual(s);
  });
});
