import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOOLEAN_SIGNALS,
  EMPTY_STATE,
  type EvaluationInput,
  type LoginContext,
  type SignalFacts,
  type Signals,
  type UserState,
} from '../types.js';
import { evaluate, evaluateStoreUnavailable, localTime, riskScore } from './evaluate.js';
import { loadPolicy, parsePolicy } from './index.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const HOUR = 3600_000;

const seed = loadPolicy('policies/default.yaml');

function signals(over: Partial<Signals> = {}): Signals {
  return {
    new_device: false,
    new_location: false,
    impossible_travel: false,
    sensitive_action: false,
    trusted_network: false,
    blocked_network: false,
    blocked_country: false,
    first_login: false,
    failed_attempts: 0,
    mfa_age_seconds: null,
    ...over,
  };
}

const facts: SignalFacts = {
  device_key: 'laptop',
  device: { browser: 'Chrome', os: 'Windows', type: 'desktop' },
  location_key: 'GB',
  location_key_full: 'GB/ENG/St Albans',
  geo: { country: 'GB', region: 'ENG', city: 'St Albans', lat: 51.75, lon: -0.33 },
  travel: null,
  sensitive_match: null,
  trusted_match: null,
  blocked_match: null,
};

const enrolled: UserState = { ...EMPTY_STATE, enrolled: true, enrolled_at: NOW - 100 * 24 * HOUR, first_seen: NOW - 200 * 24 * HOUR };

function input(s: Partial<Signals> = {}, state: UserState = enrolled, user: Partial<LoginContext['user']> = {}, extra: Partial<LoginContext> = {}): EvaluationInput {
  return {
    context: { user: { id: 'alice', type: 'human', groups: [], ...user }, ip: '81.2.69.142', user_agent: 'ua', ...extra },
    state,
    signals: signals(s),
    facts,
  };
}

const rules = (d: ReturnType<typeof evaluate>) => d.reasons.map((r) => r.rule);

