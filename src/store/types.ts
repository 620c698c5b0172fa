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
  /** Resolves when the database answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
