// The webhook sender: each message is POSTed as JSON to the operator's URL, signed with a shared secret, and
// retried with exponential backoff when the receiver is unavailable.
//
// ## What a receiver must do (the verification recipe)
//
// Every request carries:
//   content-type: application/json
//   user-agent: mfa-gate
//   X-MFA-Gate-Timestamp: <unix seconds when this attempt was signed>
//   X-MFA-Gate-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//   X-MFA-Gate-Message-Id: <the message id, the same on every attempt>
//
// 1. Read the RAW body bytes, before any JSON parsing: re-serialised JSON is not the same bytes.
// 2. Compute HMAC-SHA256 keyed with the secret (its UTF-8 bytes, as configured) over the timestamp header, a
//    '.', then the raw body; hex-encode it; compare it with the value after `v1=` in constant time (in Node:
//    crypto.timingSafeEqual; never `===`). The header may hold several space-separated `v1=` values (reserved
//    for secret rotation): accept when any one matches. Refuse (401) when none does.
// 3. Refuse when the timestamp is more than 5 minutes (300 s) from your clock, either way: the timestamp is
//    signed, so a captured request cannot be replayed later.
// 4. Drop duplicates by message id (the body's `id`, also in X-MFA-Gate-Message-Id): a retry after a lost
//    answer delivers the same message twice, and a captured request can be replayed within the 5 minutes of
//    step 3. Remember the ids at least that long plus the sender's retry span (about a minute by default).
// 5. Answer quickly (the sender gives up on an attempt after 5 s by default): 2xx once the message is accepted
//    (queue the actual SMS/e-mail/push if it is slow), 4xx to refuse it for good (not retried), 5xx, 408 or
//    429 (optionally with Retry-After in seconds) to have it retried. Redirects are not followed.
//
// In Node the whole of steps 2–3 is `verifyWebhookSignature` below (import it from mfa-gate, or copy it).
// The body carries one-time codes: the URL must use https unless the receiver is on this host (loopback).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { SenderError, SenderErrorCode, type OutboundMessage, type Sender, type SenderLogger } from './types.js';

export const HEADER_TIMESTAMP = 'X-MFA-Gate-Timestamp';
export const HEADER_SIGNATURE = 'X-MFA-Gate-Signature';
export const HEADER_MESSAGE_ID = 'X-MFA-Gate-Message-Id';
export const USER_AGENT = 'mfa-gate';
/** The scheme prefix of a signature, so the algorithm can change later without ambiguity (as Stripe's `v1=`). */
export const SIGNATURE_VERSION = 'v1';

/** RFC 2104 §3: a key shorter than the hash output (32 bytes for SHA-256) weakens the HMAC; longer adds little. */
export const MIN_SECRET_BYTES = 32;
/** Stripe's and Standard Webhooks' default tolerance: wide enough for clock skew and a slow queue, short enough
 * that a captured request is useless soon after. */
export const DEFAULT_TOLERANCE_S = 300;
/** Per attempt. A user is waiting for the code on the other side of this call: several seconds is already long. */
export const DEFAULT_TIMEOUT_MS = 5000;
/** Retries after the first attempt (4 attempts in all): enough to ride out a receiver's restart or a blip. */
export const DEFAULT_RETRIES = 3;
/** The first backoff's ceiling; doubled per retry (full jitter, AWS Architecture Blog "Exponential Backoff
 * and Jitter", 2015: spreads the retries of many messages so they do not hit a recovering receiver together). */
