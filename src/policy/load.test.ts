import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import {
  DEFAULT_FACTORS,
  DEFAULT_MESSAGE_FACTOR,
  DEFAULT_NOTIFICATIONS,
  DEFAULT_PUSH_FACTOR,
  DEFAULT_RISK_WEIGHTS,
  DEFAULT_SENSITIVE_ACTIONS,
  DEFAULT_THROTTLING,
  loadPolicy,
  NOTIFICATION_EVENTS,
  parsePolicy,
} from './index.js';

const FIXTURES = 'test/fixtures/policies';

describe('the seed policy', () => {
  const policy = loadPolicy('policies/default.yaml');

  it('loads unchanged, with its values and the defaults', () => {
    expect(policy.source).toBe('policies/default.yaml');
    expect(policy.version).toMatch(/^[0-9a-f]{64}$/);
    expect(policy.enforcement).toEqual({
      all_users: true,
      users: new Set(),
      groups: new Set(),
      grace_period_s: 30 * 86_400,
      exclude_service_accounts: true,
      exclude_users: new Set(),
      exclude_groups: new Set(),
      risk_based_prompting: [
        { signal: 'new_device', decision: 'prompt_mfa' },
        { signal: 'new_location', decision: 'prompt_mfa' },
        { signal: 'sensitive_action', decision: 'require_mfa' },
      ],
      remember_mfa_s: 12 * 3_600,
      step_up_max_age_s: 5 * 60,
      fail_mode: 'require_mfa',
    });
    expect(policy.recovery).toEqual({ backup_codes: 10, admin_recovery: 'verify_with_id', recovery_timeout_s: 86_400 });
    expect(policy.overrides).toEqual([]);
    expect(policy.rules).toEqual([]);
    expect(policy.time_zone).toBe('UTC');
    expect(policy.location).toEqual({ granularity: 'country', unknown_location: 'auto' });
    expect(policy.impossible_travel).toEqual({ max_speed_kmh: 900, min_distance_km: 500 });
    expect(policy.risk).toEqual({ weights: DEFAULT_RISK_WEIGHTS, thresholds: {} });
    expect(policy.countries).toEqual({ blocked: new Set(), allowed: null });
    expect(policy.networks.trusted.size).toBe(0);
    expect(policy.networks.blocked.size).toBe(0);
    expect(policy.factors).toEqual({
      totp_issuer: 'mfa-gate',
      challenge_ttl_s: 10 * 60,
      enrollment_approval_ttl_s: 24 * 3_600,
      message: { enabled: false, code_ttl_s: 5 * 60, satisfies: new Set(['prompt_mfa']), max_sends: 3, send_window_s: 15 * 60 },
      push: { enabled: false, ttl_s: 2 * 60, max_unanswered: 3, unanswered_window_s: 15 * 60 },
      by_decision: { prompt_mfa: ['totp', 'backup_code'], require_mfa: ['totp', 'backup_code'] },
    });
    expect(policy.notifications).toEqual({
      user: new Set(['factor_enrolled', 'factor_removed', 'factors_reset', 'backup_codes_low', 'recovery_opened', 'new_device_login', 'new_location_login']),
      security_team: new Set(),
    });
    expect(policy.throttling).toEqual({ backoff_after: 5, backoff_base_s: 1, backoff_max_s: 15 * 60, lock_after: 100, ip_backoff_after: 20 });
  });

  it('uses the OWASP sensitive actions', () => {
    expect(policy.sensitive_actions.map((m) => m.source)).toEqual([...DEFAULT_SENSITIVE_ACTIONS]);
    const sensitive = (a: string): boolean => policy.sensitive_actions.some((m) => m.test(a));
    expect(sensitive('password.change')).toBe(true);
    expect(sensitive('admin.users.delete')).toBe(true);
    expect(sensitive('mfa.reset')).toBe(true);
    expect(sensitive('profile.view')).toBe(false);
  });

  it('has the sha256 of the file as version', async () => {
    const { createHash } = await import('node:crypto');
    expect(policy.version).toBe(createHash('sha256').update(readFileSync('policies/default.yaml')).digest('hex'));
  });
});

