// Out-of-band factors (issue #7): one-time codes sent by message, and push approval with number matching.
// mfa-gate sends nothing itself: codes and push requests go to the operator's sender (src/senders). The pure
// pieces are in message/ and push/; the single-use rules are the store's (one statement each); this file
// orders them and decides, like service.ts does for TOTP and backup codes, whose step-up and throttling it
// reuses (FactorService). Security notifications follow from the audit events (src/factors/notify.ts).
import { randomUUID } from 'node:crypto';
import type { CompiledPolicy } from '../policy/types.js';
import type { OutboundMessage, Sender } from '../senders/types.js';
import type { ChallengeRecord, MessageChannel, PushChallengeRecord, Store } from '../store/types.js';
import { generateBackupCodes, hashBackupCodes } from './backup-codes/index.js';
import type { Keyring } from './crypto.js';
import { FactorErrorCode } from './errors.js';
import { checkAddress, generateMessageCode, hashMessageCode, maskAddress, messageCodeHashes, normalizeMessageCode } from './message/index.js';
import { destinationAad } from './notify.js';
import { parsePushPublicKey, pushNumber, pushSigningPayload, verifyPushSignature } from './push/index.js';
import type { AuditEvent, Failure, FactorService, Outcome } from './service.js';

/** Long polling of a push's status: the longest a caller may ask to wait, and how often the store is read
 * meanwhile (the answer may arrive through another instance, so the store, not memory, is watched). */
export const MAX_PUSH_WAIT_MS = 25_000;
const PUSH_POLL_MS = 200;

export type PushStatusView = 'pending' | 'approved' | 'denied' | 'expired';

export interface OutOfBandOptions {
  store: Store;
  keyring: Keyring;
  policy: CompiledPolicy | (() => CompiledPolicy);
  /** The operator's sender; null (or kind none): the factors answer 503 sender_unavailable. */
  sender: Sender | null;
  factors: FactorService;
  clock?: () => number;
  audit?: (event: AuditEvent) => void;
  sleep?: (ms: number) => Promise<void>;
}

function fail(error: FactorErrorCode, message: string, extra: Partial<Failure> = {}): Failure {
  return { ok: false, error, message, ...extra };
}

const DISABLED = {
  message: 'the policy does not enable codes by message (factors.message.enabled)',
  push: 'the policy does not enable push approval (factors.push.enabled)',
} as const;
const disabled = (factor: keyof typeof DISABLED): Failure => fail(FactorErrorCode.FACTOR_DISABLED, DISABLED[factor]);

/** 429 too_many_sends for a rate window over its limit, waiting until the window ends. */
function windowFull(what: string, resetAt: number, now: number): Failure {
  const retry_after_s = Math.max(1, Math.ceil((resetAt - now) / 1000));
  return fail(FactorErrorCode.TOO_MANY_SENDS, `too many ${what}; try again in ${retry_after_s} s`, { retry_after_s });
}

/** Subjects of the send limits: codes sent per user, pushes per user (hitRateLimit). */
const sendSubject = (userId: string) => `send:message:${userId}`;
const pushSubject = (userId: string) => `send:push:${userId}`;

