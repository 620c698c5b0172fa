// Logging with pino: one JSON line per event. Audit events (factor enrolled, verified, failed, replay rejected,
// locked, recovery opened/cancelled/applied) carry who and what, never a code or a secret; the redaction
// below is a second line of defence, not the first.
import pino, { type DestinationStream, type Logger } from 'pino';

// Any field of these names is replaced before it is written, at the top level or one level down.
const REDACT = ['code', 'secret', 'backup_codes', 'otpauth_uri', 'qr', 'password', 'authorization'].flatMap((k) => [k, `*.${k}`]);

export function createLogger(destination?: DestinationStream, level = process.env.MFA_GATE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'mfa-gate' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

/** An audit sink for the engine and the factor service. */
export function auditTo(logger: Logger): (event: { event: string; user_id: string; [field: string]: unknown }) => void {
  return (e) => logger.info({ audit: true, ...e }, e.event);
}