export const DEFAULT_BACKOFF_MS = 500;
/** The ceiling of any wait, a Retry-After included: a one-time code is valid for minutes, a user waits less. */
export const DEFAULT_MAX_BACKOFF_MS = 5000;
/** Upper bounds of the options, so a typo (ms for s, an extra zero) fails at start-up rather than hanging sends. */
const MAX_TIMEOUT_MS = 60_000;
const MAX_RETRIES = 10;
const MAX_BACKOFF_LIMIT_MS = 60_000;
/** A receiver's answer body is read (so the connection can be reused) but never used; this much at most. */
const MAX_DRAINED_BYTES = 64 * 1024;
/** A message id goes into a header and into receivers' duplicate tables: a UUID fits, control characters do not. */
const MESSAGE_ID_RE = /^[A-Za-z0-9._:~-]{1,128}$/;

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface WebhookSenderOptions {
  /** https://… (http://… only for a loopback host: 127.0.0.0/8, ::1, localhost). */
  url: string;
  /** The shared HMAC secret, at least 32 bytes (e.g. `openssl rand -hex 32`). */
  secret: string;
  /** Per-attempt timeout (AbortSignal.timeout), headers and body. Default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt (so `retries + 1` attempts at most). Default 3. */
  retries?: number;
  /** The first backoff's ceiling, doubled per retry, with full jitter. Default 500. */
  backoffMs?: number;
  /** The ceiling of every wait, Retry-After included. Default 5000. */
  maxBackoffMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Waits between attempts; must resolve early (or may be raced) when `signal` aborts on close(). */
  sleep?: Sleep;
  /** Milliseconds since the epoch, like Date.now. */
  now?: () => number;
  /** In [0, 1), like Math.random: the jitter. */
  random?: () => number;
  /** Receives one line per attempt outcome: message id, kind, attempt, status (never the secret, body or code). */
  log?: SenderLogger;
}

// --- signing and verification (shared with receivers and tests) ---

/** The X-MFA-Gate-Signature value for `body` signed at `timestamp` (unix seconds): `v1=<hex HMAC-SHA256>`. */
export function signWebhook(secret: string, timestamp: number | string, body: string | Uint8Array): string {
  return `${SIGNATURE_VERSION}=${hmacHex(secret, String(timestamp), body)}`;
}

function hmacHex(secret: string, timestamp: string, body: string | Uint8Array): string {
  const h = createHmac('sha256', secret);
  h.update(`${timestamp}.`, 'utf8');
  h.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return h.digest('hex');
}

export interface VerifyWebhookOptions {
  secret: string;
  /** The X-MFA-Gate-Timestamp header as received. */
  timestamp: string | number | null | undefined;
  /** The raw body as received (bytes, or the exact string they decode to). */
  body: string | Uint8Array;
  /** The X-MFA-Gate-Signature header as received. */
  signature: string | null | undefined;
  /** Milliseconds since the epoch, like Date.now (the default). */
  now?: () => number;
  /** How far (seconds, either way) the timestamp may be from `now`. Default 300. */
  toleranceS?: number;
}

/**
 * Whether a request is genuine and fresh: the signature header holds a `v1=` HMAC of `<timestamp>.<body>` under
 * `secret` (compared in constant time), and the timestamp is within `toleranceS` of now. Never throws on
 * malformed input: any missing or malformed part is simply false.
 */
export function verifyWebhookSignature({
  secret,
  timestamp,
  body,
  signature,
  now = Date.now,
  toleranceS = DEFAULT_TOLERANCE_S,
}: VerifyWebhookOptions): boolean {
  if (typeof secret !== 'string' || secret.length === 0) return false;
  if (typeof signature !== 'string') return false;
  const ts = typeof timestamp === 'number' ? String(timestamp) : timestamp;
  if (typeof ts !== 'string' || !/^\d{1,15}$/.test(ts)) return false;
  if (Math.abs(now() / 1000 - Number(ts)) > toleranceS) return false;

  const expected = Buffer.from(hmacHex(secret, ts, body), 'hex');
  let match = false;
  for (const part of signature.trim().split(/\s+/)) {
    const m = /^v1=([0-9a-fA-F]{64})$/.exec(part);
    if (!m) continue;
    // Every candidate is compared (no early return) so the time taken does not say which one matched.
    if (timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)) match = true;
  }
  return match;
}