describe('versions', () => {
  const text = readFileSync('policies/default.yaml', 'utf8');

  it('is the same for a string and its bytes, and for the same text twice', () => {
    expect(parsePolicy(text, 'a.yaml').version).toBe(parsePolicy(Buffer.from(text), 'b.yaml').version);
  });

  it('changes with one byte, even one the YAML ignores', () => {
    const base = parsePolicy(text, 'a.yaml').version;
    expect(parsePolicy(text.replace('backup_codes: 10', 'backup_codes: 11'), 'a.yaml').version).not.toBe(base);
    expect(parsePolicy(`${text} `, 'a.yaml').version).not.toBe(base);
    expect(parsePolicy(`${text}#`, 'a.yaml').version).not.toBe(base);
  });
});

describe('a policy with every key', () => {
  const p = loadPolicy(`${FIXTURES}/full.yaml`);

  it('compiles enforcement and overrides', () => {
    expect(p.enforcement.all_users).toBe(false);
    expect(p.enforcement.users).toEqual(new Set(['alice']));
    expect(p.enforcement.groups).toEqual(new Set(['finance']));
    expect(p.enforcement.exclude_users).toEqual(new Set(['svc-backup']));
    expect(p.enforcement.exclude_groups).toEqual(new Set(['robots']));
    expect(p.enforcement.grace_period_s).toBe(7 * 86_400);
    expect(p.enforcement.remember_mfa_s).toBe(8 * 3_600);
    expect(p.enforcement.step_up_max_age_s).toBe(120);
    expect(p.enforcement.fail_mode).toBe('allow');
    expect(p.enforcement.risk_based_prompting).toEqual([
      { signal: 'new_device', decision: 'prompt_mfa' },
      { signal: 'impossible_travel', decision: 'require_mfa' },
      { signal: 'blocked_country', decision: 'deny' },
    ]);
    expect(p.overrides).toEqual([
      { users: new Set(), groups: new Set(['admins']), exclude: false, settings: { remember_mfa_s: 3_600, step_up_max_age_s: 60 } },
      { users: new Set(['bob']), groups: new Set(), exclude: true, settings: { grace_period_s: 0, risk_based_prompting: [] } },
    ]);
  });

  it('compiles the rest', () => {
    expect(p.recovery).toEqual({ backup_codes: 12, admin_recovery: 'disabled', recovery_timeout_s: 2 * 86_400 });
    expect(p.sensitive_actions.map((m) => m.source)).toEqual(['admin.*', 'payment.refund', 'POST /admin/*', '* /billing/**']);
    expect(p.sensitive_actions[3]?.test('GET /billing/invoices/7')).toBe(true);
    expect(p.networks.trusted.match('10.9.9.9')).toBe('10.0.0.0/8');
    expect(p.networks.trusted.match('192.0.2.7')).toBe('192.0.2.7');
    expect(p.networks.trusted.match('2001:db8::1')).toBe('2001:db8::/32');
    expect(p.networks.blocked.match('203.0.113.9')).toBe('203.0.113.0/24');
    expect(p.countries).toEqual({ blocked: new Set(['KP']), allowed: new Set(['US', 'DE', 'NO']) });
    expect(p.location).toEqual({ granularity: 'city', unknown_location: 'known' });
    expect(p.impossible_travel).toEqual({ max_speed_kmh: 1000, min_distance_km: 0 });
    expect(p.risk.weights).toEqual({ ...DEFAULT_RISK_WEIGHTS, new_device: 30, trusted_network: -40 });
    expect(p.risk.thresholds).toEqual({ prompt_mfa: 40, require_mfa: 70 });
    expect(p.time_zone).toBe('Europe/Berlin');
    expect(p.factors).toEqual({ ...DEFAULT_FACTORS, totp_issuer: 'Acme Corp (staging)', challenge_ttl_s: 300, enrollment_approval_ttl_s: 2 * 3_600 });
    expect(p.throttling).toEqual({ backoff_after: 3, backoff_base_s: 2, backoff_max_s: 3_600, lock_after: 50, ip_backoff_after: 40 });
  });

  it('compiles rules with what they read', () => {
    expect(p.rules.map((r) => [r.id, r.decision, r.report_only, [...r.reads].sort()])).toEqual([
      ['night_admin', 'require_mfa', false, ['time', 'user']],
      ['risky.score', 'deny', true, ['risk']],
      ['vip-attr', 'prompt_mfa', false, ['attributes']],
    ]);
    expect(p.rules[0]?.description).toBe('Admin work at night needs a fresh MFA.');
    expect(p.rules[1]?.description).toBeUndefined();
    expect(p.rules[1]?.when).toEqual({ '>=': [{ var: 'risk.score' }, 90] });
  });
});

