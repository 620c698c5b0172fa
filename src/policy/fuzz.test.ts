// Whatever text it is given, the loader answers with a policy or a PolicyError, never another exception.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PolicyError } from '../errors.js';
import { parsePolicy } from './index.js';

function outcome(text: string | Buffer): 'ok' | 'invalid' {
  try {
    parsePolicy(text, 'fuzz.yaml');
    return 'ok';
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    for (const p of e.problems) {
      expect(p.line).toBeGreaterThanOrEqual(1);
      expect(p.col).toBeGreaterThanOrEqual(1);
    }
    return 'invalid';
  }
}

const KEYS = [
  'mfa_enforcement', 'recovery', 'sensitive_actions', 'networks', 'countries', 'location', 'impossible_travel', 'risk',
  'rules', 'overrides', 'time_zone', 'all_users', 'users', 'groups', 'grace_period', 'risk_based_prompting', 'new_device',
  'trusted', 'blocked', 'weights', 'thresholds', 'prompt_mfa', 'id', 'when', 'decision', 'mode', 'var', 'and', 'missing',
  'missing_some', 'some', 'reduce', 'method', 'exclude', 'factors', 'throttling', 'totp_issuer', 'challenge_ttl',
  'backoff_after', 'backoff_base', 'backoff_max', 'lock_after',
];
const LEAVES = [null, true, false, 0, 1, -1, 1.5, 100, 101, '', 'x', '30_days', '3 weeks', '10.0.0.0/8', '10.0.0.1/8', '::1',
  'admin.*', 'POST /admin/*', 'user.id', 'attributes.a', 'UTC', 'Mars/Base', 'US', 'require_mfa', 'report_only', '1s', '2d', 'a:b'];

const policyish = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...LEAVES),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('node'), { maxKeys: 4 }),
  ),
})).node;

describe('parsePolicy on arbitrary input', () => {
  it('arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void outcome(s)), { numRuns: 1000 });
  });

  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => void outcome(Buffer.from(b))), { numRuns: 500 });
  });

  it('text made of YAML punctuation', () => {
    const chars = fc.constantFrom(...'abc:-[]{}\'"#&*!|>%@`,? \n\t0.'.split(''));
    fc.assert(fc.property(fc.array(chars, { maxLength: 120 }).map((c) => c.join('')), (s) => void outcome(s)), { numRuns: 1000 });
  });

  it('any JSON value as YAML', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void outcome(stringify(v))), { numRuns: 500 });
  });

  it('documents shaped like policies', () => {
    fc.assert(
      fc.property(policyish, fc.boolean(), (v, wrap) => {
        const doc = wrap ? { mfa_enforcement: {}, rules: [{ id: 'r', decision: 'allow', when: v }] } : { mfa_enforcement: {}, ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { x: v }) };
        outcome(stringify(doc));
      }),
      { numRuns: 1500 },
    );
  });
});