describe('evaluate: the decision table', () => {
  it('allows an enrolled user when no rule matched', () => {
    const d = evaluate(seed, input(), NOW);
    expect(d.decision).toBe('allow');
    expect(d.reasons).toEqual([]);
    expect(d.policy.version).toBe(seed.version);
    expect(d.enrollment).toEqual({ enrolled: true, allowed_now: true });
  });

  it('prompts on a new device and names the signal', () => {
    const d = evaluate(seed, input({ new_device: true }), NOW);
    expect(d.decision).toBe('prompt_mfa');
    expect(d.reasons).toEqual([expect.objectContaining({ rule: 'new_device', decision: 'prompt_mfa', enforced: true })]);
  });

  it('lets the strongest matched rule win and lists every matched rule', () => {
    const d = evaluate(seed, input({ new_device: true, new_location: true, sensitive_action: true }), NOW);
    expect(d.decision).toBe('require_mfa');
    expect(rules(d)).toEqual(['new_device', 'new_location', 'sensitive_action']);
  });

  it('excludes service accounts', () => {
    const d = evaluate(seed, input({ new_device: true, sensitive_action: true }, EMPTY_STATE, { type: 'service' }), NOW);
    expect(d.decision).toBe('allow');
    expect(rules(d)).toEqual(['excluded']);
  });

  it('satisfies a prompt with MFA on this device within remember_mfa, and not one second later', () => {
    const limit = seed.enforcement.remember_mfa_s;
    expect(limit).toBe(12 * 3600);
    const at = evaluate(seed, input({ new_location: true, mfa_age_seconds: limit }), NOW);
    expect(at.decision).toBe('allow');
    expect(rules(at)).toEqual(['new_location', 'satisfied_by_recent_mfa']);
    expect(evaluate(seed, input({ new_location: true, mfa_age_seconds: limit + 1 }), NOW).decision).toBe('prompt_mfa');
  });

  it('satisfies a step-up only within step_up_max_age', () => {
    const limit = seed.enforcement.step_up_max_age_s;
    expect(limit).toBe(300);
    expect(evaluate(seed, input({ sensitive_action: true, mfa_age_seconds: limit }), NOW).decision).toBe('allow');
    expect(evaluate(seed, input({ sensitive_action: true, mfa_age_seconds: limit + 1 }), NOW).decision).toBe('require_mfa');
    expect(evaluate(seed, input({ sensitive_action: true, mfa_age_seconds: null }), NOW).decision).toBe('require_mfa');
  });

  describe('enrollment and the grace period', () => {
    const notEnrolled = (firstSeenDaysAgo: number): UserState => ({ ...EMPTY_STATE, first_seen: NOW - firstSeenDaysAgo * 24 * HOUR });

    it('lowers a prompt to allow inside the grace period and says until when', () => {
      const d = evaluate(seed, input({ new_device: true }, notEnrolled(10)), NOW);
      expect(d.decision).toBe('allow');
      expect(rules(d)).toEqual(['new_device', 'grace_period']);
      expect(d.enrollment.required_by).toBe(new Date(NOW + 20 * 24 * HOUR).toISOString());
      expect(d.enrollment.enrolled).toBe(false);
    });

    it('keeps a step-up inside the grace period', () => {
      expect(evaluate(seed, input({ sensitive_action: true }, notEnrolled(10)), NOW).decision).toBe('require_mfa');
    });

    it('requires enrollment once the grace period is over (the boundary belongs to "over")', () => {
      const atEnd = evaluate(seed, input({}, notEnrolled(30)), NOW);
      expect(atEnd.decision).toBe('require_mfa');
      expect(rules(atEnd)).toEqual(['enrollment_required']);
      const justBefore: UserState = { ...EMPTY_STATE, first_seen: NOW - 30 * 24 * HOUR + 1 };
      expect(evaluate(seed, input({ new_device: true }, justBefore), NOW).decision).toBe('allow');
    });

    it('starts the grace period at mfa_required_since, else first sight, else now', () => {
      const since = new Date(NOW - 40 * 24 * HOUR).toISOString();
      expect(evaluate(seed, input({}, notEnrolled(1), { mfa_required_since: since }), NOW).decision).toBe('require_mfa');
      const fresh = evaluate(seed, input({ new_device: true }, EMPTY_STATE), NOW);
      expect(fresh.decision).toBe('allow');
      expect(fresh.enrollment.required_by).toBe(new Date(NOW + 30 * 24 * HOUR).toISOString());
    });

    it('requires enrollment from the enrollment deadline a recovery set, whatever the grace period', () => {
      const recovered: UserState = { ...notEnrolled(1), enrollment_deadline: NOW - 1000 };
      const d = evaluate(seed, input({ new_device: true }, recovered), NOW);
      expect(d.decision).toBe('require_mfa');
      expect(rules(d)).toEqual(['new_device', 'enrollment_required']);
      expect(d.enrollment.required_by).toBe(new Date(NOW - 1000).toISOString());
      const future: UserState = { ...notEnrolled(1), enrollment_deadline: NOW + 1000 };
      expect(evaluate(seed, input({ new_device: true }, future), NOW).decision).toBe('allow');
    });

    it('does not let a recent MFA satisfy anything for a user who is not enrolled', () => {
      const d = evaluate(seed, input({ sensitive_action: true, mfa_age_seconds: 1 }, notEnrolled(1)), NOW);
      expect(d.decision).toBe('require_mfa');
    });

    it('forbids a first enrollment from a risky context when the user has history', () => {
      for (const s of ['new_device', 'new_location', 'impossible_travel', 'blocked_network'] as const) {
        expect(evaluate(seed, input({ [s]: true }, notEnrolled(1)), NOW).enrollment.allowed_now).toBe(false);
      }
      expect(evaluate(seed, input({ new_device: true, first_login: true }, notEnrolled(0)), NOW).enrollment.allowed_now).toBe(true);
      expect(evaluate(seed, input({ sensitive_action: true }, notEnrolled(1)), NOW).enrollment.allowed_now).toBe(true);
    });
  });

  it('answers the fail mode with store_unavailable when the store cannot be read', () => {
    const d = evaluateStoreUnavailable(seed, signals(), 'connection refused');
    expect(d.decision).toBe('require_mfa');
    expect(d.reasons).toEqual([{ rule: 'store_unavailable', decision: 'require_mfa', enforced: true, detail: 'connection refused' }]);
    const open = parsePolicy(`mfa_enforcement:\n  fail_mode: allow\n`, 'open.yaml');
    expect(evaluateStoreUnavailable(open, signals(), 'x').decision).toBe('allow');
  });
});