// --- option validation (also used by senderConfigFromEnv, which names the variable) ---

/** Why `url` is not acceptable as a webhook URL, or null when it is. The message never repeats a query string. */
export function webhookUrlProblem(url: unknown): string | null {
  if (typeof url !== 'string' || url.trim() === '') return 'is required';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `must be an http(s) URL (got ${u.protocol})`;
  // fetch refuses URLs with credentials, and they would end up in error messages; the signature authenticates.
  if (u.username !== '' || u.password !== '') return 'must not contain credentials (user:password@)';
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    return `must use https for a non-loopback host (${u.host}): the messages carry one-time codes; plain http is allowed only for 127.0.0.0/8, ::1 and localhost`;
  }
  return null;
}

/** Whether a URL's hostname (as the WHATWG parser normalises it: `127.1` → `127.0.0.1`, IPv6 in brackets) is
 * the loopback interface. Only these never leave the host, so only these may skip TLS. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost') return true;
  if (h === '[::1]' || h === '::1') return true;
  return isIPv4(h) && h.split('.')[0] === '127';
}

/** Why `secret` is not acceptable as a webhook secret, or null. The message never repeats the secret. */
export function webhookSecretProblem(secret: unknown): string | null {
  if (typeof secret !== 'string' || secret === '') return 'is required';
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_SECRET_BYTES) {
    return `must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes}); generate one with \`openssl rand -hex 32\``;
  }
  // A trailing newline from a secrets file would make every signature differ from the receiver's: refuse it here.
  if (secret.trim() !== secret) return 'must not start or end with whitespace';
  return null;
}

function intOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SenderError(SenderErrorCode.CONFIG_INVALID, `webhook sender: ${name} must be an integer in ${min}..${max} (got ${value})`);
  }
  return value;
}

// --- the sender ---

const defaultSleep: Sleep = (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined);

