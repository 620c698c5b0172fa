// The Store interface: the engine and the factor module use only this, never a driver.
// Times are epoch milliseconds. Every method may reject when the database is unreachable;
// the engine turns that into the policy's fail mode.
import type { DecisionKind, UserState } from '../types.js';

export interface ChallengeRecord {
  id: string;
  user_id: string;
  decision: DecisionKind;
  device_key: string;
  location_key: string | null;
  ip: string | null;
  /** Whether the decision allowed a first enrollment from this context (`enrollment.allowed_now`). */
  enrollment_allowed: boolean;
  created_at: number;
  expires_at: number;
  completed_at: number | null;
}

/** What a completed login teaches: the device and location become known, the login and MFA time are recorded. */
export interface LoginRecord {
  user_id: string;
  device_key: string;
  /** null when the IP had no location: nothing is learned about locations then. */
  location_key: string | null;
  ip: string | null;
  time: number;
  /** true when the login completed an MFA challenge on this device. */
  mfa: boolean;
}

/** A TOTP factor. `secret` is the ciphertext from factors/crypto (never the plaintext). */
export interface TotpFactor {
  user_id: string;
  secret: string;
  created_at: number;
  confirmed_at: number;
  /** The last accepted RFC 6238 time step; a code at or below it is a replay. */
  last_step: number | null;
}

export interface PendingTotp {
  user_id: string;
  secret: string;
  created_at: number;
}

/** Consecutive failures of one throttling subject (`user:<id>:totp`, `user:<id>:backup_code`, `ip:<ip>`). */
export interface FailureCounter {
  consecutive: number;
  last_failure_at: number | null;
  /** Set once `consecutive` reached the lock threshold; only an admin reset clears it. */
  locked_at: number | null;
}

export interface RecoveryRecord {
  id: string;
  user_id: string;
  /** Who verified the user's identity (an admin). */
  verified_by: string;
  /** How (e.g. "passport checked in person"); free text, never a secret. */
  verification: string;
  opened_at: number;
  effective_at: number;
  cancelled_at: number | null;
  applied_at: number | null;
}

export interface EnrollmentApproval {
  user_id: string;
  approved_by: string;
  approved_at: number;
  expires_at: number;
}

export interface UserSummary {
  id: string;
  first_seen: number;
  enrolled_at: number | null;
  backup_codes_remaining: number;
  known_devices: { key: string; first_seen: number; last_seen: number; last_mfa_at: number | null }[];
  known_locations: { key: string; first_seen: number; last_seen: number }[];
  /** Open (neither cancelled nor applied) recovery requests. */
  pending_recoveries: RecoveryRecord[];
}

/**
 * How long and how much the store keeps. Every driver takes these as options (src/store/retention.ts has the
 * defaults and the checks) and honours them the same way, which the contract suite proves.
 */
export interface RetentionOptions {
  /** Known devices kept per user: recording a login that makes more drops the least recently seen. */
  knownDevices: number;
  /** Known locations kept per user, likewise. */
  knownLocations: number;
  /**
   * A device or location not seen for this long is no longer known: getUserState leaves it out at once and
   * purgeExpired deletes it.
   */
  knownMaxAgeMs: number;
  /** A challenge is deleted this long after it expired (recent prompts stay inspectable). */
  challengesMs: number;
  /** A recovery request is deleted this long after it was cancelled or applied (open ones are kept). */
  recoveriesMs: number;
  /**
   * A failure counter that is not locked is deleted when its last failure is older than this (a streak that
   * old is forgotten), or at once when it is back to zero. A lock is never purged: only unlock clears it.
   */
  failuresMs: number;
}

/** Rows deleted by one purgeExpired, per table. */
export interface PurgeResult {
  challenges: number;
  devices: number;
  locations: number;
  recoveries: number;
  failures: number;
  /** Expired enrollment approvals. */
  approvals: number;
}

