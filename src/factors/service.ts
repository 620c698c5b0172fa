// The factor service: TOTP enrollment and verification, backup codes, throttling, step-up for changes and
// challenge completion, on the Store. Pure pieces live beside it (totp/, backup-codes/, throttle.ts, crypto.ts);
// this file orders them and decides. Expected negative outcomes (a wrong code, a wait) are return values.
import { randomUUID } from 'node:crypto';
import type { CompiledPolicy } from '../policy/types.js';
import { ipSubject, userSubject } from '../store/subjects.js';
import type { ChallengeRecord, RecoveryRecord, Store } from '../store/types.js';
import { backupCodeCandidates, generateBackupCodes, hashBackupCodes, normalizeBackupCode } from './backup-codes/index.js';
import type { Keyring } from './crypto.js';
import { FactorErrorCode } from './errors.js';
import { attemptsBeforeLock, ipVerdict, userVerdict, type FactorBudget } from './throttle.js';
import { buildUri, generateSecret, qrCodes, verifyTotp } from './totp/index.js';

export type Factor = 'totp' | 'backup_code';

/** An audit event: what happened, to whom, never a code or a secret. */
export interface AuditEvent {
  event: string;
  user_id: string;
  [field: string]: unknown;
}

export type Failure = {
  ok: false;
  error: FactorErrorCode;
  message: string;
  retry_after_s?: number;
  attempts_remaining?: number;
};
export type Outcome<T> = ({ ok: true } & T) | Failure;

export interface FactorServiceOptions {
  store: Store;
  keyring: Keyring;
  policy: CompiledPolicy | (() => CompiledPolicy);
  /** Completes a decision's challenge after a verified factor (DecisionEngine.completeChallenge). */
  completeChallenge: (challengeId: string) => Promise<ChallengeRecord | null>;
  clock?: () => number;
  audit?: (event: AuditEvent) => void;
}

export interface EnrollRequest {
  user_id: string;
  account_name?: string;
  issuer?: string;
  /** The challenge of the decision that sent the user here: its `enrollment.allowed_now` is honoured. */
  challenge_id?: string;
  /** A current factor, required to replace an active TOTP (step-up). */
  code?: string;
  ip?: string | null;
  /** Set by operator tools (the CLI): an administrator starts this enrollment and vouches for it. */
  admin?: string;
}

export interface VerifyRequest {
  user_id: string;
  code: string;
  challenge_id?: string;
  ip?: string | null;
}

const aad = (userId: string) => `totp:${userId}`;
const BUDGET_NAMES: Record<FactorBudget, string> = {
  totp: 'TOTP factor is',
  backup_code: 'backup codes are',
  message: 'codes by message are',
  push: 'push approvals are',
};

function fail(error: FactorErrorCode, message: string, extra: Partial<Failure> = {}): Failure {
  return { ok: false, error, message, ...extra };
}