export function createWebhookSender(options: WebhookSenderOptions): Sender {
  const {
    url,
    secret,
    fetch: fetchFn = globalThis.fetch,
    sleep = defaultSleep,
    now = Date.now,
    random = Math.random,
    log,
  } = options;
  const urlProblem = webhookUrlProblem(url);
  if (urlProblem) throw new SenderError(SenderErrorCode.CONFIG_INVALID, `webhook sender: url ${urlProblem}`);
  const secretProblem = webhookSecretProblem(secret);
  if (secretProblem) throw new SenderError(SenderErrorCode.CONFIG_INVALID, `webhook sender: secret ${secretProblem}`);
  const timeoutMs = intOption('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  const retries = intOption('retries', options.retries ?? DEFAULT_RETRIES, 0, MAX_RETRIES);
  const backoffMs = intOption('backoffMs', options.backoffMs ?? DEFAULT_BACKOFF_MS, 0, MAX_BACKOFF_LIMIT_MS);
  const maxBackoffMs = intOption('maxBackoffMs', options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS, 0, MAX_BACKOFF_LIMIT_MS);
  if (typeof fetchFn !== 'function') throw new SenderError(SenderErrorCode.CONFIG_INVALID, 'webhook sender: no fetch available');

  const closing = new AbortController();
  const closedSignal = new Promise<void>((resolve) => closing.signal.addEventListener('abort', () => resolve(), { once: true }));
  const inFlight = new Set<Promise<void>>();

  /** The wait before attempt `failed + 1`: the receiver's Retry-After when it gave one, else full jitter. */
  function backoff(failed: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, maxBackoffMs);
    const ceiling = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(failed - 1, 30));
    return Math.floor(random() * ceiling);
  }

  async function deliver(message: OutboundMessage): Promise<void> {
    const body = serialize(message);
    const fields = { message_id: message.id, kind: message.kind };
    for (let attempt = 1; ; attempt++) {
      const timestamp = String(Math.floor(now() / 1000));
      let res: Response | undefined;
      let failure: unknown;
      try {
        res = await fetchFn(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            [HEADER_TIMESTAMP]: timestamp,
            [HEADER_SIGNATURE]: signWebhook(secret, timestamp, body),
            [HEADER_MESSAGE_ID]: message.id,
          },
          body,
          // A redirect would re-send the codes to wherever the receiver points (307/308 keep the body): refused.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        failure = err;
      }

      const status = res?.status;
      const error = res ? undefined : isTimeout(failure) ? 'timeout' : 'network';
      let retryAfterMs: number | undefined;
      if (res) {
        await drain(res);
        if (res.status >= 200 && res.status <= 299) {
          log?.info({ event: 'webhook_delivered', ...fields, attempt, status }, 'message delivered');
          return;
        }
        if (!isRetryable(res.status)) {
          log?.warn({ event: 'webhook_rejected', ...fields, attempt, status }, 'message rejected by the receiver');
          const why = res.status >= 300 && res.status <= 399 ? 'a redirect, which is not followed' : 'a final refusal';
          throw new SenderError(SenderErrorCode.REJECTED, `webhook receiver answered HTTP ${res.status} (${why})`, {
            status,
            attempts: attempt,
          });
        }
        retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now());
      }

      if (attempt > retries) {
        log?.warn({ event: 'webhook_unavailable', ...fields, attempt, status, error }, 'message not delivered');
        const last = res ? `HTTP ${status}` : error === 'timeout' ? `no answer within ${timeoutMs} ms` : 'network error';
        throw new SenderError(SenderErrorCode.UNAVAILABLE, `webhook receiver unavailable after ${attempt} attempt(s) (last: ${last})`, {
          cause: failure,
          status,
          attempts: attempt,
        });
      }
      const waitMs = backoff(attempt, retryAfterMs);
      log?.warn({ event: 'webhook_retry', ...fields, attempt, status, error, retry_in_ms: waitMs }, 'delivery failed; retrying');
      if (!closing.signal.aborted) await Promise.race([sleep(waitMs, closing.signal), closedSignal]);
      if (closing.signal.aborted) {
        throw new SenderError(SenderErrorCode.CLOSED, `webhook sender closed before retry ${attempt} (message not delivered)`, {
          cause: failure,
          status,
          attempts: attempt,
        });
      }
    }
  }

  return {
    kind: 'webhook',
    send(message) {
      if (closing.signal.aborted) {
        return Promise.reject(new SenderError(SenderErrorCode.CLOSED, 'webhook sender is closed'));
      }
      const p = deliver(message);
      const settled = p.then(
        () => undefined,
        () => undefined,
      );
      inFlight.add(settled);
      void settled.then(() => inFlight.delete(settled));
      return p;
    },
    async close() {
      // No new message, no further retry; an attempt already on the wire finishes (bounded by timeoutMs).
      closing.abort();
      await Promise.all([...inFlight]);
    },
  };
}

function serialize(message: OutboundMessage): string {
  if (typeof message?.id !== 'string' || !MESSAGE_ID_RE.test(message.id)) {
    throw new SenderError(SenderErrorCode.INVALID_MESSAGE, 'message id must be 1–128 characters of [A-Za-z0-9._:~-] (a UUID)');
  }
  try {
    return JSON.stringify(message);
  } catch (err) {
    throw new SenderError(SenderErrorCode.INVALID_MESSAGE, `message ${message.id} is not serialisable as JSON`, { cause: err });
  }
}

/** 408 and 429 say "later", 5xx say "not now"; any other 4xx (and an unfollowed 3xx) will not change on a retry. */
function isRetryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err.cause instanceof Error && err.cause.name === 'TimeoutError'));
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. Undefined when absent or unreadable (then the backoff applies). */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Reads (and discards) a bounded amount of the answer so the connection can be reused; cancels beyond that. */
async function drain(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let seen = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value.byteLength;
      if (seen > MAX_DRAINED_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The status is already known; a body that fails to arrive does not change it.
  }
}
