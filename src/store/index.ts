// The store's public surface. The engine and factors import only the `Store` interface; drivers are
// constructed by http/cli (and tests).
export type {
  ChallengeRecord,
  EnrollmentApproval,
  FailureCounter,
  LoginRecord,
  MessageChannel,
  MessageCodePurpose,
  MessageCodeRecord,
  MessageDestination,
  PendingTotp,
  PurgeResult,
  PushChallengeRecord,
  PushDevice,
  PushStatus,
  RateWindow,
  RecoveryRecord,
  RetentionOptions,
  Store,
  TotpFactor,
  UserSummary,
} from './types.js';
export { DEFAULT_RETENTION, resolveRetention } from './retention.js';
export { ipSubject, userFailureSubjects, userSubject, userSubjectPrefix, type UserBudget } from './subjects.js';
export {
  SqliteStore,
  StoreClosedError,
  openSqliteStore,
  type SqliteStoreInfo,
  type SqliteStoreOptions,
} from './sqlite.js';
export {
  PostgresStore,
  openPostgresStore,
  type PostgresStoreInfo,
  type PostgresStoreOptions,
} from './postgres.js';
export { POSTGRES_MIGRATIONS } from './migrations/postgres.js';
export { SchemaTooNewError, migrateSqlite, type MigrationResult } from './sqlite-migrate.js';
export { SQLITE_MIGRATIONS } from './migrations/sqlite.js';
export type { Migration } from './migrations/types.js';