export interface Store {
  /**
   * The user's state. `last_mfa` is the last completed MFA on `deviceKey` (null if none on that device).
   * An unknown user is registered with `first_seen = now` (the grace period starts there).
   */
  getUserState(userId: string, deviceKey: string, now: number): Promise<UserState>;
  recordLogin(login: LoginRecord): Promise<void>;
  createChallenge(challenge: Omit<ChallengeRecord, 'completed_at'>): Promise<void>;
  getChallenge(id: string): Promise<ChallengeRecord | null>;
  /**
   * Atomically completes an open challenge: returns it when it existed, was not completed and had not expired
   * at `now`; null otherwise. Two concurrent calls for one challenge: exactly one gets the record.
   */
  completeChallenge(id: string, now: number): Promise<ChallengeRecord | null>;
  /** Marks the user enrolled at `time`, or not enrolled with null (the factor module calls this). */
  setEnrolled(userId: string, time: number | null): Promise<void>;
  /** The user with devices, locations, backup codes left and open recoveries; null when unknown. */
  getUserSummary(userId: string): Promise<UserSummary | null>;
  listUsers(): Promise<UserSummary[]>;
  forgetDevice(userId: string, deviceKey: string): Promise<boolean>;

  // --- TOTP ---
  /** Stores (or replaces) the user's pending enrollment; an active factor stays active until confirmation. */
  savePendingTotp(pending: PendingTotp): Promise<void>;
  getPendingTotp(userId: string): Promise<PendingTotp | null>;
  getActiveTotp(userId: string): Promise<TotpFactor | null>;
  /**
   * One transaction: the pending secret becomes the active factor (replacing any old one) with
   * last_step = `step` (so the confirming code cannot be replayed), the backup codes are replaced by
   * `backupCodeHashes`, users.enrolled_at = now, enrollment_deadline cleared, any enrollment approval consumed.
   * False (and nothing changed) when there is no pending enrollment, e.g. a concurrent confirm won.
   */
  activateTotp(userId: string, step: number, backupCodeHashes: readonly string[], now: number): Promise<boolean>;
  /** Accepts a time step once: one conditional UPDATE (`last_step IS NULL OR last_step < step`). */
  acceptTotpStep(userId: string, step: number): Promise<boolean>;
  /** Removes TOTP (active and pending) and backup codes; the user is no longer enrolled. */
  removeFactors(userId: string): Promise<void>;

  // --- backup codes (keyed hashes only) ---
  replaceBackupCodes(userId: string, hashes: readonly string[], now: number): Promise<void>;
  /** Marks one unused code among `hashes` (candidates under each key of the keyring) used; atomic. */
  consumeBackupCode(userId: string, hashes: readonly string[], now: number): Promise<boolean>;
  countBackupCodes(userId: string): Promise<number>;

  // --- throttling ---
  getFailures(subject: string): Promise<FailureCounter>;
  /** One atomic increment; sets locked_at when consecutive reaches `lockAfter`. Returns the new counter. */
  recordFailure(subject: string, now: number, lockAfter: number): Promise<FailureCounter>;
  /** Clears the consecutive count (a success) — but never a lock: `unlock` does that. */
  resetFailures(subject: string): Promise<void>;
  /** Admin: clears counters and locks of every subject starting with `prefix` (e.g. `user:alice:`); an empty
   * prefix is refused (it would unlock everyone). */
  unlock(prefix: string): Promise<number>;

  // --- recovery ---
  openRecovery(request: Omit<RecoveryRecord, 'cancelled_at' | 'applied_at'>): Promise<void>;
  getRecovery(id: string): Promise<RecoveryRecord | null>;
  /** Atomically cancels an open request; null when unknown, already cancelled or applied, or effective at `now`. */
  cancelRecovery(id: string, now: number): Promise<RecoveryRecord | null>;
  /**
   * One transaction: every open request of the user with effective_at <= now is marked applied, the user's
   * factors are removed, enrolled_at cleared and enrollment_deadline = now (no fresh grace period).
   * Returns the requests applied (empty, and nothing written, when none is due).
   */
  applyDueRecoveries(userId: string, now: number): Promise<RecoveryRecord[]>;

  // --- enrollment approvals (first enrollment from a risky context) ---
  approveEnrollment(approval: EnrollmentApproval): Promise<void>;
  /** The unexpired approval, or null. */
  getEnrollmentApproval(userId: string, now: number): Promise<EnrollmentApproval | null>;

  // --- retention ---
  /**
   * Deletes what the retention options say has expired at `now` (see RetentionOptions). Not on the hot path:
   * the server calls it from a timer; several instances may run it at once (deletes are idempotent).
   */
  purgeExpired(now: number): Promise<PurgeResult>;

  /** Resolves when the database answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
