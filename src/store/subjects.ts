// Throttling subjects: the keys of the failure counters (Store.recordFailure, getFailures, unlock). Built
// only here, so the factor module (which counts), getUserState (which sums a user's counters) and an
// admin unlock (which clears them by prefix) always agree on the names.

/** A user's separately throttled factors (message codes and push answers have their own, issue #7). */
export type UserBudget = 'totp' | 'backup_code' | 'message' | 'push';

// A user id may contain ':', so `user:alice:` would also be a prefix of the subjects of a user named
// `alice:x` and unlocking alice would unlock them too. So ':' (and '%', the escape itself, so the mapping
// stays one-to-one) are percent-encoded inside the id: ids without either character keep the plain
// `user:<id>:totp` form. Other characters, `_` included, are kept: unlock matches a prefix exactly,
// never as a LIKE pattern.
const escapeId = (id: string) => id.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));

/**
 * `user:<id>:totp` or `user:<id>:backup_code`. With budget `''` it is `user:<id>:`, the prefix of all the
 * user's subjects, which is what `Store.unlock` takes to clear them (see also `userSubjectPrefix`).
 */
export function userSubject(userId: string, budget: UserBudget | ''): string {
  return `user:${escapeId(userId)}:${budget}`;
}

/** `user:<id>:`: the prefix of every subject of the user, for `Store.unlock`. */
export function userSubjectPrefix(userId: string): string {
  return userSubject(userId, '');
}

/** Both budgets' subjects of a user, `[totp, backup_code]`: what getUserState sums into failed_attempts. */
export function userFailureSubjects(userId: string): [totp: string, backupCode: string] {
  const prefix = userSubjectPrefix(userId);
  return [`${prefix}totp`, `${prefix}backup_code`];
}

/** `ip:<ip>`. An IP holds no ':' ambiguity worth encoding: nothing unlocks IPs by a prefix of an address. */
export function ipSubject(ip: string): string {
  return `ip:${ip}`;
}
