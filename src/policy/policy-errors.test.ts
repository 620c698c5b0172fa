// Every kind of policy mistake, with the exact file:line:col, path and message it must produce.
import { describe, expect, it } from 'vitest';
import { formatProblem, PolicyError } from '../errors.js';
import { loadPolicy, parsePolicy } from './index.js';

const DIR = 'test/fixtures/policies';
const DURATION_HINT = '(use e.g. 30_days, 24_hours, 15_minutes, 90_seconds or 30d, 24h, 15m, 90s)';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    expect(e.message).toBe(e.problems.map(formatProblem).join('\n'));
    return e.problems.map(formatProblem);
  }
  throw new Error('expected a PolicyError');
}
const fromFile = (name: string): string[] => problems(() => loadPolicy(`${DIR}/${name}`));
const fromText = (text: string): string[] => problems(() => parsePolicy(text, 'p.yaml'));

describe('fixture files', () => {
  it('unknown key, with a suggestion, at the key', () => {
    expect(fromFile('bad-key.yaml')).toEqual([`${DIR}/bad-key.yaml:3:3 mfa_enforcement.grace_priod: unknown key (did you mean grace_period?)`]);
  });

  it('bad durations in every place', () => {
    const f = `${DIR}/bad-durations.yaml`;
    expect(fromFile('bad-durations.yaml')).toEqual([
      `${f}:2:17 mfa_enforcement.grace_period: invalid duration "3 weeks" ${DURATION_HINT}`,
      `${f}:3:17 mfa_enforcement.remember_mfa: invalid duration "30_fortnights" ${DURATION_HINT}`,
      `${f}:4:20 mfa_enforcement.step_up_max_age: invalid duration "1.5h" ${DURATION_HINT}`,
      `${f}:6:21 recovery.recovery_timeout: invalid duration "-1_days" ${DURATION_HINT}`,
      `${f}:9:19 overrides[0].grace_period: invalid duration 90 ${DURATION_HINT}`,
      `${f}:10:19 overrides[0].remember_mfa: invalid duration "12 hours" ${DURATION_HINT}`,
      `${f}:11:22 overrides[0].step_up_max_age: invalid duration "5min" ${DURATION_HINT}`,
    ]);
  });

  it('wrong types, bad enums, bad prompting entries, out of range numbers', () => {
    const f = `${DIR}/bad-types.yaml`;
    expect(fromFile('bad-types.yaml')).toEqual([
      `${f}:2:14 mfa_enforcement.all_users: expected true or false, got string "yes"`,
      `${f}:3:10 mfa_enforcement.users: expected a list, got string "alice"`,
      `${f}:4:24 mfa_enforcement.exclude_users[1]: expected a string, got number 42 (quote it if you mean the text: "42")`,
      `${f}:5:14 mfa_enforcement.fail_mode: must be one of allow, prompt_mfa, require_mfa, deny (got "block")`,
      `${f}:7:7 mfa_enforcement.risk_based_prompting[0].new_devise: unknown key (did you mean new_device?)`,
      `${f}:8:21 mfa_enforcement.risk_based_prompting[1].new_location: must be one of allow, prompt_mfa, require_mfa, deny (got "maybe")`,
      `${f}:9:7 mfa_enforcement.risk_based_prompting[2]: invalid risk_based_prompting entry (write one \`signal: decision\` pair per list item, e.g. \`- new_device: prompt_mfa\`)`,
      `${f}:12:17 recovery.backup_codes: must be >= 1 (got 0)`,
      `${f}:13:19 recovery.admin_recovery: must be one of verify_with_id, disabled (got "sms")`,
      `${f}:15:16 location.granularity: must be one of country, region, city (got "street")`,
      `${f}:17:18 impossible_travel.max_speed_kmh: must be > 0 (got 0)`,
    ]);
  });

  it('bad CIDRs and country codes', () => {
    const f = `${DIR}/bad-networks.yaml`;
    expect(fromFile('bad-networks.yaml')).toEqual([
      `${f}:5:7 networks.trusted[1]: invalid CIDR "10.0.0.1/8": host bits are set (did you mean 10.0.0.0/8?)`,
      `${f}:6:7 networks.trusted[2]: invalid CIDR "192.0.2.0/33": the prefix length must be 0..32 for IPv4`,
      `${f}:7:7 networks.trusted[3]: invalid CIDR "2001:db8::/129": the prefix length must be 0..128 for IPv6`,
      `${f}:8:7 networks.trusted[4]: invalid CIDR "not-an-ip": not an IPv4 or IPv6 address`,
      `${f}:9:29 networks.blocked[1]: invalid CIDR "fe80::1%eth0": zone ids (%) are not allowed`,
      `${f}:11:17 countries.blocked[1]: invalid country code "kp" (did you mean KP?)`,
      `${f}:11:21 countries.blocked[2]: invalid country code "UK" (use an ISO 3166-1 alpha-2 code in upper case, e.g. US, DE, GB)`,
    ]);
  });

  it('bad action patterns', () => {
    const f = `${DIR}/bad-actions.yaml`;
    expect(fromFile('bad-actions.yaml')).toEqual([
      `${f}:4:5 sensitive_actions[1]: invalid action pattern "admin.***": \`***\` is not a wildcard (use * within a segment or ** across segments)`,
      `${f}:5:5 sensitive_actions[2]: invalid action pattern "admin users": an action name may not contain whitespace; for a request write METHOD /path (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or *)`,
      `${f}:6:5 sensitive_actions[3]: invalid action pattern "get /admin": write the method in upper case: GET`,
      `${f}:7:5 sensitive_actions[4]: invalid action pattern "FETCH /admin": unknown HTTP method "FETCH" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or *)`,
      `${f}:8:5 sensitive_actions[5]: invalid action pattern "POST admin/*": the path must start with / and follow the method after one space`,
      `${f}:9:5 sensitive_actions[6]: invalid action pattern "admin[0]": character "[" is not allowed in an action name (letters, digits, _ . : - and the wildcards * ?)`,
    ]);
  });

  it('rules: operators, variables, ids, thresholds, time zone', () => {
    const f = `${DIR}/bad-rules.yaml`;
    const ops = '== === != !== > >= < <= !! ! % log in cat substr + * - / min max merge var missing missing_some if ?: and or map reduce filter all none some';
    expect(fromFile('bad-rules.yaml')).toEqual([
      `${f}:4:12 rules[0].when: unknown operator "regex" (allowed: ${ops})`,
      `${f}:6:9 rules[1].id: duplicate rule id "office" (first used by rules[0] on line 3)`,
      `${f}:9:24 rules[1].when.and[0]["=="][0].var: unknown variable "user.department" (user has: user.id, user.type, user.groups)`,
      `${f}:10:24 rules[1].when.and[1]["=="][0].var: a variable name must be a literal string, not computed by logic`,
      `${f}:12:9 rules[2].id: rule id "new_device" is reserved (it names a signal; reasons would be ambiguous)`,
      `${f}:13:12 rules[2].when: unknown operator "method" ("method" is disabled: it would call arbitrary methods) (allowed: ${ops})`,
      `${f}:15:9 rules[3].id: invalid rule id "Bad-Id" (use lower case letters, digits, _ . and -, starting with a letter)`,
      `${f}:16:11 rules[3].when: an object with 2 keys (==, !=) is not a json-logic operation; write one operator per object, e.g. {"and": [...]}`,
      `${f}:18:11 rules[3].mode: must be one of enforce, report_only (got "enforced"; did you mean enforce?)`,
      `${f}:20:28 risk.thresholds.prompt_mfa: prompt_mfa (70) must be below require_mfa (40)`,
      `${f}:21:12 time_zone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin?)`,
    ]);
  });

  it('factors and throttling: issuer, duration ranges, integer bounds, unknown keys', () => {
    const f = `${DIR}/bad-factors.yaml`;
    expect(fromFile('bad-factors.yaml')).toEqual([
      `${f}:3:16 factors.totp_issuer: invalid TOTP issuer "Acme: Corp" (use no ':' and no control characters, e.g. Acme Corp)`,
      `${f}:4:18 factors.challenge_ttl: must be between 30_seconds and 1_day (got "10s")`,
      `${f}:5:28 factors.enrollment_approval_ttl: must be between 1_minute and 7_days (got "30_days")`,
      `${f}:6:3 factors.issuer: unknown key (allowed: totp_issuer, challenge_ttl, enrollment_approval_ttl, message, push)`,
      `${f}:8:18 throttling.backoff_after: must be >= 1 (got 0)`,
      `${f}:9:17 throttling.backoff_base: must be between 1_second and 1_day (got "0s")`,
      `${f}:10:16 throttling.backoff_max: must be between 1_second and 1_day (got "2_days")`,
      `${f}:11:15 throttling.lock_after: must be <= 100 (got 101)`,
      `${f}:12:21 throttling.ip_backoff_after: expected an integer, got number 2.5`,
    ]);
  });

  it('throttling order: backoff_after below lock_after, backoff_base at most backoff_max', () => {
    const f = `${DIR}/bad-throttling.yaml`;
    expect(fromFile('bad-throttling.yaml')).toEqual([
      `${f}:3:16 factors.totp_issuer: must not be empty`,
      `${f}:4:18 factors.challenge_ttl: must be between 30_seconds and 1_day (got "25_hours")`,
      `${f}:6:18 throttling.backoff_after: backoff_after (50) must be below lock_after (50)`,
      `${f}:8:17 throttling.backoff_base: backoff_base (1_hours) must not exceed backoff_max (30m)`,
    ]);
  });

  it('YAML syntax error', () => {
    expect(fromFile('bad-syntax.yaml')).toEqual([
      `${DIR}/bad-syntax.yaml:4:1 invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ]);
  });

  it('duplicate key', () => {
    expect(fromFile('duplicate-key.yaml')).toEqual([`${DIR}/duplicate-key.yaml:4:3 mfa_enforcement.all_users: duplicate key (first defined on line 2)`]);
  });
});

describe('inline documents', () => {
  it('reports every problem of one file, schema and semantic, in document order', () => {
    const text = [
      'mfa_enforcement:', //                                 1
      '  grace_period: 30', //                               2
      '  fail_mode: requre_mfa', //                          3
      'rules:', //                                           4
      '  - id: a', //                                        5
      '    when: {"==": [{var: geo.county}, US]}', //        6
      '    decision: deny', //                               7
      '  - id: a', //                                        8
      '    when: {"!": {var: signals.new_device}}', //       9
      '    decision: allow', //                              10
      'time_zone: Nowhere/City', //                          11
      'networks: {trusted: [300.0.0.1]}', //                 12
    ].join('\n');
    expect(fromText(text)).toEqual([
      `p.yaml:2:17 mfa_enforcement.grace_period: invalid duration 30 ${DURATION_HINT}`,
      'p.yaml:3:14 mfa_enforcement.fail_mode: must be one of allow, prompt_mfa, require_mfa, deny (got "requre_mfa"; did you mean require_mfa?)',
      'p.yaml:6:25 rules[0].when["=="][0].var: unknown variable "geo.county" (did you mean geo.country?)',
      'p.yaml:8:9 rules[1].id: duplicate rule id "a" (first used by rules[0] on line 5)',
      'p.yaml:11:12 time_zone: unknown time zone "Nowhere/City" (use an IANA name such as UTC, Europe/Berlin or America/New_York)',
      'p.yaml:12:22 networks.trusted[0]: invalid CIDR "300.0.0.1": not an IPv4 or IPv6 address',
    ]);
  });

  it('a misspelt required key is one line, not two', () => {
    expect(fromText('mfa_enforcment:\n  all_users: true\n')).toEqual(['p.yaml:1:1 mfa_enforcment: unknown key (did you mean mfa_enforcement?)']);
  });

  it('a missing required key, at the enclosing mapping', () => {
    expect(fromText('# policy\nrecovery: {backup_codes: 5}\n')).toEqual(['p.yaml:2:1 missing required key "mfa_enforcement"']);
    expect(fromText('mfa_enforcement: {}\nrules:\n  - id: x\n    when: {"==": [1, 1]}\n')).toEqual([
      'p.yaml:3:5 rules[0]: missing required key "decision"',
    ]);
  });

  it('an unknown key without a close match lists the allowed ones', () => {
    expect(fromText('mfa_enforcement: {}\nlocation: {precision: city}\n')).toEqual([
      'p.yaml:2:12 location.precision: unknown key (allowed: granularity, unknown_location)',
    ]);
  });

  it('an override needs users or groups (one line for the anyOf)', () => {
    expect(fromText('mfa_enforcement: {}\noverrides:\n  - exclude: true\n')).toEqual([
      'p.yaml:3:5 overrides[0]: needs at least one of the keys "users", "groups"',
    ]);
    expect(fromText('mfa_enforcement: {}\noverrides:\n  - users: []\n')).toEqual(['p.yaml:3:12 overrides[0].users: must have at least 1 item']);
  });

  it('a reserved engine reason as rule id', () => {
    expect(fromText('mfa_enforcement: {}\nrules:\n  - {id: excluded, when: {"==": [1, 1]}, decision: allow}\n')).toEqual([
      'p.yaml:3:10 rules[0].id: rule id "excluded" is reserved (it names an engine reason; reasons would be ambiguous)',
    ]);
  });

  it('a rule condition that is not a mapping', () => {
    expect(fromText('mfa_enforcement: {}\nrules:\n  - {id: r, when: "user.id == 1", decision: allow}\n')).toEqual([
      'p.yaml:3:19 rules[0].when: expected a mapping, got string "user.id == 1"',
    ]);
  });

  it('an empty value points at its key', () => {
    expect(fromText('mfa_enforcement:\n  exclude_groups:\n')).toEqual(['p.yaml:2:3 mfa_enforcement.exclude_groups: expected a list, got nothing (an empty value)']);
    expect(fromText('mfa_enforcement:\n')).toEqual(['p.yaml:1:1 mfa_enforcement: expected a mapping, got nothing (an empty value)']);
  });

  it('documents that are not a mapping', () => {
    expect(fromText('')).toEqual(['p.yaml:1:1 the document is empty (expected a mapping)']);
    expect(fromText('# only a comment\n')).toEqual(['p.yaml:1:1 the document is empty (expected a mapping)']);
    expect(fromText('- a\n- b\n')).toEqual(['p.yaml:1:1 expected a mapping, got a list']);
    expect(fromText('just text')).toEqual(['p.yaml:1:1 expected a mapping, got string "just text"']);
  });

  it('YAML problems: several documents, tabs, an unknown alias, duplicate keys deep down', () => {
    expect(fromText('mfa_enforcement: {}\n---\nmfa_enforcement: {}\n')[0]).toMatch(/^p\.yaml:2:1 invalid YAML: Source contains multiple documents/);
    expect(fromText('mfa_enforcement:\n\tall_users: true\n')[0]).toMatch(/^p\.yaml:2:1 invalid YAML: /);
    expect(fromText('mfa_enforcement:\n  users: *nobody\n')).toEqual([
      'p.yaml:2:10 invalid YAML: Unresolved alias (the anchor must be set before the alias): nobody',
    ]);
    expect(fromText('mfa_enforcement: {}\noverrides:\n  - users: [a]\n    exclude: true\n    exclude: false\n')).toEqual([
      'p.yaml:5:5 overrides[0].exclude: duplicate key (first defined on line 4)',
    ]);
  });

  it('refuses alias bombs ("billion laughs")', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    expect(fromText(`mfa_enforcement: {}\nlol:\n  ${lines.join('\n  ')}\n`)).toEqual([
      'p.yaml:1:1 invalid YAML: Excessive alias count indicates a resource exhaustion attack',
    ]);
  });

  it('follows anchors and aliases', () => {
    const text = 'mfa_enforcement:\n  users: &u [alice]\n  exclude_users: *u\n  grace_period: &g 1x\n';
    expect(fromText(text)).toEqual([`p.yaml:4:20 mfa_enforcement.grace_period: invalid duration "1x" ${DURATION_HINT}`]);
    expect(parsePolicy('mfa_enforcement:\n  users: &u [alice]\n  exclude_users: *u\n', 'p.yaml').enforcement.exclude_users).toEqual(new Set(['alice']));
  });

  it('refuses absurd nesting before the parser can overflow', () => {
    expect(fromText(`mfa_enforcement: ${'['.repeat(300)}`)).toEqual([
      'p.yaml:1:218 nesting is too deep (more than 200 levels or 400 columns of indentation)',
    ]);
  });

  it('quotes a number given where text is expected', () => {
    expect(fromText('mfa_enforcement:\n  users: [1234]\n')).toEqual([
      'p.yaml:2:11 mfa_enforcement.users[0]: expected a string, got number 1234 (quote it if you mean the text: "1234")',
    ]);
  });

  it('a risk weight for an unknown signal and one out of range', () => {
    expect(fromText('mfa_enforcement: {}\nrisk:\n  weights:\n    new_devices: 10\n    first_login: 1.5\n')).toEqual([
      'p.yaml:4:5 risk.weights.new_devices: unknown key (did you mean new_device?)',
      'p.yaml:5:18 risk.weights.first_login: expected an integer, got number 1.5',
    ]);
  });

  it('a throttling setting that conflicts with a default points at the key that is written', () => {
    expect(fromText('mfa_enforcement: {}\nthrottling:\n  lock_after: 4\n  backoff_base: 20m\n')).toEqual([
      'p.yaml:3:15 throttling.lock_after: backoff_after (5, the default) must be below lock_after (4)',
      'p.yaml:4:17 throttling.backoff_base: backoff_base (20m) must not exceed backoff_max (15_minutes, the default)',
    ]);
    expect(fromText('mfa_enforcement: {}\nthrottling: {backoff_after: 100, backoff_max: 0_seconds}\n')).toEqual([
      'p.yaml:2:29 throttling.backoff_after: must be <= 99 (got 100)',
      'p.yaml:2:47 throttling.backoff_max: must be between 1_second and 1_day (got "0_seconds")',
    ]);
  });

  it('an out of range value is reported once, without an order error on top', () => {
    expect(fromText('mfa_enforcement: {}\nthrottling: {backoff_after: 150, backoff_base: 2_days}\n')).toEqual([
      'p.yaml:2:29 throttling.backoff_after: must be <= 99 (got 150)',
      'p.yaml:2:48 throttling.backoff_base: must be between 1_second and 1_day (got "2_days")',
    ]);
    expect(fromText('mfa_enforcement: {}\nthrottling: {lock_after: 1}\n')).toEqual(['p.yaml:2:26 throttling.lock_after: must be >= 2 (got 1)']);
  });

  it('a TOTP issuer: a string of 1..64 characters without a colon or control characters', () => {
    expect(fromText('mfa_enforcement: {}\nfactors: {totp_issuer: 1234}\n')).toEqual([
      'p.yaml:2:24 factors.totp_issuer: expected a string, got number 1234 (quote it if you mean the text: "1234")',
    ]);
    expect(fromText(`mfa_enforcement: {}\nfactors: {totp_issuer: ${'x'.repeat(65)}}\n`)).toEqual([
      'p.yaml:2:24 factors.totp_issuer: must be at most 64 characters',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors: {totp_issuer: "Acme\\tCorp"}\n')).toEqual([
      'p.yaml:2:24 factors.totp_issuer: invalid TOTP issuer "Acme\\tCorp" (use no \':\' and no control characters, e.g. Acme Corp)',
    ]);
    expect(parsePolicy(`mfa_enforcement: {}\nfactors: {totp_issuer: "${'é'.repeat(64)}"}\n`, 'p.yaml').factors.totp_issuer).toBe('é'.repeat(64));
  });

  it('out-of-band factors: lifetimes at most 10 minutes, windows above zero, counts in range', () => {
    const text = [
      'mfa_enforcement: {}', //                   1
      'factors:', //                              2
      '  message:', //                            3
      '    enabled: true', //                     4
      '    code_ttl: 11_minutes', //              5
      '    max_sends: 0', //                      6
      '    send_window: 0_seconds', //            7
      '  push:', //                               8
      '    ttl: 601s', //                         9
      '    max_unanswered: 101', //               10
      '    unanswered_window: 2_days', //         11
      '    enabled: yes', //                      12
    ].join('\n');
    expect(fromText(text)).toEqual([
      'p.yaml:5:15 factors.message.code_ttl: must be between 30_seconds and 10_minutes (got "11_minutes")',
      'p.yaml:6:16 factors.message.max_sends: must be >= 1 (got 0)',
      'p.yaml:7:18 factors.message.send_window: must be between 1_second and 1_day (got "0_seconds")',
      'p.yaml:9:10 factors.push.ttl: must be between 30_seconds and 10_minutes (got "601s")',
      'p.yaml:10:21 factors.push.max_unanswered: must be <= 100 (got 101)',
      'p.yaml:11:24 factors.push.unanswered_window: must be between 1_second and 1_day (got "2_days")',
      'p.yaml:12:14 factors.push.enabled: expected true or false, got string "yes"',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors: {message: {code_ttl: 20s}, push: {ttl: 10_seconds}}\n')).toEqual([
      'p.yaml:2:31 factors.message.code_ttl: must be between 30_seconds and 10_minutes (got "20s")',
      'p.yaml:2:49 factors.push.ttl: must be between 30_seconds and 10_minutes (got "10_seconds")',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors: {message: {code_ttl: 5 minutes}}\n')).toEqual([
      `p.yaml:2:31 factors.message.code_ttl: invalid duration "5 minutes" ${DURATION_HINT}`,
    ]);
  });

  it('out-of-band factors: satisfies names prompt_mfa and require_mfa only, at least one, each once', () => {
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message:\n    satisfies: [allow]\n')).toEqual([
      'p.yaml:4:17 factors.message.satisfies[0]: must be one of prompt_mfa, require_mfa (got "allow")',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message:\n    satisfies: [prompt_mfa, deny, require_mfs]\n')).toEqual([
      'p.yaml:4:29 factors.message.satisfies[1]: must be one of prompt_mfa, require_mfa (got "deny")',
      'p.yaml:4:35 factors.message.satisfies[2]: must be one of prompt_mfa, require_mfa (got "require_mfs"; did you mean require_mfa?)',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message:\n    satisfies: []\n')).toEqual([
      'p.yaml:4:16 factors.message.satisfies: must have at least 1 item',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message:\n    satisfies: [prompt_mfa, require_mfa, prompt_mfa]\n')).toEqual([
      'p.yaml:4:42 factors.message.satisfies[2]: duplicate of item 0',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message:\n    satisfies: [require_mfa]\n')).toEqual([
      'p.yaml:4:16 factors.message.satisfies: a factor that satisfies require_mfa also satisfies the weaker prompt_mfa: write [prompt_mfa, require_mfa]',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message:\n    satisfies: prompt_mfa\n')).toEqual([
      'p.yaml:4:16 factors.message.satisfies: expected a list, got string "prompt_mfa"',
    ]);
  });

  it('out-of-band factors and notifications: unknown keys with a suggestion', () => {
    expect(fromText('mfa_enforcement: {}\nfactors:\n  mesage: {enabled: true}\n  push: {enabeld: true, tll: 1m}\n')).toEqual([
      'p.yaml:3:3 factors.mesage: unknown key (did you mean message?)',
      'p.yaml:4:10 factors.push.enabeld: unknown key (did you mean enabled?)',
      'p.yaml:4:25 factors.push.tll: unknown key (did you mean ttl?)',
    ]);
    expect(fromText('mfa_enforcement: {}\nfactors:\n  message: {max_send: 5, window: 1h}\n')).toEqual([
      'p.yaml:3:13 factors.message.max_send: unknown key (did you mean max_sends?)',
      'p.yaml:3:26 factors.message.window: unknown key (allowed: enabled, code_ttl, satisfies, max_sends, send_window)',
    ]);
    expect(fromText('mfa_enforcement: {}\nnotification:\n  user: []\n')).toEqual([
      'p.yaml:2:1 notification: unknown key (did you mean notifications?)',
    ]);
    expect(fromText('mfa_enforcement: {}\nnotifications:\n  security: [factors_reset]\n')).toEqual([
      'p.yaml:3:3 notifications.security: unknown key (allowed: user, security_team)',
    ]);
  });

  it('notifications: known event names (with a suggestion), each once', () => {
    expect(fromText('mfa_enforcement: {}\nnotifications:\n  user: [factor_enroled, new_login]\n  security_team: [factors_reset, factors_reset]\n')).toEqual([
      'p.yaml:3:10 notifications.user[0]: must be one of factor_enrolled, factor_removed, factors_reset, backup_codes_low, recovery_opened, new_device_login, new_location_login (got "factor_enroled"; did you mean factor_enrolled?)',
      'p.yaml:3:26 notifications.user[1]: must be one of factor_enrolled, factor_removed, factors_reset, backup_codes_low, recovery_opened, new_device_login, new_location_login (got "new_login")',
      'p.yaml:4:34 notifications.security_team[1]: duplicate of item 0',
    ]);
    expect(fromText('mfa_enforcement: {}\nnotifications: {user: factor_enrolled}\n')).toEqual([
      'p.yaml:2:23 notifications.user: expected a list, got string "factor_enrolled"',
    ]);
  });

  it('countries.allowed must not be empty', () => {
    expect(fromText('mfa_enforcement: {}\ncountries: {allowed: []}\n')).toEqual(['p.yaml:2:22 countries.allowed: must have at least 1 item']);
  });
});
