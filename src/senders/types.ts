// The sender interface of issue #7 ("Out-of-band factors"). mfa-gate sends nothing itself: one-time codes,
// push requests and security notices are handed to a sender the operator configures (a signed webhook in
// production, the log in development, or none). A leaf: no imports.

export type MessageKind = 'otp_code' | 'push_request' | 'security_notice';

export interface OutboundMessage {
  /** Unique per message (UUID); receivers use it to drop duplicates, since retries may deliver twice. */
  id: string;
  kind: MessageKind;
  user_id: string;
  /** Who it is for: the user, or the security team (notifications configured to copy it). */
  audience: 'user' | 'security_team';
  /** otp_code (and user notices when the user has a message destination): where to. */
  to?: { channel: 'sms' | 'email' | 'chat'; address: string };
  /** push_request: the registered push device. */
  device_id?: string;
  /** ISO 8601. */
  created_at: string;
  /** A human-readable text the receiver can deliver as is. */
  text: string;
  /** Kind-specific machine-readable fields (code and expires_at for otp_code; push id, expires_at, and the
   * choices the device shows for push_request; event, time, browser, place for security_notice). */
  data: Record<string, unknown>;
}

export interface Sender {
  readonly kind: 'webhook' | 'log' | 'none';
  /** Resolves when delivered (webhook: a 2xx answer); rejects with a SenderError otherwise. */
  send(message: OutboundMessage): Promise<void>;
  /** Stops accepting messages; resolves when the messages in flight have settled. Idempotent. */
  close(): Promise<void>;
}

/** What the webhook sender logs through: the subset of a pino logger it uses. */
export interface SenderLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

// Named error codes, in the style of src/factors/errors.ts: a code a caller can switch on, never a message to parse.
export const SenderErrorCode = {
  /** Construction or environment: a bad URL, a short secret, the log sender in production, an unknown kind. */
  CONFIG_INVALID: 'sender_config_invalid',
  /** The message itself cannot be sent (an id that cannot go into a header, a body that is not JSON). Not retried. */
  INVALID_MESSAGE: 'sender_invalid_message',
  /** The receiver answered a final refusal (a 4xx other than 408/429, or a redirect, which is not followed). */
  REJECTED: 'sender_rejected',
  /** Every attempt failed with a network error, a timeout, a 5xx, 408 or 429. */
  UNAVAILABLE: 'sender_unavailable',
  /** MFA_GATE_SENDER=none: out-of-band factors cannot be used. */
  NOT_CONFIGURED: 'sender_not_configured',
  /** send() after close(), or a retry cut short by close(). */
  CLOSED: 'sender_closed',
} as const;
export type SenderErrorCode = (typeof SenderErrorCode)[keyof typeof SenderErrorCode];

export class SenderError extends Error {
  readonly code: SenderErrorCode;
  /** The last HTTP status the receiver answered, when it answered at all. */
  readonly status: number | undefined;
  /** How many HTTP attempts were made (0 when none was). */
  readonly attempts: number;

  constructor(
    code: SenderErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; attempts?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SenderError';
    this.code = code;
    this.status = options.status;
    this.attempts = options.attempts ?? 0;
  }
}
