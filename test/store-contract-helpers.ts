// What the Store contract suites (test/store*.contract.ts) share: the clock they pin, the size of their
// concurrent races, and the context a half of the contract gets from describeStoreContract.
import type { RecoveryRecord, Store } from '../src/store/types.js';

export const T0 = 1_700_000_000_000;
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** "Concurrent" calls are issued together without awaiting in between: a pooled driver really races them. */
export const CONCURRENCY = 50;

/** The store of the running test and unique ids for it (the database may be shared). */
export interface ContractContext {
  store: () => Store;
  uid: (label: string) => string;
}

export const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
export const count = (values: readonly boolean[]) => values.filter(Boolean).length;

/** Recovery requests for `uid`'s test: opened at T0 by an administrator, effective an hour later, `over` on top. */
export const recoveryRecords =
  (uid: ContractContext['uid']) =>
  (user: string, over: Partial<RecoveryRecord> = {}): Omit<RecoveryRecord, 'cancelled_at' | 'applied_at'> => ({
    id: uid('rec'),
    user_id: user,
    verified_by: 'admin-1',
    verification: 'passport checked in person',
    opened_at: T0,
    effective_at: T0 + HOUR,
    ...over,
  });
