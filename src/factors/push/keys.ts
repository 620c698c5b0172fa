// Push approval's device keys and signatures. At registration a device gives its public key (SPKI DER,
// base64: what WebCrypto's exportKey('spki'), iOS SecKeyCopyExternalRepresentation wrapped in SPKI and
// Android's KeyStore getPublicKey().getEncoded() produce); every answer is signed with the private half,
// which never leaves the device. So an answer cannot be forged by whoever relays it (the operator's push
// service, a compromised network) and a captured answer cannot be replayed: it names the push it answers,
// which is answered once.
import { createPublicKey, randomInt, verify, type KeyObject } from 'node:crypto';

/** What a device signs: a domain tag (never valid as anything else), the push, the answer and the number. */
export function pushSigningPayload(pushId: string, decision: 'approve' | 'deny', number: number): Buffer {
  return Buffer.from(`mfa-gate/push/v1\n${pushId}\n${decision}\n${number}`, 'utf8');
}

/**
 * Number matching against push fatigue (NIST SP 800-63B §5.1.3.2, CISA's guidance on MFA fatigue): the login
 * screen shows this number and the user types it on the device, so an approval needs the screen in front of
 * the person approving. 10..99: two digits, never a leading zero to mistype.
 */
export function pushNumber(): number {
  return randomInt(10, 100);
}

/** The public key, when it is Ed25519 or ECDSA P-256 in SPKI DER (base64); null otherwise. */
export function parsePushPublicKey(spkiBase64: string): KeyObject | null {
  if (spkiBase64.length === 0 || spkiBase64.length > 1024 || !/^[A-Za-z0-9+/]+={0,2}$/.test(spkiBase64)) return null;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiBase64, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
  if (key.asymmetricKeyType === 'ed25519') return key;
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key;
  return null;
}

/**
 * Whether `signatureBase64` signs `payload` under `key`. Ed25519 as is; ECDSA P-256 with SHA-256, in either
 * encoding devices produce: 64 raw bytes r||s (WebCrypto, IEEE P1363) or ASN.1 DER (iOS, Android).
 */
export function verifyPushSignature(key: KeyObject, payload: Buffer, signatureBase64: string): boolean {
  if (signatureBase64.length === 0 || signatureBase64.length > 512 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(signatureBase64)) return false;
  const signature = Buffer.from(signatureBase64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  try {
    if (key.asymmetricKeyType === 'ed25519') return verify(null, payload, key, signature);
    return verify('sha256', payload, { key, dsaEncoding: signature.length === 64 ? 'ieee-p1363' : 'der' }, signature);
  } catch {
    return false;
  }
}
