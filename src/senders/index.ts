// The sender of out-of-band factors (issue #7), chosen by the operator: a signed webhook (production), the log
// (development: codes visible without a phone), or none (out-of-band factors unavailable; the default, so
// nothing is sent anywhere until someone decides where).
import { createLogSender, type LogSenderOptions } from './log.js';
import { SenderError, SenderErrorCode, type Sender, type SenderLogger } from './types.js';
import { createWebhookSender, webhookSecretProblem, webhookUrlProblem, type WebhookSenderOptions } from './webhook.js';

export * from './types.js';
export * from './webhook.js';
export * from './log.js';

export const ENV_SENDER = 'MFA_GATE_SENDER';
export const ENV_WEBHOOK_URL = 'MFA_GATE_WEBHOOK_URL';
export const ENV_WEBHOOK_SECRET = 'MFA_GATE_WEBHOOK_SECRET';
export const SENDER_KINDS = ['webhook', 'log', 'none'] as const;

export type SenderConfig =
  | ({ kind: 'webhook' } & WebhookSenderOptions)
  | ({ kind: 'log' } & Partial<LogSenderOptions>)
  | { kind: 'none' };

export interface SenderDeps {
  /** The webhook sender's log (when its config has none); the log sender writes to it at warn. */
  logger?: SenderLogger;
  /** For the log sender's production check. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The sender a config describes. Throws SenderError(sender_config_invalid) on a bad config, at start-up. */
export function createSender(config: SenderConfig, { logger, env = process.env }: SenderDeps = {}): Sender {
  switch (config.kind) {
    case 'webhook': {
      const { kind: _kind, ...options } = config;
      return createWebhookSender({ ...options, log: options.log ?? logger });
    }
    case 'log':
      return createLogSender({
        env: config.env ?? env,
        log: config.log ?? (logger ? (line) => logger.warn({ event: 'dev_message' }, line) : (line) => console.error(line)),
      });
    case 'none':
      return createNoneSender();
    default:
      throw new SenderError(
        SenderErrorCode.CONFIG_INVALID,
        `unknown sender kind ${JSON.stringify((config as { kind?: unknown }).kind)} (expected ${SENDER_KINDS.join(', ')})`,
      );
  }
}

/** The sender when none is configured: every send is refused, so out-of-band factors cannot be used. */
export function createNoneSender(): Sender {
  return {
    kind: 'none',
    send: async () => {
      throw new SenderError(
        SenderErrorCode.NOT_CONFIGURED,
        `no sender is configured (${ENV_SENDER}=none): out-of-band factors (codes by SMS, e-mail or chat, push requests) cannot be used`,
      );
    },
    close: async () => {},
  };
}

/** The configuration data a sender's options come from (the parts createSender needs besides functions). */
export type SenderEnvConfig = { kind: 'webhook'; url: string; secret: string } | { kind: 'log' } | { kind: 'none' };

/**
 * The sender configuration in the environment: MFA_GATE_SENDER (webhook | log | none, default none) and, for a
 * webhook, MFA_GATE_WEBHOOK_URL and MFA_GATE_WEBHOOK_SECRET. Throws SenderError(sender_config_invalid) naming the
 * variable when one is missing or invalid (never repeating the secret). An empty variable counts as unset
 * (container tooling often sets `VAR=` for an absent value).
 */
export function senderConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SenderEnvConfig {
  const bad = (message: string): SenderError => new SenderError(SenderErrorCode.CONFIG_INVALID, message);
  const read = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const raw = read(ENV_SENDER);
  const kind = raw?.trim();
  const url = read(ENV_WEBHOOK_URL);
  const secret = read(ENV_WEBHOOK_SECRET);

  if (kind === undefined) {
    // A webhook configured but not selected is almost certainly a forgotten variable, not a wish to send nothing.
    if (url !== undefined || secret !== undefined) {
      throw bad(`${ENV_SENDER} is not set but ${url !== undefined ? ENV_WEBHOOK_URL : ENV_WEBHOOK_SECRET} is: set ${ENV_SENDER}=webhook to use the webhook (or ${ENV_SENDER}=none to send nothing)`);
    }
    return { kind: 'none' };
  }
  if (kind === 'none' || kind === 'log') return { kind };
  if (kind !== 'webhook') {
    throw bad(`${ENV_SENDER} must be one of ${SENDER_KINDS.join(', ')} (got ${JSON.stringify(raw)})`);
  }
  const urlProblem = webhookUrlProblem(url);
  if (urlProblem) throw bad(`${ENV_WEBHOOK_URL} ${urlProblem}${url === undefined ? ` when ${ENV_SENDER}=webhook` : ''}`);
  const secretProblem = webhookSecretProblem(secret);
  if (secretProblem) throw bad(`${ENV_WEBHOOK_SECRET} ${secretProblem}${secret === undefined ? ` when ${ENV_SENDER}=webhook` : ''}`);
  return { kind: 'webhook', url: url!, secret: secret! };
}