describe('evaluate: the factors a decision lists', () => {
  const oob = (factors: string): ReturnType<typeof parsePolicy> =>
    parsePolicy(`mfa_enforcement:\n  risk_based_prompting: [{new_device: prompt_mfa}, {sensitive_action: require_mfa}]\nfactors:\n${factors}`, 'oob.yaml');
  const prompt = input({ new_device: true });
  const require = input({ sensitive_action: true });
  const none = input();
  const deny = input({ blocked_network: true });

  it('lists TOTP and backup codes for prompt_mfa and require_mfa, and nothing for allow or deny', () => {
    expect(evaluate(seed, prompt, NOW).factors).toEqual(['totp', 'backup_code']);
    expect(evaluate(seed, require, NOW).factors).toEqual(['totp', 'backup_code']);
    const allow = evaluate(seed, none, NOW);
    expect(allow.decision).toBe('allow');
    expect(allow).not.toHaveProperty('factors');
    const denied = evaluate(seed, deny, NOW);
    expect(denied.decision).toBe('deny');
    expect(denied).not.toHaveProperty('factors');
  });

  it('lists message for prompt_mfa only by default (NIST SP 800-63B 5.1.3.3: a restricted authenticator)', () => {
    const p = oob('  message: {enabled: true}\n');
    expect(evaluate(p, prompt, NOW).factors).toEqual(['totp', 'backup_code', 'message']);
    expect(evaluate(p, require, NOW).factors).toEqual(['totp', 'backup_code']);
  });

  it('lists message for require_mfa when satisfies names it, and never when message is disabled', () => {
    const p = oob('  message: {enabled: true, satisfies: [prompt_mfa, require_mfa]}\n');
    expect(evaluate(p, prompt, NOW).factors).toEqual(['totp', 'backup_code', 'message']);
    expect(evaluate(p, require, NOW).factors).toEqual(['totp', 'backup_code', 'message']);
    const off = oob('  message: {enabled: false, satisfies: [prompt_mfa, require_mfa]}\n');
    expect(evaluate(off, prompt, NOW).factors).toEqual(['totp', 'backup_code']);
    expect(evaluate(off, require, NOW).factors).toEqual(['totp', 'backup_code']);
  });

  it('lists push for both decisions when enabled, before message', () => {
    const p = oob('  push: {enabled: true}\n  message: {enabled: true}\n');
    expect(evaluate(p, prompt, NOW).factors).toEqual(['totp', 'backup_code', 'push', 'message']);
    expect(evaluate(p, require, NOW).factors).toEqual(['totp', 'backup_code', 'push']);
    expect(evaluate(p, none, NOW)).not.toHaveProperty('factors');
    expect(evaluate(p, deny, NOW)).not.toHaveProperty('factors');
  });

  it('lists the factors of the final decision: a prompt lowered to allow lists none, an enrollment requirement lists them', () => {
    const p = oob('  push: {enabled: true}\n');
    const remembered = evaluate(p, input({ new_device: true, mfa_age_seconds: 60 }), NOW);
    expect(remembered.decision).toBe('allow');
    expect(remembered).not.toHaveProperty('factors');
    const grace = evaluate(p, input({ new_device: true }, { ...EMPTY_STATE, first_seen: NOW }), NOW);
    expect(grace.decision).toBe('require_mfa'); // grace_period is 0 here: enrollment required at once
    expect(grace.factors).toEqual(['totp', 'backup_code', 'push']);
  });

  it('hands out the frozen lists compiled once: no allocation per decision', () => {
    const p = oob('  push: {enabled: true}\n  message: {enabled: true}\n');
    const a = evaluate(p, prompt, NOW).factors;
    expect(a).toBe(p.factors.by_decision.prompt_mfa);
    expect(evaluate(p, prompt, NOW).factors).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(evaluate(p, require, NOW).factors).toBe(p.factors.by_decision.require_mfa);
    // Policies with the same factors share the same lists.
    expect(oob('  push: {enabled: true}\n').factors.by_decision.require_mfa).toBe(p.factors.by_decision.require_mfa);
  });

  it('lists them for the fail mode when it prompts or requires, and not when it allows', () => {
    const p = parsePolicy('mfa_enforcement: {fail_mode: prompt_mfa}\nfactors: {message: {enabled: true}}\n', 'f.yaml');
    expect(evaluateStoreUnavailable(p, signals(), 'x').factors).toEqual(['totp', 'backup_code', 'message']);
    expect(evaluateStoreUnavailable(seed, signals(), 'x').factors).toEqual(['totp', 'backup_code']);
    const open = parsePolicy('mfa_enforcement: {fail_mode: allow}\n', 'open.yaml');
    expect(evaluateStoreUnavailable(open, signals(), 'x')).not.toHaveProperty('factors');
    const closed = parsePolicy('mfa_enforcement: {fail_mode: deny}\n', 'closed.yaml');
    expect(evaluateStoreUnavailable(closed, signals(), 'x')).not.toHaveProperty('factors');
  });

  it('puts factors after policy, on every path (one key order for the serialisers)', () => {
    for (const d of [evaluate(seed, prompt, NOW), evaluate(seed, require, NOW), evaluateStoreUnavailable(seed, signals(), 'x')]) {
      expect(Object.keys(d).slice(-2)).toEqual(['policy', 'factors']);
    }
  });
});

