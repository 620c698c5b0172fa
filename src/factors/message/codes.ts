// One-time codes sent by message (NIST SP 800-63B §5.1.3 out-of-band devices; §5.1.3.3 calls SMS a
// RESTRICTED authenticator, which the policy's factors.message.satisfies reflects). Pure functions: the
// service stores only keyed hashes, the store marks each code used at most once.
import { randomInt } from 'node:crypto';
import type { Keyring } from '../crypto.js';
import type { MessageChannel } from '../../store/types.js';

/** NIST SP 800-63B §5.1.3.2: an out-of-band secret of at least 20 bits when it is a short code; 6 digits ~ 19.9
 * bits is what every SMS code is, and throttling (5 failures then backoff, 100 then a lock) bounds guessing. */
export const MESSAGE_CODE_DIGITS = 6;
/** The HMAC purpose: HKDF info `mfa-gate/v1/message-code-hmac`, a key used for nothing else. */
export const MESSAGE_CODE_HMAC_PURPOSE = 'message-code';
/** The channels a destination may be (the operator's sender delivers each). */
export const MESSAGE_CHANNELS: readonly MessageChannel[] = ['sms', 'email', 'chat'];
/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254 characters. */
const MAX_EMAIL_LENGTH = 254;
const MAX_CHAT_LENGTH = 256;

/** A uniform 6-digit code (crypto.randomInt rejection-samples: no modulo bias), leading zeros kept. */
export function generateMessageCode(): string {
  return String(randomInt(0, 10 ** MESSAGE_CODE_DIGITS)).padStart(MESSAGE_CODE_DIGITS, '0');
}

/** What the user typed, as the 6 digits, or null when it cannot be a code (spaces and dashes forgiven). */
export function normalizeMessageCode(input: string): string | null {
  if (input.length > 32) return null;
  const digits = input.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : null;
}

/**
 * The code's hash under each key of the keyring (the primary first), bound to the user: the same code sent
 * to two users hashes differently, so equal hashes in the table tell nothing.
 */
export function messageCodeHashes(keyring: Keyring, userId: string, code: string): string[] {
  return keyring.hmacCandidates(MESSAGE_CODE_HMAC_PURPOSE, `${userId}\u0000${code}`);
}

/** The hash stored for a code: under the primary key. */
export function hashMessageCode(keyring: Keyring, userId: string, code: string): string {
  return keyring.hmac(MESSAGE_CODE_HMAC_PURPOSE, `${userId}\u0000${code}`);
}

/**
 * Checks an address for its channel and returns it canonical, or a reason it is refused:
 * sms: E.164 (`+` then 7 to 15 digits; spaces, dots, dashes and parentheses removed);
 * email: one `@`, a dot in the domain, no spaces, at most 254 characters (lower-cased domain);
 * chat: a handle of 1..256 printable characters (whatever the operator's chat sender understands).
 */
export function checkAddress(channel: MessageChannel, address: string): { ok: true; address: string } | { ok: false; reason: string } {
  if (/[\u0000-\u001f\u007f]/.test(address)) return { ok: false, reason: 'the address contains control characters' };
  switch (channel) {
    case 'sms': {
      const compact = address.replace(/[\s().-]/g, '');
      return /^\+[1-9]\d{6,14}$/.test(compact)
        ? { ok: true, address: compact }
        : { ok: false, reason: 'an sms destination is a phone number in E.164 form, e.g. +33612345678' };
    }
    case 'email': {
      const trimmed = address.trim();
      const at = trimmed.lastIndexOf('@');
      if (trimmed.length > MAX_EMAIL_LENGTH || at < 1 || /\s/.test(trimmed) || !/^[^@]+\.[^@.]+$/.test(trimmed.slice(at + 1))) {
        return { ok: false, reason: 'an email destination is an address like alice@example.com' };
      }
      return { ok: true, address: `${trimmed.slice(0, at)}@${trimmed.slice(at + 1).toLowerCase()}` };
    }
    case 'chat': {
      const trimmed = address.trim();
      return trimmed.length >= 1 && trimmed.length <= MAX_CHAT_LENGTH
        ? { ok: true, address: trimmed }
        : { ok: false, reason: `a chat destination is a handle of 1 to ${MAX_CHAT_LENGTH} characters` };
    }
  }
}

/**
 * The address as shown back to the user and in summaries: enough to recognise, not enough to harvest.
 * sms: the last two digits (`+•••••••••42`); email: the first character and the domain (`a•••@example.com`);
 * chat: the first two characters.
 */
export function maskAddress(channel: MessageChannel, address: string): string {
  switch (channel) {
    case 'sms':
      return `+${'•'.repeat(Math.max(address.length - 3, 1))}${address.slice(-2)}`;
    case 'email': {
      const at = address.lastIndexOf('@');
      return `${address.slice(0, 1)}•••${address.slice(at)}`;
    }
    case 'chat':
      return `${address.slice(0, 2)}•••`;
  }
}