export class FactorService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #policy: () => CompiledPolicy;
  readonly #complete: (id: string) => Promise<ChallengeRecord | null>;
  readonly #clock: () => number;
  readonly #audit: (e: AuditEvent) => void;

  constructor({ store, keyring, policy, completeChallenge, clock = Date.now, audit = () => {} }: FactorServiceOptions) {
    this.#store = store;
    this.#keyring = keyring;
    this.#policy = typeof policy === 'function' ? policy : () => policy;
    this.#complete = completeChallenge;
    this.#clock = clock;
    this.#audit = audit;
  }

  /** Starts (or restarts) a TOTP enrollment; it stays pending until confirmed with a valid code. */
  async enrollTotp(req: EnrollRequest): Promise<Outcome<{ secret: string; otpauth_uri: string; qr: { png_data_url: string; svg: string } }>> {
    const now = this.#clock();
    const policy = this.#policy();
    await this.#applyDueRecoveries(req.user_id, now);
    const active = await this.#store.getActiveTotp(req.user_id);
    if (active) {
      // Replacing a factor binds a new authenticator: it needs the current one, never the session alone.
      if (req.code === undefined) {
        return fail(FactorErrorCode.FACTOR_REQUIRED, 'the user has an active TOTP factor: replacing it needs a current code');
      }
      const proof = await this.#verifyAny(req.user_id, req.code, req.ip ?? null, now);
      if (!proof.ok) return proof;
    } else if (req.admin === undefined) {
      const refused = await this.#firstEnrollmentRefused(req, now);
      if (refused) return refused;
    }

    const issuer = req.issuer ?? policy.factors.totp_issuer;
    const account = req.account_name ?? req.user_id;
    const secret = generateSecret();
    let uri: string;
    try {
      uri = buildUri({ issuer, account, secret });
    } catch (err) {
      return fail((err as { code?: FactorErrorCode }).code ?? FactorErrorCode.INVALID_ACCOUNT, (err as Error).message);
    }
    await this.#store.savePendingTotp({ user_id: req.user_id, secret: this.#keyring.encrypt(secret, aad(req.user_id)), created_at: now });
    this.#audit({ event: 'totp.enrollment_started', user_id: req.user_id, replacing: active !== null, ...(req.admin ? { admin: req.admin } : {}) });
    return { ok: true, secret, otpauth_uri: uri, qr: await qrCodes(uri) };
  }

  /** Confirms the pending enrollment with a code from the app; returns the backup codes, shown this once. */
  async confirmTotp(req: { user_id: string; code: string; ip?: string | null }): Promise<Outcome<{ enrolled: true; backup_codes: string[] }>> {
    const now = this.#clock();
    const throttled = await this.#throttled(req.user_id, 'totp', req.ip ?? null, now);
    if (throttled) return throttled;
    const pending = await this.#store.getPendingTotp(req.user_id);
    if (!pending) return fail(FactorErrorCode.NO_PENDING_ENROLLMENT, 'no TOTP enrollment is pending for this user');
    const result = verifyTotp(this.#keyring.decrypt(pending.secret, aad(req.user_id)), req.code, now);
    if (!result.ok) return this.#failed(req.user_id, 'totp', req.ip ?? null, now, 'totp.confirm_failed');

    const codes = generateBackupCodes(this.#policy().recovery.backup_codes);
    const hashes = hashBackupCodes(this.#keyring, codes);
    // The confirming step becomes the last accepted one: the code that confirmed cannot be replayed.
    if (!(await this.#store.activateTotp(req.user_id, result.step, hashes, now))) {
      return fail(FactorErrorCode.NO_PENDING_ENROLLMENT, 'the enrollment was confirmed or replaced meanwhile');
    }
    await this.#succeeded(req.user_id, 'totp', req.ip ?? null);
    this.#audit({ event: 'totp.enrolled', user_id: req.user_id, backup_codes_issued: codes.length });
    return { ok: true, enrolled: true, backup_codes: codes };
  }

  /** Verifies a TOTP or backup code, optionally for a challenge, which it then completes. */
  async verify(req: VerifyRequest): Promise<Outcome<{ factor: Factor; backup_codes_remaining: number; challenge_completed: boolean }>> {
    const now = this.#clock();
    await this.#applyDueRecoveries(req.user_id, now);
    let challenge: ChallengeRecord | null = null;
    if (req.challenge_id !== undefined) {
      const open = await this.openChallenge(req.user_id, req.challenge_id, now);
      if (!open.ok) return open;
      challenge = open.challenge;
    }
    const proof = await this.#verifyAny(req.user_id, req.code, req.ip ?? null, now);
    if (!proof.ok) return proof;
    const completed = challenge ? (await this.#complete(challenge.id)) !== null : false;
    const remaining = await this.#store.countBackupCodes(req.user_id);
    this.#audit({ event: 'factor.verified', user_id: req.user_id, factor: proof.factor, challenge_completed: completed, backup_codes_remaining: remaining });
    return { ok: true, factor: proof.factor, backup_codes_remaining: remaining, challenge_completed: completed };
  }

  /** New backup codes for a current factor; the old ones stop working. */
  async regenerateBackupCodes(req: { user_id: string; code: string; ip?: string | null }): Promise<Outcome<{ backup_codes: string[] }>> {
    const now = this.#clock();
    await this.#applyDueRecoveries(req.user_id, now);
    const proof = await this.#verifyAny(req.user_id, req.code, req.ip ?? null, now);
    if (!proof.ok) return proof;
    const codes = generateBackupCodes(this.#policy().recovery.backup_codes);
    await this.#store.replaceBackupCodes(req.user_id, hashBackupCodes(this.#keyring, codes), now);
    this.#audit({ event: 'backup_codes.regenerated', user_id: req.user_id, backup_codes_issued: codes.length });
    return { ok: true, backup_codes: codes };
  }

  /** Removes every factor of the user; needs a current factor (step-up). */
  async removeFactors(req: { user_id: string; code: string; ip?: string | null }): Promise<Outcome<{ removed: true }>> {
    const now = this.#clock();
    const proof = await this.#verifyAny(req.user_id, req.code, req.ip ?? null, now);
    if (!proof.ok) return proof;
    await this.#store.removeFactors(req.user_id);
    this.#audit({ event: 'factors.removed', user_id: req.user_id });
    return { ok: true, removed: true };
  }

  /**
   * Admin: opens a recovery request after verifying the user's identity out of band (`verify_with_id`). It
   * takes effect only after the policy's recovery_timeout, so a user whose admin was fooled can still cancel it.
   */
  async openRecovery(req: { user_id: string; verified_by: string; verification: string }): Promise<Outcome<{ recovery: RecoveryRecord }>> {
    const now = this.#clock();
    const { admin_recovery, recovery_timeout_s } = this.#policy().recovery;
    if (admin_recovery !== 'verify_with_id') return fail(FactorErrorCode.RECOVERY_DISABLED, 'the policy disables admin recovery');
    if (!(await this.#store.getUserSummary(req.user_id))) return fail(FactorErrorCode.USER_NOT_FOUND, `no user ${req.user_id}`);
    const recovery: RecoveryRecord = {
      id: randomUUID(),
      user_id: req.user_id,
      verified_by: req.verified_by,
      verification: req.verification,
      opened_at: now,
      effective_at: now + recovery_timeout_s * 1000,
      cancelled_at: null,
      applied_at: null,
    };
    await this.#store.openRecovery(recovery);
    this.#audit({ event: 'recovery.opened', user_id: req.user_id, recovery_id: recovery.id, verified_by: req.verified_by, effective_at: new Date(recovery.effective_at).toISOString() });
    return { ok: true, recovery };
  }

  /** The user cancels a recovery request by proving a current factor. */
  async cancelRecovery(req: { id: string; code: string; ip?: string | null }): Promise<Outcome<{ recovery: RecoveryRecord }>> {
    const now = this.#clock();
    const open = await this.#store.getRecovery(req.id);
    if (!open || open.cancelled_at !== null || open.applied_at !== null || open.effective_at <= now) {
      return fail(FactorErrorCode.RECOVERY_NOT_FOUND, 'no open recovery request with this id');
    }
    const proof = await this.#verifyAny(open.user_id, req.code, req.ip ?? null, now);
    if (!proof.ok) return proof;
    const cancelled = await this.#store.cancelRecovery(req.id, now);
    if (!cancelled) return fail(FactorErrorCode.RECOVERY_NOT_FOUND, 'the recovery request was cancelled or applied meanwhile');
    this.#audit({ event: 'recovery.cancelled', user_id: open.user_id, recovery_id: req.id });
    return { ok: true, recovery: cancelled };
  }

  /** Admin: allows a first enrollment that a risky context would refuse (the user was verified otherwise). */
  async approveEnrollment(req: { user_id: string; approved_by: string }): Promise<Outcome<{ expires_at: number }>> {
    const now = this.#clock();
    const expires_at = now + this.#policy().factors.enrollment_approval_ttl_s * 1000;
    await this.#store.approveEnrollment({ user_id: req.user_id, approved_by: req.approved_by, approved_at: now, expires_at });
    this.#audit({ event: 'enrollment.approved', user_id: req.user_id, approved_by: req.approved_by });
    return { ok: true, expires_at };
  }

  /** Admin: clears the user's failure counters and the lock after 100 failures. */
  async unlock(userId: string, admin: string): Promise<number> {
    const cleared = await this.#store.unlock(userSubject(userId, ''));
    this.#audit({ event: 'factor.unlocked', user_id: userId, admin });
    return cleared;
  }

  /**
   * Step-up for the other factor modules (out-of-band enrollment binds a new factor): a current TOTP or
   * backup code, with throttling, replay rejection and single use, exactly as verify checks it.
   */
  proveCurrentFactor(userId: string, code: string, ip: string | null): Promise<Outcome<{ factor: Factor }>> {
    return this.#verifyAny(userId, code, ip, this.#clock());
  }

  /** Whether the user has a factor to step up with (an active TOTP or an unused backup code). */
  async hasStepUpFactor(userId: string): Promise<boolean> {
    return (await this.#store.getActiveTotp(userId)) !== null || (await this.#store.countBackupCodes(userId)) > 0;
  }

  /** The throttling verdict of a user's budget (and the IP), as the factor module applies it everywhere. */
  throttled(userId: string, budget: FactorBudget, ip: string | null, now: number): Promise<Failure | null> {
    return this.#throttled(userId, budget, ip, now);
  }

  /** Counts a failure of `budget` (and the IP) and audits it as `event`; returns the 401 outcome. */
  failed(userId: string, budget: FactorBudget, ip: string | null, now: number, event: string): Promise<Failure> {
    return this.#failed(userId, budget, ip, now, event);
  }

  /** A success clears the budget's consecutive failures (and the IP's). */
  succeeded(userId: string, budget: FactorBudget, ip: string | null): Promise<void> {
    return this.#succeeded(userId, budget, ip);
  }

  /** The first-enrollment rule for any factor: see #firstEnrollmentRefused. */
  firstEnrollmentRefused(req: { user_id: string; challenge_id?: string; ip?: string | null }, now: number): Promise<Failure | null> {
    return this.#firstEnrollmentRefused(req, now);
  }

  /** The user's open challenge `challengeId` (known, theirs, not completed, unexpired), as every factor needs it. */
  async openChallenge(userId: string, challengeId: string, now: number): Promise<Failure | { ok: true; challenge: ChallengeRecord }> {
    const challenge = await this.#store.getChallenge(challengeId);
    if (!challenge || challenge.user_id !== userId || challenge.completed_at !== null || challenge.expires_at <= now) {
      return fail(FactorErrorCode.INVALID_CHALLENGE, 'the challenge is unknown, expired, already completed or not this user\'s');
    }
    return { ok: true, challenge };
  }

  /** Applies the user's due recovery requests (audited) before a factor is used. */
  applyDueRecoveries(userId: string, now: number): Promise<void> {
    return this.#applyDueRecoveries(userId, now);
  }

  /** Completes a decision's challenge after a verified factor (the engine learns the device and location). */
  completeChallenge(challengeId: string): Promise<ChallengeRecord | null> {
    return this.#complete(challengeId);
  }

  /** A TOTP or a backup code, chosen by its shape, with throttling, replay rejection and single use. */
  async #verifyAny(userId: string, code: string, ip: string | null, now: number): Promise<Outcome<{ factor: Factor }>> {
    const backup = /^\s*\d{3}\s?\d{3}\s*$/.test(code) ? null : normalizeBackupCode(code);
    const budget: FactorBudget = backup === null ? 'totp' : 'backup_code';
    const throttled = await this.#throttled(userId, budget, ip, now);
    if (throttled) return throttled;

    if (budget === 'totp') {
      const active = await this.#store.getActiveTotp(userId);
      if (!active) {
        // Probing users for enrollment is a failure of the address, though no user budget is involved.
        if (ip !== null) await this.#store.recordFailure(ipSubject(ip), now, Number.MAX_SAFE_INTEGER);
        return fail(FactorErrorCode.NOT_ENROLLED, 'the user has no active TOTP factor');
      }
      const result = verifyTotp(this.#keyring.decrypt(active.secret, aad(userId)), code, now);
      if (!result.ok) return this.#failed(userId, budget, ip, now, 'totp.failed');
      if (!(await this.#store.acceptTotpStep(userId, result.step))) {
        // RFC 6238 5.2: a code may be accepted once; this one (or a later one) was already used.
        return this.#failed(userId, budget, ip, now, 'totp.replay_rejected');
      }
    } else {
      const consumed = backup !== null && (await this.#store.consumeBackupCode(userId, backupCodeCandidates(this.#keyring, backup), now));
      if (!consumed) return this.#failed(userId, budget, ip, now, 'backup_code.failed');
    }
    await this.#succeeded(userId, budget, ip);
    return { ok: true, factor: budget };
  }

  async #throttled(userId: string, budget: FactorBudget, ip: string | null, now: number): Promise<Failure | null> {
    const t = this.#policy().throttling;
    const verdict = userVerdict(await this.#store.getFailures(userSubject(userId, budget)), now, t);
    if (!verdict.allowed) {
      if (verdict.locked) {
        return fail(FactorErrorCode.FACTOR_LOCKED, `too many consecutive failures: the ${BUDGET_NAMES[budget]} locked until an administrator unlocks them`);
      }
      return fail(FactorErrorCode.TOO_MANY_ATTEMPTS, `too many failed attempts; try again in ${verdict.retry_after_s} s`, { retry_after_s: verdict.retry_after_s });
    }
    if (ip !== null) {
      const byIp = ipVerdict(await this.#store.getFailures(ipSubject(ip)), now, t);
      if (!byIp.allowed && !byIp.locked) {
        return fail(FactorErrorCode.TOO_MANY_ATTEMPTS, `too many failed attempts from this address; try again in ${byIp.retry_after_s} s`, { retry_after_s: byIp.retry_after_s });
      }
    }
    return null;
  }

  async #failed(userId: string, budget: FactorBudget, ip: string | null, now: number, event: string): Promise<Failure> {
    const t = this.#policy().throttling;
    const counter = await this.#store.recordFailure(userSubject(userId, budget), now, t.lock_after);
    if (ip !== null) await this.#store.recordFailure(ipSubject(ip), now, Number.MAX_SAFE_INTEGER);
    this.#audit({ event, user_id: userId, factor: budget, consecutive_failures: counter.consecutive, ...(ip ? { ip } : {}) });
    if (counter.locked_at !== null && counter.consecutive === t.lock_after) {
      this.#audit({ event: 'factor.locked', user_id: userId, factor: budget });
    }
    return fail(FactorErrorCode.INVALID_CODE, 'the code is not valid', { attempts_remaining: attemptsBeforeLock(counter, t) });
  }

  async #succeeded(userId: string, budget: FactorBudget, ip: string | null): Promise<void> {
    await this.#store.resetFailures(userSubject(userId, budget));
    if (ip !== null) await this.#store.resetFailures(ipSubject(ip));
  }

  /**
   * A first enrollment binds whoever holds the password to the account. From a risky context (the decision's
   * `enrollment.allowed_now` false) it needs an administrator's approval; a user with login history must come
   * through a decision at all, so the check cannot be skipped by leaving the challenge out.
   */
  async #firstEnrollmentRefused(req: { user_id: string; challenge_id?: string; ip?: string | null }, now: number): Promise<Failure | null> {
    let allowed: boolean;
    if (req.challenge_id !== undefined) {
      const c = await this.#store.getChallenge(req.challenge_id);
      if (!c || c.user_id !== req.user_id || c.expires_at <= now) {
        return fail(FactorErrorCode.INVALID_CHALLENGE, 'the challenge is unknown, expired or not this user\'s');
      }
      allowed = c.enrollment_allowed;
    } else {
      const summary = await this.#store.getUserSummary(req.user_id);
      allowed = !summary || summary.known_devices.length === 0;
    }
    if (allowed) return null;
    if (await this.#store.getEnrollmentApproval(req.user_id, now)) return null;
    this.#audit({ event: 'totp.enrollment_refused', user_id: req.user_id, ...(req.ip ? { ip: req.ip } : {}) });
    return fail(
      FactorErrorCode.ENROLLMENT_NOT_ALLOWED,
      req.challenge_id === undefined
        ? 'the user has login history: a first enrollment needs the challenge_id of a decision that allows it, or an administrator\'s approval'
        : 'the decision did not allow a first enrollment from this context (new device, location or network); an administrator must approve it',
    );
  }

  async #applyDueRecoveries(userId: string, now: number): Promise<void> {
    for (const r of await this.#store.applyDueRecoveries(userId, now)) {
      this.#audit({ event: 'recovery.applied', user_id: userId, recovery_id: r.id, verified_by: r.verified_by });
    }
  }
}
