// Backup codes: generation, normalisation of what users type, and keyed hashing. Pure functions; the
// service stores the hashes and the store consumes each at most once.
export {
  generateBackupCodes,
  normalizeBackupCode,
  formatBackupCode,
  hashBackupCode,
  hashBackupCodes,
  backupCodeCandidates,
  BACKUP_CODE_ALPHABET,
  BACKUP_CODE_LENGTH,
  BACKUP_CODE_GROUP,
  BACKUP_CODE_HMAC_PURPOSE,
  MAX_BACKUP_CODES,
} from './codes.js';
