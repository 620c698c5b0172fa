// Security notifications (issue #7): the user (and, by the policy's `notifications:`, the security team) is
// told when a factor is enrolled, removed or reset, when backup codes run low, when a recovery request is
// opened (with when it takes effect and how to cancel it), and when a login completes from a new device or
// location. Through the operator's sender, like the codes; never in the way of the request that caused it:
// notify() returns at once, a sender failure is logged (without the message) and forgotten.
//
// The notifications follow from the audit events (onAudit): every place that enrolls, removes, resets,
// verifies or completes a login already audits it, so none of them can forget to notify, and the engine's
// own events (a recovery applied during a decision, a completed login) are covered the same way.
import { randomUUID } from 'node:crypto';
import type { CompiledPolicy, NotificationEvent } from '../policy/types.js';
import type { OutboundMessage, Sender } from '../senders/types.js';
import type { MessageChannel, Store } from '../store/types.js';
import type { Keyring } from './crypto.js';

/** Backup codes left at or below this: "running low" (issue #7: ≤ 2). */
export const BACKUP_CODES_LOW = 2;

export interface NotifierOptions {
  sender: Sender | null;
  store: Store;
  keyring: Keyring;
  policy: () => CompiledPolicy;
  /** Where a failed send is reported: the event and the error code only. */
  onError?: (info: { event: NotificationEvent; user_id: string; audience: string; error: string }) => void;
  clock?: () => number;
}

/** What each event says; `facts` are the event's details (times as epoch ms). */
export type NotificationFacts = {
  factor_enrolled: { factor: 'totp' | 'message' | 'push' };
  factor_removed: { factor: 'totp' | 'message' | 'push' | 'all' };
  factors_reset: { recovery_id: string };
  backup_codes_low: { remaining: number };
  recovery_opened: { recovery_id: string; effective_at: number };
  /** device: the device's key (the app's device id, else a fingerprint of the browser); browser: "Chrome on
   * Windows"; place: CC/Region/City. */
  new_device_login: { device: string | null; browser: string | null; place: string | null; ip: string | null };
  new_location_login: { device: string | null; browser: string | null; place: string | null; ip: string | null };
};

const FACTOR_NAMES = { totp: 'an authenticator app (TOTP)', message: 'one-time codes by message', push: 'push approval on a device', all: 'every sign-in factor' } as const;

function text<E extends NotificationEvent>(event: E, f: NotificationFacts[E], at: string): string {
  const facts = f as Record<string, unknown>;
  switch (event) {
    case 'factor_enrolled':
      return `A new sign-in factor, ${FACTOR_NAMES[facts.factor as keyof typeof FACTOR_NAMES]}, was added to your account at ${at}. If this was not you, contact your security team now.`;
    case 'factor_removed':
      return `${capitalise(FACTOR_NAMES[facts.factor as keyof typeof FACTOR_NAMES])} was removed from your account at ${at}. If this was not you, contact your security team now.`;
    case 'factors_reset':
      return `Your sign-in factors were reset at ${at} by an administrator's recovery request; you will be asked to enroll again at your next sign-in.`;
    case 'backup_codes_low':
      return `Only ${facts.remaining as number} backup code${facts.remaining === 1 ? '' : 's'} left on your account: generate new ones before you run out.`;
    case 'recovery_opened':
      return `An administrator opened a recovery of your sign-in factors at ${at}. It takes effect at ${iso(facts.effective_at as number)}: your factors will then be removed. If you did not ask for this, cancel it before then by signing in with your authenticator app or a backup code (recovery ${facts.recovery_id as string}), and tell your security team.`;
    case 'new_device_login':
    case 'new_location_login': {
      const what = event === 'new_device_login' ? 'a new device' : 'a new location';
      const details = [facts.browser, facts.place, facts.ip === null ? null : `IP ${facts.ip as string}`]
        .filter((x) => typeof x === 'string' && x !== '')
        .join(', ');
      return `New sign-in to your account from ${what} at ${at}${details ? ` (${details})` : ''}. If this was not you, change your password and contact your security team.`;
    }
  }
  return event;
}