describe('evaluate: extensions', () => {
  const policy = parsePolicy(
    `mfa_enforcement:
  all_users: false
  groups: [finance]
  exclude_groups: [robots]
  risk_based_prompting:
    - new_device: prompt_mfa
networks:
  blocked: [198.51.100.0/24]
countries:
  blocked: [KP]
risk:
  weights: { new_device: 30, failed_attempts: 15 }
  thresholds: { prompt_mfa: 30, require_mfa: 60 }
rules:
  - id: weekend_admin
    when: { and: [ { in: [admins, { var: user.groups }] }, { in: [{ var: time.weekday }, [0, 6]] } ] }
    decision: require_mfa
  - id: risky_contractor
    when: { "==": [{ var: attributes.kind }, contractor] }
    decision: deny
    mode: report_only
  - id: tor
    when: { "==": [{ var: attributes.tor }, true] }
    decision: deny
overrides:
  - groups: [admins]
    exclude: false
    remember_mfa: 1h
time_zone: Asia/Tokyo
`,
    'ext.yaml',
  );

  it('does not target users outside the listed groups, but still applies deny rules to them', () => {
    const d = evaluate(policy, input({ new_device: true }, enrolled, { groups: ['sales'] }), NOW);
    expect(d.decision).toBe('allow');
    expect(rules(d)).toEqual(['not_targeted']);
    const blocked = evaluate(policy, input({ blocked_network: true }, enrolled, { groups: ['sales'] }), NOW);
    expect(blocked.decision).toBe('deny');
    const excludedTor = evaluate(policy, input({}, enrolled, { groups: ['robots'] }, { attributes: { tor: true } }), NOW);
    expect(excludedTor.decision).toBe('deny');
    expect(rules(excludedTor)).toEqual(['tor']);
  });

  it('targets a group through an override with exclude: false', () => {
    expect(evaluate(policy, input({ new_device: true }, enrolled, { groups: ['admins'] }), NOW).decision).toBe('prompt_mfa');
  });

  it('applies an override of remember_mfa to its group only', () => {
    const s = { new_device: true, mfa_age_seconds: 2 * 3600 };
    expect(evaluate(policy, input(s, enrolled, { groups: ['admins'] }), NOW).decision).toBe('prompt_mfa');
    expect(evaluate(policy, input(s, enrolled, { groups: ['finance'] }), NOW).decision).toBe('allow');
  });

  it('denies a blocked network or country without a rule naming them', () => {
    const n = evaluate(policy, input({ blocked_network: true }, enrolled, { groups: ['finance'] }), NOW);
    expect(n.decision).toBe('deny');
    expect(rules(n)).toContain('blocked_network');
    const c = evaluate(policy, input({ blocked_country: true }, enrolled, { groups: ['finance'] }), NOW);
    expect(c.decision).toBe('deny');
  });

  it('maps the risk score to decisions at the thresholds', () => {
    const fin = { groups: ['finance'] };
    const noRules = parsePolicy('mfa_enforcement: {}\nrisk:\n  weights: { failed_attempts: 15 }\n  thresholds: { prompt_mfa: 30, require_mfa: 60 }\n', 'r.yaml');
    expect(evaluate(noRules, input({ failed_attempts: 1 }, enrolled, fin), NOW).decision).toBe('allow');
    const two = evaluate(noRules, input({ failed_attempts: 2 }, enrolled, fin), NOW);
    expect(two.decision).toBe('prompt_mfa');
    expect(two.risk.score).toBe(30);
    expect(rules(two)).toEqual(['risk_score']);
    expect(evaluate(noRules, input({ failed_attempts: 4 }, enrolled, fin), NOW).decision).toBe('require_mfa');
    expect(evaluate(noRules, input({ failed_attempts: 400 }, enrolled, fin), NOW).risk.score).toBe(100);
  });

  it('evaluates json-logic rules in the policy time zone', () => {
    // 2026-06-06 is a Saturday; at 20:00 UTC it is already Sunday 05:00 in Tokyo.
    const sat = Date.parse('2026-06-06T10:00:00Z');
    const admin = { groups: ['admins'] };
    expect(rules(evaluate(policy, input({}, enrolled, admin), sat))).toContain('weekend_admin');
    expect(rules(evaluate(policy, input({}, enrolled, admin), Date.parse('2026-06-05T14:59:59Z')))).not.toContain('weekend_admin');
    expect(rules(evaluate(policy, input({}, enrolled, admin), Date.parse('2026-06-05T15:00:00Z')))).toContain('weekend_admin');
  });

  it('lists report-only rules as not enforced and never lets them decide', () => {
    const d = evaluate(policy, input({}, enrolled, { groups: ['finance'] }, { attributes: { kind: 'contractor' } }), NOW);
    expect(d.decision).toBe('allow');
    expect(d.reasons).toEqual([expect.objectContaining({ rule: 'risky_contractor', decision: 'deny', enforced: false })]);
  });
});

