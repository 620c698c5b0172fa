// The MFA session cookie the MFA page sets after a verified code and the gateway hook reads: it binds a user
// to a device key and the time of the MFA, signed with HMAC-SHA256 under the keyring (purpose
// `mfa-session`, so it rotates with the keys). The device key inside is what lets the hook recognise this
// browser as a known device: unsigned, a client could claim any device the user ever used.
import { timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../factors/crypto.js';

export const SESSION_COOKIE = 'mfa_gate_session';
const PURPOSE = 'mfa-session';

export interface MfaSession {
  user: string;
  device: string;
  /** When the MFA was completed (epoch ms). */
  mfa_at: number;
  /** When the cookie stops being accepted (epoch ms). */
  expires_at: number;
}

export function signSession(keyring: Keyring, s: MfaSession): string {
  const payload = Buffer.from(JSON.stringify({ u: s.user, d: s.device, t: s.mfa_at, e: s.expires_at })).toString('base64url');
  return `${payload}.${Buffer.from(keyring.hmac(PURPOSE, payload), 'hex').toString('base64url')}`;
}

/** The session, when the signature holds under any key of the ring and it has not expired; else null. */
export function readSession(keyring: Keyring, value: string | undefined, now: number): MfaSession | null {
  if (!value || value.length > 2048) return null;
  const dot = value.indexOf('.');
  if (dot <= 0) return null;
  const payload = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1), 'base64url');
  let valid = false;
  for (const candidate of keyring.hmacCandidates(PURPOSE, payload)) {
    const expected = Buffer.from(candidate, 'hex');
    // Compare every candidate, equal lengths only, without an early exit.
    if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
  }
  if (!valid) return null;
  try {
    const p = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { u?: unknown; d?: unknown; t?: unknown; e?: unknown };
    if (typeof p.u !== 'string' || typeof p.d !== 'string' || typeof p.t !== 'number' || typeof p.e !== 'number') return null;
    if (p.e <= now) return null;
    return { user: p.u, device: p.d, mfa_at: p.t, expires_at: p.e };
  } catch {
    return null;
  }
}
