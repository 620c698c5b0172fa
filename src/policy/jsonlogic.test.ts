import jsonLogic from 'json-logic-js';
import { describe, expect, it } from 'vitest';
import { checkJsonLogic, CONTEXT_VARIABLES, JSONLOGIC_OPERATORS } from './jsonlogic.js';

const messages = (when: unknown): string[] => checkJsonLogic(when).problems.map((p) => p.message);

describe('checkJsonLogic', () => {
  it('accepts every documented variable and reports the roots read', () => {
    for (const name of CONTEXT_VARIABLES) expect(messages({ var: name })).toEqual([]);
    const r = checkJsonLogic({
      and: [
        { in: ['admins', { var: 'user.groups' }] },
        { '==': [{ var: ['geo.country', 'ZZ'] }, 'US'] },
        { '>=': [{ var: 'time.hour' }, 22] },
        { '!!': { var: 'signals.new_device' } },
        { missing: ['attributes.ticket', 'device.os'] },
        { missing_some: [1, ['ip', 'action']] },
        { '>': [{ var: 'risk.score' }, 50] },
      ],
    });
    expect(r.problems).toEqual([]);
    expect([...r.reads].sort()).toEqual(['action', 'attributes', 'device', 'geo', 'ip', 'risk', 'signals', 'time', 'user']);
  });

  it('accepts anything under attributes. but not prototype walks', () => {
    expect(messages({ var: 'attributes.a.b.c' })).toEqual([]);
    expect(messages({ var: 'attributes.__proto__' })).toEqual(['variable "attributes.__proto__" may not use "__proto__"']);
    expect(messages({ var: 'attributes.a..b' })).toEqual(['variable "attributes.a..b" has an empty path segment']);
  });

  it('rejects variables outside the context, suggesting the closest', () => {
    expect(messages({ var: 'user.idd' })).toEqual(['unknown variable "user.idd" (did you mean user.id?)']);
    expect(messages({ var: 'user.department' })).toEqual(['unknown variable "user.department" (user has: user.id, user.type, user.groups)']);
    expect(messages({ var: 'password' })[0]).toMatch(/^unknown variable "password" \(rules can read: user\.\*/);
    expect(messages({ var: 'signals.new_devic' })).toEqual(['unknown variable "signals.new_devic" (did you mean signals.new_device?)']);
    expect(messages({ var: 'signals.mfa_age' })[0]).toMatch(/^unknown variable "signals.mfa_age" \(signals has: signals.new_device, .*signals.mfa_age_seconds\)$/);
    expect(messages({ var: 'user.groups.0' })[0]).toMatch(/^unknown variable "user.groups.0"/);
    expect(messages({ missing: ['user.id', 'secret'] })[0]).toMatch(/^unknown variable "secret"/);
    expect(messages({ missing: [['user.id', 'secret']] })[0]).toMatch(/^unknown variable "secret"/);
    expect(messages({ missing_some: [1, ['ip', 'nope']] })[0]).toMatch(/^unknown variable "nope"/);
  });

  it('rejects a var without a name and dynamic names', () => {
    expect(messages({ var: '' })).toEqual(['var must name a context variable such as "user.id" (got the whole context)']);
    expect(messages({ var: [] })).toEqual(['var must name a context variable such as "user.id" (got the whole context)']);
    expect(messages({ var: 3 })).toEqual(['var must name a context variable such as "user.id" (got 3)']);
    expect(messages({ var: { cat: ['user.', 'id'] } })).toEqual(['a variable name must be a literal string, not computed by logic']);
    expect(messages({ var: [{ var: 'action' }] })).toEqual(['a variable name must be a literal string, not computed by logic']);
    expect(messages({ missing: { merge: ['user.id'] } })).toEqual(['a variable name must be a literal string, not computed by logic']);
    expect(messages({ var: ['a', 'b', 'c'] })).toContain('var takes a name and an optional default');
  });

  it('does not check variables inside callbacks, but does check operators there', () => {
    const when = {
      and: [
        { some: [{ var: 'user.groups' }, { '==': [{ var: '' }, 'admins'] }] },
        { all: [{ var: 'attributes.roles' }, { in: [{ var: 'name' }, ['a', 'b']] }] },
        { reduce: [{ var: 'attributes.xs' }, { '+': [{ var: 'current' }, { var: 'accumulator' }] }, 0] },
        { map: [{ var: 'attributes.xs' }, { var: { cat: ['a', 'b'] } }] },
      ],
    };
    expect(messages(when)).toEqual([]);
    expect(messages({ filter: [{ var: 'user.groups' }, { method: [{ var: '' }, 'toString'] }] })[0]).toMatch(/^unknown operator "method"/);
    // The array and reduce's initial value are read in the outer context.
    expect(messages({ some: [{ var: 'nope' }, true] })[0]).toMatch(/^unknown variable "nope"/);
    expect(messages({ reduce: [[1], { var: 'current' }, { var: 'nope' }] })[0]).toMatch(/^unknown variable "nope"/);
  });

  it('rejects unknown operators, method and multi-key objects, with their paths', () => {
    const r = checkJsonLogic({ and: [{ regex: ['a', 'b'] }, { '=': [1, 1] }, { method: ['x', 'toUpperCase'] }, { a: 1, b: 2 }, {}] });
    expect(r.problems.map((p) => [p.path, p.at, p.atKey])).toEqual([
      [['and', 0], ['and', 0, 'regex'], true],
      [['and', 1], ['and', 1, '='], true],
      [['and', 2], ['and', 2, 'method'], true],
      [['and', 3], ['and', 3], false],
      [['and', 4], ['and', 4], false],
    ]);
    const m = r.problems.map((p) => p.message);
    expect(m[0]).toBe(`unknown operator "regex" (allowed: ${JSONLOGIC_OPERATORS.join(' ')})`);
    expect(m[1]).toMatch(/^unknown operator "=" \(did you mean ==\?\)/);
    expect(m[2]).toMatch(/^unknown operator "method" \("method" is disabled/);
    expect(m[3]).toBe('an object with 2 keys (a, b) is not a json-logic operation; write one operator per object, e.g. {"and": [...]}');
    expect(m[4]).toMatch(/^an empty object is not a json-logic operation/);
  });

  it('allows exactly the operators json-logic-js implements, without method', () => {
    for (const op of JSONLOGIC_OPERATORS) {
      if (op !== 'var' && op !== 'missing_some') expect(messages({ [op]: [] })).toEqual([]);
      // json-logic-js knows it (an unknown one throws "Unrecognized operation").
      try {
        jsonLogic.apply({ [op]: [] } as never, {});
      } catch (e) {
        expect((e as Error).message).not.toMatch(/Unrecognized operation/);
      }
    }
    expect(JSONLOGIC_OPERATORS).not.toContain('method');
  });

  it('leaves literals alone', () => {
    expect(messages({ '==': [{ var: 'action' }, 'x'] })).toEqual([]);
    expect(messages({ in: ['a', ['a', 'b', null, 3, true]] })).toEqual([]);
    expect(checkJsonLogic({ '==': [1, 1] }).reads.size).toBe(0);
  });
});