const iso = (ms: number) => new Date(ms).toISOString();
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export class Notifier {
  readonly #sender: Sender | null;
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #policy: () => CompiledPolicy;
  readonly #onError: NonNullable<NotifierOptions['onError']>;
  readonly #clock: () => number;
  readonly #inFlight = new Set<Promise<void>>();

  constructor({ sender, store, keyring, policy, onError = () => {}, clock = Date.now }: NotifierOptions) {
    this.#sender = sender !== null && sender.kind !== 'none' ? sender : null;
    this.#store = store;
    this.#keyring = keyring;
    this.#policy = policy;
    this.#onError = onError;
    this.#clock = clock;
  }

  /** Whether `event` goes to anyone under the current policy (callers skip costly facts otherwise). */
  wants(event: NotificationEvent): boolean {
    if (this.#sender === null) return false;
    const n = this.#policy().notifications;
    return n.user.has(event) || n.security_team.has(event);
  }

  /** Sends `event` to whom the policy says, in the background. Never throws, never waits. */
  notify<E extends NotificationEvent>(event: E, userId: string, facts: NotificationFacts[E]): void {
    if (!this.wants(event)) return;
    const p = this.#deliver(event, userId, facts).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** The notification an audit event calls for, if any (see the file header); never throws. */
  onAudit(e: { event: string; user_id: string; [field: string]: unknown }): void {
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    switch (e.event) {
      case 'totp.enrolled':
        return this.notify('factor_enrolled', e.user_id, { factor: 'totp' });
      case 'message.enrolled':
        return this.notify('factor_enrolled', e.user_id, { factor: 'message' });
      case 'push.device_registered':
        return this.notify('factor_enrolled', e.user_id, { factor: 'push' });
      case 'factors.removed':
        return this.notify('factor_removed', e.user_id, { factor: 'all' });
      case 'recovery.applied':
        return this.notify('factors_reset', e.user_id, { recovery_id: str(e.recovery_id) ?? '' });
      case 'recovery.opened': {
        const effective = Date.parse(str(e.effective_at) ?? '');
        if (Number.isNaN(effective)) return;
        return this.notify('recovery_opened', e.user_id, { recovery_id: str(e.recovery_id) ?? '', effective_at: effective });
      }
      case 'factor.verified': {
        const remaining = e.backup_codes_remaining;
        if (e.factor === 'backup_code' && typeof remaining === 'number' && remaining <= BACKUP_CODES_LOW) {
          this.notify('backup_codes_low', e.user_id, { remaining });
        }
        return;
      }
      case 'login.completed': {
        const facts = { device: str(e.device), browser: str(e.browser), place: str(e.location), ip: str(e.ip) };
        if (e.new_device === true) this.notify('new_device_login', e.user_id, facts);
        if (e.new_location === true) this.notify('new_location_login', e.user_id, facts);
        return;
      }
    }
  }

  /** Resolves when the notifications in flight have settled (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #deliver<E extends NotificationEvent>(event: E, userId: string, facts: NotificationFacts[E]): Promise<void> {
    const sender = this.#sender!;
    const n = this.#policy().notifications;
    const now = this.#clock();
    const at = iso(now);
    const base = {
      kind: 'security_notice' as const,
      user_id: userId,
      created_at: at,
      text: text(event, facts, at),
      data: { event, time: at, ...(facts as Record<string, unknown>) } as Record<string, unknown>,
    };
    const audiences: Array<'user' | 'security_team'> = [];
    if (n.user.has(event)) audiences.push('user');
    if (n.security_team.has(event)) audiences.push('security_team');
    const to = audiences.includes('user') ? await this.#destination(userId).catch(() => undefined) : undefined;
    await Promise.all(
      audiences.map(async (audience) => {
        const message: OutboundMessage = { id: randomUUID(), audience, ...base };
        if (audience === 'user' && to !== undefined) message.to = to;
        try {
          await sender.send(message);
        } catch (err) {
          this.#onError({ event, user_id: userId, audience, error: (err as { code?: string }).code ?? (err as Error).name });
        }
      }),
    );
  }

  /** The user's confirmed message destination, decrypted; undefined when none (the operator's sender then
   * reaches the user its own way, by user_id). */
  async #destination(userId: string): Promise<{ channel: MessageChannel; address: string } | undefined> {
    const d = await this.#store.getMessageDestination(userId);
    if (!d) return undefined;
    return { channel: d.channel, address: this.#keyring.decrypt(d.address, destinationAad(userId)) };
  }
}

/** The AES-GCM additional data of a user's message destination: a ciphertext moved to another user fails. */
export const destinationAad = (userId: string) => `message-destination:${userId}`;