describe('localTime', () => {
  it('gives hour and weekday in a zone, across a date line and a DST change', () => {
    expect(localTime(Date.parse('2026-06-06T20:00:00Z'), 'Asia/Tokyo')).toEqual({ hour: 5, weekday: 0 });
    expect(localTime(Date.parse('2026-03-29T00:30:00Z'), 'Europe/Berlin')).toEqual({ hour: 1, weekday: 0 });
    expect(localTime(Date.parse('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toEqual({ hour: 3, weekday: 0 });
    expect(localTime(Date.parse('2026-06-01T23:00:00Z'), 'UTC')).toEqual({ hour: 23, weekday: 1 });
  });
});

describe('evaluate: properties', () => {
  const arbSignals = fc.record({
    new_device: fc.boolean(),
    new_location: fc.boolean(),
    impossible_travel: fc.boolean(),
    sensitive_action: fc.boolean(),
    trusted_network: fc.boolean(),
    blocked_network: fc.boolean(),
    blocked_country: fc.boolean(),
    first_login: fc.boolean(),
    failed_attempts: fc.nat(1000),
    mfa_age_seconds: fc.option(fc.nat(10 ** 8), { nil: null }),
  });
  const arbTime = fc.integer({ min: 0, max: 4_102_444_800_000 });
  const arbState = fc.record({
    enrolled: fc.boolean(),
    enrolled_at: fc.option(arbTime, { nil: null }),
    first_seen: fc.option(arbTime, { nil: null }),
    known_devices: fc.array(fc.string(), { maxLength: 5 }),
    known_locations: fc.array(fc.string(), { maxLength: 5 }),
    last_login: fc.option(fc.record({ time: arbTime, ip: fc.option(fc.string(), { nil: null }) }), { nil: null }),
    last_mfa: fc.option(fc.record({ time: arbTime, device: fc.string() }), { nil: null }),
    failed_attempts: fc.nat(1000),
    enrollment_deadline: fc.option(arbTime, { nil: null }),
    recovery_due_at: fc.option(arbTime, { nil: null }),
  });
  const arbInput = fc.record({
    signals: arbSignals,
    state: arbState,
    user: fc.record({
      id: fc.string({ minLength: 1 }),
      type: fc.constantFrom('human' as const, 'service' as const),
      groups: fc.array(fc.constantFrom('admins', 'finance', 'robots', 'sales', ''), { maxLength: 4 }),
      mfa_required_since: fc.option(fc.string(), { nil: undefined }),
    }),
    attributes: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
    action: fc.option(fc.string(), { nil: undefined }),
  });
  const policies = [seed, parsePolicy(`mfa_enforcement:
  all_users: false
  groups: [finance]
  exclude_groups: [robots]
  risk_based_prompting: [ { new_device: prompt_mfa }, { impossible_travel: require_mfa } ]
risk: { thresholds: { prompt_mfa: 20, require_mfa: 50 } }
rules:
  - id: r1
    when: { and: [ { in: [admins, { var: user.groups }] }, { ">": [{ var: attributes.n }, 3] }, { "<": [{ var: time.hour }, 7] } ] }
    decision: require_mfa
  - id: r2
    when: { some: [ { var: user.groups }, { "==": [{ var: "" }, sales] } ] }
    decision: deny
    mode: report_only
overrides: [ { groups: [admins], exclude: false, step_up_max_age: 1m } ]
time_zone: America/New_York
`, 'p.yaml')];

  it('never throws on any well-formed input and always answers a known decision', () => {
    fc.assert(
      fc.property(fc.constantFrom(...policies), arbInput, arbTime, (policy, i, now) => {
        const inp: EvaluationInput = {
          context: { user: i.user, ip: null, user_agent: '', ...(i.attributes ? { attributes: i.attributes } : {}), ...(i.action ? { action: i.action } : {}) },
          state: i.state,
          signals: i.signals,
          facts,
        };
        const d = evaluate(policy, inp, now);
        expect(['allow', 'prompt_mfa', 'require_mfa', 'deny']).toContain(d.decision);
        if (d.decision === 'prompt_mfa' || d.decision === 'require_mfa') expect(d.factors).toBe(policy.factors.by_decision[d.decision]);
        else expect(d).not.toHaveProperty('factors');
        expect(d.risk.score).toBeGreaterThanOrEqual(0);
        expect(d.risk.score).toBeLessThanOrEqual(100);
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic: the same input and time give the same answer', () => {
    fc.assert(
      fc.property(fc.constantFrom(...policies), arbInput, arbTime, (policy, i, now) => {
        const inp: EvaluationInput = { context: { user: i.user, ip: null, user_agent: '' }, state: i.state, signals: i.signals, facts };
        expect(evaluate(policy, structuredClone(inp), now)).toEqual(evaluate(policy, structuredClone(inp), now));
      }),
      { numRuns: 300 },
    );
  });

  it('scores by the weights, clamped to 0..100', () => {
    fc.assert(
      fc.property(arbSignals, (s) => {
        let expected = 0;
        for (const k of BOOLEAN_SIGNALS) if (s[k]) expected += seed.risk.weights[k];
        expected += seed.risk.weights.failed_attempts * Math.min(s.failed_attempts, 10);
        expect(riskScore(seed, s)).toBe(Math.max(0, Math.min(100, expected)));
      }),
    );
  });
});

describe('localTime cache', () => {
  it('agrees with Intl at every quarter-hour step across DST changes and odd offsets', () => {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Asia/Kolkata']) {
      const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23', weekday: 'short' });
      // Through both 2026 transitions in the northern and southern hemispheres, in 7.5-minute steps.
      for (const [from, to] of [['2026-03-07T00:00:00Z', '2026-04-06T00:00:00Z'], ['2026-10-03T00:00:00Z', '2026-11-02T00:00:00Z']] as const) {
        for (let t = Date.parse(from); t < Date.parse(to); t += 450_000) {
          const parts = f.formatToParts(t);
          const hour = Number(parts.find((p) => p.type === 'hour')?.value);
          const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.find((p) => p.type === 'weekday')?.value ?? '');
          expect(localTime(t, zone)).toEqual({ hour, weekday });
        }
      }
    }
  });
});
