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
  /**
   * What the device is, for people ("Chrome on Windows"): the security notification of a login from a new
   * device names it. null (or absent) when unknown, e.g. a challenge created before the column existed.
   */
  device_label?: string | null;
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
  /** The confirmed message destination (address still a ciphertext: the factor module masks it), or null. */
  message_destination: { channel: MessageChannel; address: string; confirmed_at: number } | null;
  /** Push devices, oldest first (no keys). */
  push_devices: { device_id: string; name: string; created_at: number }[];
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
  /** Message codes and push challenges expired longer ago than `challengesMs`; rate windows ended. */
  message_codes: number;
  push_challenges: number;
  rate_limits: number;
}

// --- Out-of-band factors (issue #7): one-time codes by message, push approval ---

/** How a one-time code reaches the user; the operator's sender delivers it (mfa-gate sends nothing itself). */
export type MessageChannel = 'sms' | 'email' | 'chat';

/** Where a user's codes go. `address` is a ciphertext from factors/crypto (a phone number is personal data). */
export interface MessageDestination {
  user_id: string;
  channel: MessageChannel;
  address: string;
  created_at: number;
  /** null: pending (a code was sent to it and not confirmed yet); set when confirmed. */
  confirmed_at: number | null;
}

/** What a one-time code by message is for. */
export type MessageCodePurpose = 'verify' | 'enroll';

export interface MessageCodeRecord {
  id: string;
  user_id: string;
  purpose: MessageCodePurpose;
  /** The decision's challenge the code was sent for; null when sent without one. A code only works with it. */
  challenge_id: string | null;
  /** Keyed hash (HMAC) of the code, never the code. */
  code_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** A rate limit's fixed window after one more event was counted. */
export interface RateWindow {
  /** Whether this event is within the limit (count <= max). */
  allowed: boolean;
  /** Events counted in the current window, this one included (also when over the limit). */
  count: number;
  /** When the current window ends (epoch ms): the next event after it starts a new window. */
  reset_at: number;
}

/** A device registered for push approval: it signs its answers with the private half of `public_key`. */
export interface PushDevice {
  user_id: string;
  device_id: string;
  /** The device's public key, SPKI DER in base64 (Ed25519 or ECDSA P-256). Not a secret. */
  public_key: string;
  /** A name the user recognises ("Alice's iPhone"). */
  name: string;
  created_at: number;
}

export type PushStatus = 'pending' | 'approved' | 'denied';

export interface PushChallengeRecord {
  id: string;
  user_id: string;
  device_id: string;
  /** The decision's challenge a approval completes; null for a push without one. */
  challenge_id: string | null;
  /** The number shown on the login screen (10..99) that the device must send back (number matching). */
  number: number;
  status: PushStatus;
  created_at: number;
  expires_at: number;
  responded_at: number | null;
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
  /**
   * Removes every factor of the user: TOTP (active and pending), backup codes, message destinations (and their
   * unused codes) and push devices; the user is no longer enrolled.
   */
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
   * factors are removed (as removeFactors), enrolled_at cleared and enrollment_deadline = now (no fresh grace period).
   * Returns the requests applied (empty, and nothing written, when none is due).
   */
  applyDueRecoveries(userId: string, now: number): Promise<RecoveryRecord[]>;

  // --- enrollment approvals (first enrollment from a risky context) ---
  approveEnrollment(approval: EnrollmentApproval): Promise<void>;
  /** The unexpired approval, or null. */
  getEnrollmentApproval(userId: string, now: number): Promise<EnrollmentApproval | null>;

  // --- one-time codes by message (issue #7) ---
  /** Stores (or replaces) the user's pending destination; a confirmed one stays until the pending one is confirmed. */
  savePendingMessageDestination(destination: Omit<MessageDestination, 'confirmed_at'>): Promise<void>;
  /** The confirmed destination, or null. */
  getMessageDestination(userId: string): Promise<MessageDestination | null>;
  getPendingMessageDestination(userId: string): Promise<MessageDestination | null>;
  /**
   * One transaction whose first statement (taking the pending row) decides: the pending destination becomes
   * the confirmed one (replacing any old one) with confirmed_at = now. False, nothing changed, when none is pending.
   */
  confirmMessageDestination(userId: string, now: number): Promise<boolean>;
  /** Removes the confirmed and pending destinations and the user's unused codes; true when one existed. */
  removeMessageDestination(userId: string): Promise<boolean>;
  createMessageCode(code: Omit<MessageCodeRecord, 'used_at'>): Promise<void>;
  /**
   * Marks one unused, unexpired (expires_at > now) code of the user used, in one statement, and returns it:
   * among `hashes` (the code hashed under each key of the keyring), of `purpose`, and bound to `challengeId`
   * (a code sent for a challenge works only with that challenge; one sent without works only without).
   * null when none matches. Of concurrent calls with one code, exactly one gets the record.
   */
  consumeMessageCode(
    userId: string,
    hashes: readonly string[],
    purpose: MessageCodePurpose,
    challengeId: string | null,
    now: number,
  ): Promise<MessageCodeRecord | null>;

  // --- rate limits (sends per user, unanswered pushes) ---
  /**
   * Counts one event of `subject` in a fixed window of `windowMs` starting at the window's first event, in
   * one statement: when the window has ended, a new one starts at `now` with count 1. `allowed` is count <= max.
   * Counted also when over the limit (a caller hammering keeps being refused until the window ends).
   */
  hitRateLimit(subject: string, now: number, windowMs: number, max: number): Promise<RateWindow>;
  /**
   * Gives one event back to the current window of `subject` (count - 1), in one statement: a push that was
   * approved no longer counts as unanswered. Never below 1 (the window's row is what dates it; its first
   * event stays counted), and nothing when the window has ended (reset_at <= now). True when one was given back.
   */
  releaseRateLimit(subject: string, now: number): Promise<boolean>;

  // --- push approval (issue #7) ---
  /** Registers (or replaces, same device_id) a push device of the user. */
  savePushDevice(device: PushDevice): Promise<void>;
  getPushDevice(userId: string, deviceId: string): Promise<PushDevice | null>;
  /** The user's push devices, oldest first. */
  listPushDevices(userId: string): Promise<PushDevice[]>;
  removePushDevice(userId: string, deviceId: string): Promise<boolean>;
  createPushChallenge(push: Omit<PushChallengeRecord, 'status' | 'responded_at'>): Promise<void>;
  getPushChallenge(id: string): Promise<PushChallengeRecord | null>;
  /**
   * Answers a pending, unexpired (expires_at > now) push once, in one statement: status becomes `status`,
   * responded_at now; returns the updated record. null when unknown, already answered or expired. Of
   * concurrent answers exactly one gets the record.
   */
  respondPushChallenge(id: string, status: 'approved' | 'denied', now: number): Promise<PushChallengeRecord | null>;

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