export class OutOfBandService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #policy: () => CompiledPolicy;
  readonly #sender: Sender | null;
  readonly #factors: FactorService;
  readonly #clock: () => number;
  readonly #audit: (e: AuditEvent) => void;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor({ store, keyring, policy, sender, factors, clock = Date.now, audit = () => {}, sleep }: OutOfBandOptions) {
    this.#store = store;
    this.#keyring = keyring;
    this.#policy = typeof policy === 'function' ? policy : () => policy;
    this.#sender = sender !== null && sender.kind !== 'none' ? sender : null;
    this.#factors = factors;
    this.#clock = clock;
    this.#audit = audit;
    this.#sleep = sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  // --- codes by message ---------------------------------------------------------------------------------

  /**
   * Binds a destination (a new factor): a code goes to it, and confirmMessage with that code makes it the
   * user's. Changing it needs a current factor when the user has one (step-up); a first factor follows the
   * first-enrollment rule (a risky context needs an administrator's approval).
   */
  async enrollMessage(req: {
    user_id: string;
    channel: MessageChannel;
    address: string;
    code?: string;
    challenge_id?: string;
    ip?: string | null;
  }): Promise<Outcome<{ pending: true; channel: MessageChannel; to: string; expires_at: number }>> {
    const now = this.#clock();
    const settings = this.#policy().factors.message;
    if (!settings.enabled) return disabled('message');
    if (this.#sender === null) return this.#noSender();
    const checked = checkAddress(req.channel, req.address);
    if (!checked.ok) return fail(FactorErrorCode.INVALID_DESTINATION, checked.reason);
    await this.#factors.applyDueRecoveries(req.user_id, now);
    const refused = await this.#stepUp(req, now);
    if (refused) return refused;
    const limited = await this.#sendLimit(req.user_id, now);
    if (limited) return limited;

    await this.#store.savePendingMessageDestination({
      user_id: req.user_id,
      channel: req.channel,
      address: this.#keyring.encrypt(checked.address, destinationAad(req.user_id)),
      created_at: now,
    });
    const sent = await this.#sendCode(req.user_id, 'enroll', null, { channel: req.channel, address: checked.address }, now);
    if (!sent.ok) return sent;
    this.#audit({ event: 'message.enrollment_started', user_id: req.user_id, channel: req.channel });
    return { ok: true, pending: true, channel: req.channel, to: maskAddress(req.channel, checked.address), expires_at: sent.expires_at };
  }

  /** Confirms the pending destination with the code sent to it. A first factor also gets backup codes, once. */
  async confirmMessage(req: { user_id: string; code: string; ip?: string | null }): Promise<
    Outcome<{ enrolled: true; channel: MessageChannel; to: string; backup_codes?: string[] }>
  > {
    const now = this.#clock();
    const ip = req.ip ?? null;
    // Checked on every use, not only when sending: codes sent before the policy turned the factor off die with it.
    if (!this.#policy().factors.message.enabled) return disabled('message');
    const throttled = await this.#factors.throttled(req.user_id, 'message', ip, now);
    if (throttled) return throttled;
    const pending = await this.#store.getPendingMessageDestination(req.user_id);
    if (!pending) return fail(FactorErrorCode.NO_PENDING_ENROLLMENT, 'no message destination is pending for this user');
    const code = normalizeMessageCode(req.code);
    const used = code === null ? null : await this.#store.consumeMessageCode(req.user_id, messageCodeHashes(this.#keyring, req.user_id, code), 'enroll', null, now);
    if (!used) return this.#factors.failed(req.user_id, 'message', ip, now, 'message.confirm_failed');
    if (!(await this.#store.confirmMessageDestination(req.user_id, now))) {
      return fail(FactorErrorCode.NO_PENDING_ENROLLMENT, 'the destination was confirmed or replaced meanwhile');
    }
    await this.#factors.succeeded(req.user_id, 'message', ip);
    const backup_codes = await this.#firstFactor(req.user_id, now);
    this.#audit({ event: 'message.enrolled', user_id: req.user_id, channel: pending.channel });
    const address = this.#keyring.decrypt(pending.address, destinationAad(req.user_id));
    return { ok: true, enrolled: true, channel: pending.channel, to: maskAddress(pending.channel, address), ...(backup_codes ? { backup_codes } : {}) };
  }

  /**
   * Sends a code to the user's destination, for a decision's challenge (the code works only with it) or
   * without one (it then works only without). Refused for a decision the policy keeps from this restricted
   * factor, when the sends per window are used up, and while the user's message budget is throttled.
   */
  async sendMessageCode(req: { user_id: string; challenge_id?: string; ip?: string | null }): Promise<
    Outcome<{ sent: true; channel: MessageChannel; to: string; expires_at: number }>
  > {
    const now = this.#clock();
    const settings = this.#policy().factors.message;
    if (!settings.enabled) return disabled('message');
    if (this.#sender === null) return this.#noSender();
    await this.#factors.applyDueRecoveries(req.user_id, now);
    const destination = await this.#store.getMessageDestination(req.user_id);
    if (!destination) return fail(FactorErrorCode.NOT_ENROLLED, 'the user has no confirmed message destination');
    const challenge = await this.#challengeFor(req.user_id, req.challenge_id, now, 'message');
    if (challenge && !challenge.ok) return challenge;
    const throttled = await this.#factors.throttled(req.user_id, 'message', req.ip ?? null, now);
    if (throttled) return throttled;
    const limited = await this.#sendLimit(req.user_id, now);
    if (limited) return limited;
    const address = this.#keyring.decrypt(destination.address, destinationAad(req.user_id));
    const sent = await this.#sendCode(req.user_id, 'verify', req.challenge_id ?? null, { channel: destination.channel, address }, now);
    if (!sent.ok) return sent;
    this.#audit({ event: 'message.code_sent', user_id: req.user_id, channel: destination.channel, ...(req.challenge_id ? { challenge_id: req.challenge_id } : {}) });
    return { ok: true, sent: true, channel: destination.channel, to: maskAddress(destination.channel, address), expires_at: sent.expires_at };
  }

  /** Verifies a code sent by message, optionally for the challenge it was sent for, which it then completes. */
  async verifyMessageCode(req: { user_id: string; code: string; challenge_id?: string; ip?: string | null }): Promise<
    Outcome<{ factor: 'message'; backup_codes_remaining: number; challenge_completed: boolean }>
  > {
    const now = this.#clock();
    const ip = req.ip ?? null;
    if (!this.#policy().factors.message.enabled) return disabled('message');
    await this.#factors.applyDueRecoveries(req.user_id, now);
    const challenge = await this.#challengeFor(req.user_id, req.challenge_id, now, 'message');
    if (challenge && !challenge.ok) return challenge;
    const throttled = await this.#factors.throttled(req.user_id, 'message', ip, now);
    if (throttled) return throttled;
    const code = normalizeMessageCode(req.code);
    const used = code === null ? null : await this.#store.consumeMessageCode(req.user_id, messageCodeHashes(this.#keyring, req.user_id, code), 'verify', req.challenge_id ?? null, now);
    if (!used) return this.#factors.failed(req.user_id, 'message', ip, now, 'message.failed');
    await this.#factors.succeeded(req.user_id, 'message', ip);
    const completed = req.challenge_id !== undefined ? (await this.#factors.completeChallenge(req.challenge_id)) !== null : false;
    const remaining = await this.#store.countBackupCodes(req.user_id);
    this.#audit({ event: 'factor.verified', user_id: req.user_id, factor: 'message', challenge_completed: completed, backup_codes_remaining: remaining });
    return { ok: true, factor: 'message', backup_codes_remaining: remaining, challenge_completed: completed };
  }

  // --- push approval -----------------------------------------------------------------------------------

  /** Registers a device for push approval (a new factor): step-up as for any factor; its key signs every answer. */
  async registerPushDevice(req: {
    user_id: string;
    device_id: string;
    public_key: string;
    name: string;
    code?: string;
    challenge_id?: string;
    ip?: string | null;
  }): Promise<Outcome<{ registered: true; device_id: string; backup_codes?: string[] }>> {
    const now = this.#clock();
    if (!this.#policy().factors.push.enabled) return disabled('push');
    if (parsePushPublicKey(req.public_key) === null) {
      return fail(FactorErrorCode.INVALID_PUBLIC_KEY, 'public_key must be an Ed25519 or ECDSA P-256 public key in SPKI DER, base64');
    }
    await this.#factors.applyDueRecoveries(req.user_id, now);
    const refused = await this.#stepUp(req, now);
    if (refused) return refused;
    await this.#store.savePushDevice({ user_id: req.user_id, device_id: req.device_id, public_key: req.public_key, name: req.name, created_at: now });
    const backup_codes = await this.#firstFactor(req.user_id, now);
    this.#audit({ event: 'push.device_registered', user_id: req.user_id, device_id: req.device_id });
    return { ok: true, registered: true, device_id: req.device_id, ...(backup_codes ? { backup_codes } : {}) };
  }

  /**
   * Sends a push to one of the user's devices (the given one, else the most recently registered) and returns
   * the number the login screen shows; the device must send it back. Unanswered pushes per window are limited
   * (push fatigue: each push counts until it is approved; denied, mistaken and expired ones keep counting),
   * and pushes are refused while the user's push budget is throttled (denials count as failures).
   */
  async startPush(req: { user_id: string; challenge_id?: string; device_id?: string; ip?: string | null }): Promise<
    Outcome<{ id: string; number: number; expires_at: number; device: { device_id: string; name: string } }>
  > {
    const now = this.#clock();
    const settings = this.#policy().factors.push;
    if (!settings.enabled) return disabled('push');
    if (this.#sender === null) return this.#noSender();
    await this.#factors.applyDueRecoveries(req.user_id, now);
    const devices = await this.#store.listPushDevices(req.user_id);
    if (devices.length === 0) return fail(FactorErrorCode.NOT_ENROLLED, 'the user has no push device');
    const device = req.device_id === undefined ? devices[devices.length - 1]! : devices.find((d) => d.device_id === req.device_id);
    if (!device) return fail(FactorErrorCode.PUSH_DEVICE_NOT_FOUND, 'the user has no push device with this id');
    const challenge = await this.#challengeFor(req.user_id, req.challenge_id, now, 'push');
    if (challenge && !challenge.ok) return challenge;
    const throttled = await this.#factors.throttled(req.user_id, 'push', req.ip ?? null, now);
    if (throttled) return throttled;
    const window = await this.#store.hitRateLimit(pushSubject(req.user_id), now, settings.unanswered_window_s * 1000, settings.max_unanswered);
    if (!window.allowed) return windowFull('pushes', window.reset_at, now);
    const push = {
      id: randomUUID(),
      user_id: req.user_id,
      device_id: device.device_id,
      challenge_id: req.challenge_id ?? null,
      number: pushNumber(),
      created_at: now,
      expires_at: now + settings.ttl_s * 1000,
    };
    await this.#store.createPushChallenge(push);
    // The device is not told the number: the person approving must read it off the login screen.
    const delivered = await this.#send({
      kind: 'push_request',
      user_id: req.user_id,
      device_id: device.device_id,
      text: 'Approve this sign-in? Enter the number shown on the sign-in screen.',
      data: { push_id: push.id, expires_at: new Date(push.expires_at).toISOString(), answer: 'POST /v1/mfa/push/{push_id}/respond' },
    });
    if (!delivered.ok) return delivered;
    this.#audit({ event: 'push.sent', user_id: req.user_id, device_id: device.device_id, push_id: push.id });
    return { ok: true, id: push.id, number: push.number, expires_at: push.expires_at, device: { device_id: device.device_id, name: device.name } };
  }

  /**
   * The device's answer, signed with its key over (push, answer, number). A bad signature changes nothing.
   * An approval with the wrong number is a denial (the person approving did not see this sign-in's screen);
   * a denial counts as a failure of the user's push budget. An approval completes the push's challenge.
   */
  async respondPush(req: { id: string; device_id: string; decision: 'approve' | 'deny'; number: number; signature: string }): Promise<
    Outcome<{ status: 'approved' | 'denied'; challenge_completed: boolean }>
  > {
    const now = this.#clock();
    if (!this.#policy().factors.push.enabled) return disabled('push');
    const push = await this.#store.getPushChallenge(req.id);
    if (!push) return fail(FactorErrorCode.PUSH_NOT_FOUND, 'no push with this id');
    const device = push.device_id === req.device_id ? await this.#store.getPushDevice(push.user_id, req.device_id) : null;
    const key = device ? parsePushPublicKey(device.public_key) : null;
    if (!key || !verifyPushSignature(key, pushSigningPayload(push.id, req.decision, req.number), req.signature)) {
      this.#audit({ event: 'push.bad_signature', user_id: push.user_id, push_id: push.id });
      return fail(FactorErrorCode.INVALID_SIGNATURE, 'the answer is not signed by the device this push was sent to');
    }
    const matched = req.decision === 'approve' && req.number === push.number;
    const answered = await this.#store.respondPushChallenge(push.id, matched ? 'approved' : 'denied', now);
    if (!answered) return fail(FactorErrorCode.PUSH_NOT_PENDING, 'the push was answered already or has expired');
    if (!matched) {
      const why = req.decision === 'approve' ? 'push.number_mismatch' : 'push.denied';
      await this.#factors.failed(push.user_id, 'push', null, now, why);
      return { ok: true, status: 'denied', challenge_completed: false };
    }
    await this.#factors.succeeded(push.user_id, 'push', null);
    // An approved push was answered: it no longer counts against max_unanswered (push fatigue is about the
    // pushes nobody approved; a user approving each of their own sign-ins is never refused).
    await this.#store.releaseRateLimit(pushSubject(push.user_id), now);
    const completed = push.challenge_id !== null ? (await this.#factors.completeChallenge(push.challenge_id)) !== null : false;
    this.#audit({ event: 'factor.verified', user_id: push.user_id, factor: 'push', challenge_completed: completed });
    return { ok: true, status: 'approved', challenge_completed: completed };
  }

  /**
   * The push's status for the login screen; with `waitMs` (long polling, at most MAX_PUSH_WAIT_MS) it answers
   * as soon as the push is answered or expires, else when the wait is over.
   */
  async pushStatus(
    id: string,
    waitMs = 0,
    signal?: AbortSignal,
  ): Promise<Outcome<{ id: string; status: PushStatusView; expires_at: number; challenge_completed: boolean }>> {
    const deadline = this.#clock() + Math.min(Math.max(waitMs, 0), MAX_PUSH_WAIT_MS);
    for (;;) {
      const push = await this.#store.getPushChallenge(id);
      if (!push) return fail(FactorErrorCode.PUSH_NOT_FOUND, 'no push with this id');
      const now = this.#clock();
      const status = viewOf(push, now);
      // A caller that went away (the login screen closed) stops the wait: nobody reads the answer.
      if (status !== 'pending' || now >= deadline || signal?.aborted === true) {
        let completed = false;
        if (status === 'approved' && push.challenge_id !== null) {
          completed = (await this.#store.getChallenge(push.challenge_id))?.completed_at != null;
        }
        return { ok: true, id, status, expires_at: push.expires_at, challenge_completed: completed };
      }
      await this.#sleep(Math.min(PUSH_POLL_MS, deadline - now, push.expires_at - now + 1));
    }
  }

  // --- shared ------------------------------------------------------------------------------------------

  /** Step-up for binding a factor: a current TOTP or backup code when the user has one, else the first-enrollment rule. */
  async #stepUp(req: { user_id: string; code?: string; challenge_id?: string; ip?: string | null }, now: number): Promise<Failure | null> {
    if (await this.#factors.hasStepUpFactor(req.user_id)) {
      if (req.code === undefined) return fail(FactorErrorCode.FACTOR_REQUIRED, 'the user has a factor: binding another needs a current code');
      const proof = await this.#factors.proveCurrentFactor(req.user_id, req.code, req.ip ?? null);
      return proof.ok ? null : proof;
    }
    return this.#factors.firstEnrollmentRefused(req, now);
  }

  /**
   * A first factor makes the user enrolled and comes with backup codes (shown once), as a TOTP enrollment does.
   * Nothing for a user already enrolled (another factor added: their enrollment time and codes stay).
   */
  async #firstFactor(userId: string, now: number): Promise<string[] | undefined> {
    const summary = await this.#store.getUserSummary(userId);
    if (summary !== null && summary.enrolled_at !== null) return undefined;
    await this.#store.setEnrolled(userId, now);
    if ((await this.#store.countBackupCodes(userId)) > 0) return undefined;
    const codes = generateBackupCodes(this.#policy().recovery.backup_codes);
    await this.#store.replaceBackupCodes(userId, hashBackupCodes(this.#keyring, codes), now);
    return codes;
  }

  /**
   * The open challenge the user names (or none). For codes by message, a restricted authenticator (NIST SP
   * 800-63B §5.1.3.3), it is refused when the policy's factors.message.satisfies excludes the challenge's
   * decision: by default a require_mfa cannot be met by a code sent by SMS.
   */
  async #challengeFor(
    userId: string,
    challengeId: string | undefined,
    now: number,
    factor: 'message' | 'push',
  ): Promise<Failure | { ok: true; challenge: ChallengeRecord } | null> {
    if (challengeId === undefined) return null;
    const open = await this.#factors.openChallenge(userId, challengeId, now);
    if (!open.ok) return open;
    const { challenge } = open;
    if (factor === 'message' && !(this.#policy().factors.message.satisfies as ReadonlySet<string>).has(challenge.decision)) {
      return fail(
        FactorErrorCode.FACTOR_NOT_ALLOWED,
        `a code by message (a restricted authenticator) may not satisfy a ${challenge.decision} decision under this policy (factors.message.satisfies)`,
      );
    }
    return { ok: true, challenge };
  }

  async #sendLimit(userId: string, now: number): Promise<Failure | null> {
    const s = this.#policy().factors.message;
    const window = await this.#store.hitRateLimit(sendSubject(userId), now, s.send_window_s * 1000, s.max_sends);
    return window.allowed ? null : windowFull('codes sent', window.reset_at, now);
  }

  /** A new code (stored hashed, bound to `challengeId`) handed to the sender. */
  async #sendCode(
    userId: string,
    purpose: 'verify' | 'enroll',
    challengeId: string | null,
    to: { channel: MessageChannel; address: string },
    now: number,
  ): Promise<Failure | { ok: true; expires_at: number }> {
    const code = generateMessageCode();
    const expires_at = now + this.#policy().factors.message.code_ttl_s * 1000;
    await this.#store.createMessageCode({
      id: randomUUID(),
      user_id: userId,
      purpose,
      challenge_id: challengeId,
      code_hash: hashMessageCode(this.#keyring, userId, code),
      created_at: now,
      expires_at,
    });
    const minutes = Math.round((expires_at - now) / 60_000);
    const delivered = await this.#send({
      kind: 'otp_code',
      user_id: userId,
      to,
      text: `Your sign-in code is ${code}. It expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Never share it: nobody will ask you for it.`,
      data: { code, purpose, expires_at: new Date(expires_at).toISOString() },
    });
    return delivered.ok ? { ok: true, expires_at } : delivered;
  }

  async #send(m: Omit<OutboundMessage, 'id' | 'audience' | 'created_at'>): Promise<Failure | { ok: true }> {
    try {
      await this.#sender!.send({ id: randomUUID(), audience: 'user', created_at: new Date(this.#clock()).toISOString(), ...m });
      return { ok: true };
    } catch (err) {
      // Only the sender's error code: the message holds a code.
      this.#audit({ event: 'sender.failed', user_id: m.user_id, kind: m.kind, error: (err as { code?: string }).code ?? 'error' });
      return fail(FactorErrorCode.SENDER_UNAVAILABLE, 'the message could not be handed to the sender; try again later');
    }
  }

  #noSender(): Failure {
    return fail(FactorErrorCode.SENDER_UNAVAILABLE, 'no sender is configured (MFA_GATE_SENDER): codes by message and push cannot be sent');
  }
}

function viewOf(push: PushChallengeRecord, now: number): PushStatusView {
  if (push.status !== 'pending') return push.status;
  return push.expires_at <= now ? 'expired' : 'pending';
}