describe('defaults and edge values', () => {
  it('fills every default for the smallest policy', () => {
    const p = parsePolicy('mfa_enforcement: {}\n', 'min.yaml');
    expect(p.enforcement.all_users).toBe(true);
    expect(p.enforcement.grace_period_s).toBe(0);
    expect(p.enforcement.exclude_service_accounts).toBe(false);
    expect(p.enforcement.risk_based_prompting).toEqual([]);
    expect(p.recovery).toEqual({ backup_codes: 10, admin_recovery: 'verify_with_id', recovery_timeout_s: 86_400 });
  });

  it('fills factors and throttling key by key', () => {
    const min = parsePolicy('mfa_enforcement: {}\n', 'min.yaml');
    expect(min.factors).toEqual(DEFAULT_FACTORS);
    expect(min.throttling).toEqual(DEFAULT_THROTTLING);
    const empty = parsePolicy('mfa_enforcement: {}\nfactors: {}\nthrottling: {}\n', 'x.yaml');
    expect(empty.factors).toEqual(DEFAULT_FACTORS);
    expect(empty.throttling).toEqual(DEFAULT_THROTTLING);
    const some = parsePolicy('mfa_enforcement: {}\nfactors: {challenge_ttl: 2m}\nthrottling: {lock_after: 10, backoff_max: 1s}\n', 'x.yaml');
    expect(some.factors).toEqual({ ...DEFAULT_FACTORS, challenge_ttl_s: 120 });
    expect(some.throttling).toEqual({ ...DEFAULT_THROTTLING, lock_after: 10, backoff_max_s: 1 });
  });

  it('accepts the bounds of factors and throttling', () => {
    const low = parsePolicy(
      'mfa_enforcement: {}\nfactors: {totp_issuer: x, challenge_ttl: 30s, enrollment_approval_ttl: 1m}\n' +
        'throttling: {backoff_after: 1, lock_after: 2, backoff_base: 1s, backoff_max: 1s, ip_backoff_after: 1}\n',
      'x.yaml',
    );
    expect(low.factors).toEqual({ ...DEFAULT_FACTORS, totp_issuer: 'x', challenge_ttl_s: 30, enrollment_approval_ttl_s: 60 });
    expect(low.throttling).toEqual({ backoff_after: 1, backoff_base_s: 1, backoff_max_s: 1, lock_after: 2, ip_backoff_after: 1 });
    const high = parsePolicy(
      'mfa_enforcement: {}\nfactors: {challenge_ttl: 24_hours, enrollment_approval_ttl: 7_days}\n' +
        'throttling: {backoff_after: 99, lock_after: 100, backoff_base: 1d, backoff_max: 86400s, ip_backoff_after: 10000}\n',
      'x.yaml',
    );
    expect(high.factors).toEqual({ ...DEFAULT_FACTORS, challenge_ttl_s: 86_400, enrollment_approval_ttl_s: 7 * 86_400 });
    expect(high.throttling).toEqual({ backoff_after: 99, backoff_base_s: 86_400, backoff_max_s: 86_400, lock_after: 100, ip_backoff_after: 10_000 });
  });

  it('compiles the out-of-band factors: durations in seconds, satisfies as a set, the lists each decision names', () => {
    const p = parsePolicy(
      [
        'mfa_enforcement: {}',
        'factors:',
        '  message:',
        '    enabled: true',
        '    code_ttl: 10_minutes',
        '    satisfies: [prompt_mfa, require_mfa]',
        '    max_sends: 5',
        '    send_window: 1h',
        '  push:',
        '    enabled: true',
        '    ttl: 30s',
        '    max_unanswered: 2',
        '    unanswered_window: 1_day',
      ].join('\n'),
      'x.yaml',
    );
    expect(p.factors.message).toEqual({ enabled: true, code_ttl_s: 600, satisfies: new Set(['prompt_mfa', 'require_mfa']), max_sends: 5, send_window_s: 3_600 });
    expect(p.factors.push).toEqual({ enabled: true, ttl_s: 30, max_unanswered: 2, unanswered_window_s: 86_400 });
    expect(p.factors.by_decision).toEqual({
      prompt_mfa: ['totp', 'backup_code', 'push', 'message'],
      require_mfa: ['totp', 'backup_code', 'push', 'message'],
    });
    expect(Object.isFrozen(p.factors.by_decision)).toBe(true);
    expect(Object.isFrozen(p.factors.by_decision.prompt_mfa)).toBe(true);
  });

  it('fills the out-of-band factors key by key, and keeps them off by default', () => {
    const some = parsePolicy('mfa_enforcement: {}\nfactors: {message: {enabled: true}, push: {ttl: 1m}}\n', 'x.yaml');
    expect(some.factors.message).toEqual({ ...DEFAULT_MESSAGE_FACTOR, enabled: true });
    expect(some.factors.push).toEqual({ ...DEFAULT_PUSH_FACTOR, ttl_s: 60 });
    expect(some.factors.by_decision).toEqual({ prompt_mfa: ['totp', 'backup_code', 'message'], require_mfa: ['totp', 'backup_code'] });
    const empty = parsePolicy('mfa_enforcement: {}\nfactors: {message: {}, push: {}}\n', 'x.yaml');
    expect(empty.factors).toEqual(DEFAULT_FACTORS);
    // A compiled set is the policy's own, never the shared default.
    expect(empty.factors.message.satisfies).not.toBe(DEFAULT_MESSAGE_FACTOR.satisfies);
  });

  it('compiles notifications, filling each audience by itself', () => {
    const all = new Set(NOTIFICATION_EVENTS);
    expect(parsePolicy('mfa_enforcement: {}\n', 'x.yaml').notifications).toEqual({ user: all, security_team: new Set() });
    expect(parsePolicy('mfa_enforcement: {}\nnotifications: {}\n', 'x.yaml').notifications).toEqual(DEFAULT_NOTIFICATIONS);
    const p = parsePolicy('mfa_enforcement: {}\nnotifications:\n  security_team: [factors_reset, recovery_opened]\n', 'x.yaml');
    expect(p.notifications).toEqual({ user: all, security_team: new Set(['factors_reset', 'recovery_opened']) });
    const quiet = parsePolicy('mfa_enforcement: {}\nnotifications: {user: [], security_team: [new_location_login]}\n', 'x.yaml');
    expect(quiet.notifications).toEqual({ user: new Set(), security_team: new Set(['new_location_login']) });
    expect(quiet.notifications.user).not.toBe(DEFAULT_NOTIFICATIONS.user);
  });

  it('keeps an explicitly empty list of sensitive actions empty', () => {
    expect(parsePolicy('mfa_enforcement: {}\nsensitive_actions: []\n', 'x.yaml').sensitive_actions).toEqual([]);
  });

  it('accepts the bounds of numbers', () => {
    const p = parsePolicy(
      'mfa_enforcement: {}\nrecovery: {backup_codes: 100}\nrisk:\n  weights: {new_device: -100, first_login: 100}\n  thresholds: {prompt_mfa: 0, require_mfa: 100}\n',
      'x.yaml',
    );
    expect(p.recovery.backup_codes).toBe(100);
    expect(p.risk.weights.new_device).toBe(-100);
    expect(p.risk.thresholds).toEqual({ prompt_mfa: 0, require_mfa: 100 });
  });

  it('takes one threshold alone', () => {
    expect(parsePolicy('mfa_enforcement: {}\nrisk: {thresholds: {require_mfa: 80}}\n', 'x.yaml').risk.thresholds).toEqual({ require_mfa: 80 });
  });

  it('stores the canonical time zone name', () => {
    expect(parsePolicy('mfa_enforcement: {}\ntime_zone: europe/berlin\n', 'x.yaml').time_zone).toBe('Europe/Berlin');
  });

  it('reads a file with a byte order mark and CRLF line ends', () => {
    const p = parsePolicy('\uFEFFmfa_enforcement:\r\n  grace_period: 1d\r\n', 'x.yaml');
    expect(p.enforcement.grace_period_s).toBe(86_400);
  });
});

describe('loadPolicy errors', () => {
  it('throws PolicyError for a missing file', () => {
    let err: unknown;
    try {
      loadPolicy(`${FIXTURES}/no-such-file.yaml`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).message).toBe(`${FIXTURES}/no-such-file.yaml:1:1 cannot read the policy file (ENOENT)`);
  });
});
