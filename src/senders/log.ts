// The log sender, for development only: every message, one-time code included, is written to a log function,
// so a developer can complete an SMS or e-mail factor without a phone or a mail server. That is its whole
// purpose, and why it refuses to exist in production: codes in logs are codes in log storage, backups and
// every tool that reads them.
import { SenderError, SenderErrorCode, type OutboundMessage, type Sender } from './types.js';

/** Starts every line, so a stray one in a shared log says what it is and that it must not be there in production. */
export const LOG_SENDER_PREFIX = 'mfa-gate log sender (development only, not delivered):';

export interface LogSenderOptions {
  /** Receives one line per message: the prefix, a summary, then the whole message as JSON. */
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export function createLogSender({ log, env = process.env }: LogSenderOptions): Sender {
  if (env.NODE_ENV === 'production') {
    throw new SenderError(
      SenderErrorCode.CONFIG_INVALID,
      'the log sender writes one-time codes to the log and is for development only; it refuses to run with ' +
        'NODE_ENV=production. Configure a webhook (MFA_GATE_SENDER=webhook, MFA_GATE_WEBHOOK_URL, MFA_GATE_WEBHOOK_SECRET) ' +
        'or MFA_GATE_SENDER=none.',
    );
  }
  if (typeof log !== 'function') throw new SenderError(SenderErrorCode.CONFIG_INVALID, 'log sender: a log function is required');
  let closed = false;
  return {
    kind: 'log',
    async send(message: OutboundMessage) {
      if (closed) throw new SenderError(SenderErrorCode.CLOSED, 'log sender is closed');
      let json: string;
      try {
        json = JSON.stringify(message);
      } catch (err) {
        throw new SenderError(SenderErrorCode.INVALID_MESSAGE, `message ${String(message?.id)} is not serialisable as JSON`, { cause: err });
      }
      const to = message.to ? `${message.to.channel}:${message.to.address}` : message.device_id ? `device:${message.device_id}` : message.audience;
      log(`${LOG_SENDER_PREFIX} ${message.kind} for ${message.user_id} → ${to}: ${JSON.stringify(message.text)} ${json}`);
    },
    async close() {
      closed = true;
    },
  };
}
