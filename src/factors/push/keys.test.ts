import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePushPublicKey, pushNumber, pushSigningPayload, verifyPushSignature } from './keys.js';

const spki = (key: import('node:crypto').KeyObject) => key.export({ format: 'der', type: 'spki' }).toString('base64');

describe('push device keys', () => {
  const ed = generateKeyPairSync('ed25519');
  const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const payload = pushSigningPayload('push-1', 'approve', 42);

  it('accepts Ed25519 and ECDSA P-256 public keys in SPKI DER, and nothing else', () => {
    expect(parsePushPublicKey(spki(ed.publicKey))?.asymmetricKeyType).toBe('ed25519');
    expect(parsePushPublicKey(spki(p256.publicKey))?.asymmetricKeyType).toBe('ec');
    expect(parsePushPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey))).toBeNull();
    expect(parsePushPublicKey(spki(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey))).toBeNull();
    expect(parsePushPublicKey('not base64!')).toBeNull();
    expect(parsePushPublicKey(Buffer.from('garbage').toString('base64'))).toBeNull();
    expect(parsePushPublicKey('')).toBeNull();
  });

  it('verifies an Ed25519 signature over exactly the payload', () => {
    const key = parsePushPublicKey(spki(ed.publicKey))!;
    const sig = sign(null, payload, ed.privateKey).toString('base64');
    expect(verifyPushSignature(key, payload, sig)).toBe(true);
    expect(verifyPushSignature(key, pushSigningPayload('push-1', 'deny', 42), sig)).toBe(false);
    expect(verifyPushSignature(key, pushSigningPayload('push-1', 'approve', 43), sig)).toBe(false);
    expect(verifyPushSignature(key, pushSigningPayload('push-2', 'approve', 42), sig)).toBe(false);
    // Another device's key does not verify it.
    const other = parsePushPublicKey(spki(generateKeyPairSync('ed25519').publicKey))!;
    expect(verifyPushSignature(other, payload, sig)).toBe(false);
  });

  it('verifies ECDSA P-256 signatures in both encodings devices produce (DER, and raw r||s from WebCrypto)', () => {
    const key = parsePushPublicKey(spki(p256.publicKey))!;
    const der = sign('sha256', payload, p256.privateKey);
    const raw = sign('sha256', payload, { key: p256.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(raw).toHaveLength(64);
    expect(verifyPushSignature(key, payload, der.toString('base64'))).toBe(true);
    expect(verifyPushSignature(key, payload, raw.toString('base64'))).toBe(true);
    expect(verifyPushSignature(key, payload, raw.toString('base64url'))).toBe(true);
    expect(verifyPushSignature(key, pushSigningPayload('push-1', 'deny', 42), der.toString('base64'))).toBe(false);
  });

  it('refuses malformed signatures without throwing', () => {
    const key = parsePushPublicKey(spki(ed.publicKey))!;
    for (const s of ['', '!!!', 'A'.repeat(600), Buffer.alloc(64).toString('base64')]) expect(verifyPushSignature(key, payload, s)).toBe(false);
  });

  it('numbers are two digits, 10..99, all of them reachable', () => {
    const seen = new Set(Array.from({ length: 5000 }, pushNumber));
    expect(Math.min(...seen)).toBe(10);
    expect(Math.max(...seen)).toBe(99);
    expect(seen.size).toBe(90);
  });
});
