// Throttling of factor attempts: pure rules over the counters the store keeps (so a restart or a second
// process never resets them). NIST SP 800-63B 5.2.2: limit consecutive failed attempts to at most 100.
import type { CompiledPolicy } from '../policy/types.js';
import type { FailureCounter } from '../store/types.js';

export type Throttling = CompiledPolicy['throttling'];

/**
 * The failure budgets a user has. Backup-code guesses have their own, so they cannot lock out TOTP; message
 * codes and push answers (a deny, a wrong number) have theirs too (issue #7: "throttled like TOTP").
 */
export type FactorBudget = 'totp' | 'backup_code' | 'message' | 'push';

export type ThrottleVerdict =
  | { allowed: true }
  | { allowed: false; locked: true }
  | { allowed: false; locked: false; retry_after_s: number };

/** The wait after `consecutive` failures: none below the threshold, then base, 2×base, 4×base … up to max. */
export function backoffSeconds(consecutive: number, t: Throttling, threshold = t.backoff_after): number {
  if (consecutive < threshold) return 0;
  const doublings = Math.min(consecutive - threshold, 40); // 2^40 s is far beyond any max; keeps the math finite
  return Math.min(t.backoff_base_s * 2 ** doublings, t.backoff_max_s);
}

/** May a user attempt now, given the counter of one of their budgets? */
export function userVerdict(counter: FailureCounter, now: number, t: Throttling): ThrottleVerdict {
  if (counter.locked_at !== null) return { allowed: false, locked: true };
  return waitVerdict(counter, now, backoffSeconds(counter.consecutive, t));
}

/** May this IP attempt now? An IP is slowed down but never locked: behind a NAT that would lock out everyone. */
export function ipVerdict(counter: FailureCounter, now: number, t: Throttling): ThrottleVerdict {
  return waitVerdict(counter, now, backoffSeconds(counter.consecutive, t, t.ip_backoff_after));
}

function waitVerdict(counter: FailureCounter, now: number, waitS: number): ThrottleVerdict {
  if (waitS === 0 || counter.last_failure_at === null) return { allowed: true };
  const until = counter.last_failure_at + waitS * 1000;
  if (now >= until) return { allowed: true };
  return { allowed: false, locked: false, retry_after_s: Math.ceil((until - now) / 1000) };
}

/** Attempts left before the hard lock, for the "N attempts remaining" a page shows. */
export function attemptsBeforeLock(counter: FailureCounter, t: Throttling): number {
  return Math.max(0, t.lock_after - counter.consecutive);
}
