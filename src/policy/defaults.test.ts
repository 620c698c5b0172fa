// The defaults of the out-of-band factors and notifications, and the factor lists decisions hand out.
import { describe, expect, it } from 'vitest';
import { DEFAULT_FACTORS, DEFAULT_MESSAGE_FACTOR, DEFAULT_NOTIFICATIONS, DEFAULT_PUSH_FACTOR, factorsByDecision } from './defaults.js';
import { FACTOR_KINDS, NOTIFICATION_EVENTS, type MfaDecision } from './types.js';

const satisfies = (...d: MfaDecision[]): ReadonlySet<MfaDecision> => new Set(d);

describe('out-of-band defaults', () => {
  it('keeps message and push off, message codes for prompt_mfa only (NIST SP 800-63B 5.1.3.3)', () => {
    expect(DEFAULT_MESSAGE_FACTOR).toEqual({ enabled: false, code_ttl_s: 300, satisfies: new Set(['prompt_mfa']), max_sends: 3, send_window_s: 900 });
    expect(DEFAULT_PUSH_FACTOR).toEqual({ enabled: false, ttl_s: 120, max_unanswered: 3, unanswered_window_s: 900 });
    expect(DEFAULT_FACTORS.message).toBe(DEFAULT_MESSAGE_FACTOR);
    expect(DEFAULT_FACTORS.push).toBe(DEFAULT_PUSH_FACTOR);
  });

  it('tells the user of every event and the security team of none', () => {
    expect(DEFAULT_NOTIFICATIONS.user).toEqual(new Set(NOTIFICATION_EVENTS));
    expect(DEFAULT_NOTIFICATIONS.security_team).toEqual(new Set());
  });
});

describe('factorsByDecision', () => {
  it('lists totp and backup_code always, push when enabled, message where enabled and satisfying', () => {
    const off = { enabled: false, satisfies: satisfies('prompt_mfa', 'require_mfa') };
    expect(factorsByDecision(off, { enabled: false })).toEqual({ prompt_mfa: ['totp', 'backup_code'], require_mfa: ['totp', 'backup_code'] });
    expect(factorsByDecision(off, { enabled: true })).toEqual({
      prompt_mfa: ['totp', 'backup_code', 'push'],
      require_mfa: ['totp', 'backup_code', 'push'],
    });
    expect(factorsByDecision({ enabled: true, satisfies: satisfies('prompt_mfa') }, { enabled: false })).toEqual({
      prompt_mfa: ['totp', 'backup_code', 'message'],
      require_mfa: ['totp', 'backup_code'],
    });
    expect(factorsByDecision({ enabled: true, satisfies: satisfies('prompt_mfa', 'require_mfa') }, { enabled: true })).toEqual({
      prompt_mfa: [...FACTOR_KINDS],
      require_mfa: [...FACTOR_KINDS],
    });
  });

  it('hands out frozen lists, one array per distinct list', () => {
    const a = factorsByDecision({ enabled: true, satisfies: satisfies('prompt_mfa') }, { enabled: true });
    const b = factorsByDecision({ enabled: true, satisfies: satisfies('prompt_mfa') }, { enabled: true });
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.prompt_mfa)).toBe(true);
    expect(b.prompt_mfa).toBe(a.prompt_mfa);
    expect(b.require_mfa).toBe(a.require_mfa);
    expect(a.require_mfa).toBe(factorsByDecision({ enabled: false, satisfies: satisfies('prompt_mfa') }, { enabled: true }).prompt_mfa);
  });
});
