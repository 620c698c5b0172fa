import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileActionPattern, explainActionPattern, isValidActionPattern } from './glob.js';

describe('compileActionPattern', () => {
  const table: [pattern: string, action: string, matches: boolean][] = [
    ['password.change', 'password.change', true],
    ['password.change', 'password.changed', false],
    ['password.change', 'passwordXchange', false], // `.` is literal
    ['admin.*', 'admin.users', true],
    ['admin.*', 'admin.users.delete', true],
    ['admin.*', 'admin.', true],
    ['admin.*', 'admin', false],
    ['admin.*', 'administrator', false],
    ['admin.*', 'admin.x/y', false], // `*` stops at `/`
    ['admin.**', 'admin.x/y', true],
    ['mfa.?', 'mfa.a', true],
    ['mfa.?', 'mfa.ab', false],
    ['mfa.?', 'mfa./', false],
    ['*', 'anything.at.all', true],
    ['*', 'POST /admin', false],
    ['billing:refund', 'billing:refund', true],
    ['POST /admin/*', 'POST /admin/users', true],
    ['POST /admin/*', 'POST /admin/users/1', false],
    ['POST /admin/*', 'POST /admin/', true],
    ['POST /admin/*', 'GET /admin/users', false],
    ['POST /admin/*', 'POST /administration', false],
    ['POST /admin/**', 'POST /admin/users', true],
    ['POST /admin/**', 'POST /admin/users/1', true],
    ['* /admin/*', 'DELETE /admin/users', true],
    ['* /admin/*', 'POST /x/admin/users', false],
    ['* /admin/*', ' /admin/users', false],
    ['GET /a?c', 'GET /abc', true],
    ['GET /a?c', 'GET /a/c', false],
    ['GET /users/me', 'GET /users/me', true],
    ['GET /users/me', 'GET /users/me/', false],
    ['GET /a.b', 'GET /aXb', false],
    ['GET /a+b', 'GET /a+b', true],
    ['GET /a+b*', 'GET /aab', false],
    ['GET /$(x)', 'GET /$(x)', true],
  ];
  it.each(table)('%s vs %s -> %s', (pattern, action, matches) => {
    const m = compileActionPattern(pattern);
    expect(m.source).toBe(pattern);
    expect(m.test(action)).toBe(matches);
  });

  const invalid: [string, RegExp][] = [
    ['', /must not be empty/],
    ['admin.***', /`\*\*\*` is not a wildcard/],
    ['admin users', /may not contain whitespace/],
    ['admin\tusers', /character "\\t" is not allowed/],
    ['admin[0]', /character "\[" is not allowed/],
    ['admin{a,b}', /character "\{" is not allowed/],
    ['admin(x)', /character "\(" is not allowed/],
    ['!admin', /character "!" is not allowed/],
    ['a|b', /character "\|" is not allowed/],
    ['a\\b', /character "\\\\" is not allowed/],
    ['get /admin', /upper case: GET/],
    ['FETCH /admin', /unknown HTTP method "FETCH"/],
    ['CONNECT /x', /unknown HTTP method "CONNECT"/],
    ['POST admin/*', /must start with \//],
    ['POST  /admin', /must start with \//],
    ['POST /admin x', /must not contain whitespace/],
    ['/admin/*', /needs a method/],
    ['** /x', /unknown HTTP method "\*\*"/],
  ];
  it.each(invalid)('rejects %j', (pattern, reason) => {
    expect(isValidActionPattern(pattern)).toBe(false);
    expect(explainActionPattern(pattern)).toMatch(reason);
    expect(() => compileActionPattern(pattern)).toThrow(`invalid action pattern ${JSON.stringify(pattern)}: `);
  });

  it('takes every method of the list', () => {
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', '*']) {
      expect(isValidActionPattern(`${m} /x`)).toBe(true);
    }
  });

  it('matches exact names by equality, whatever the characters', () => {
    const m = compileActionPattern('a.b-c:d_e');
    expect(m.test('a.b-c:d_e')).toBe(true);
    expect(m.test('aXb-c:d_e')).toBe(false);
  });

  it('agrees with a reference RegExp on random patterns and actions', () => {
    const reference = (pattern: string): RegExp => {
      const body = pattern
        .split(/(\*\*|\*|\?)/)
        .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.]/g, '\\.')))
        .join('');
      return new RegExp(`^${body}$`, 's');
    };
    const pattern = fc.array(fc.constantFrom('a', 'b', '.', '*', '**', '?'), { minLength: 1, maxLength: 8 }).map((p) => p.join('')).filter((p) => !p.includes('***'));
    const action = fc.array(fc.constantFrom('a', 'b', '.', '/'), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(pattern, fc.array(action, { maxLength: 10 }), (p, actions) => {
        const m = compileActionPattern(p);
        const re = reference(p);
        for (const a of actions) expect(m.test(a)).toBe(re.test(a));
        const mp = compileActionPattern(`* /${p}`);
        for (const a of actions) expect(mp.test(`PUT /${a}`)).toBe(re.test(a));
      }),
      { numRuns: 2000 },
    );
  });

  it('stays linear on a crafted action (no catastrophic backtracking)', () => {
    const m = compileActionPattern('*a*a*a*a*a*a*b');
    const p = compileActionPattern('GET /**a**a**a**a**b');
    const start = performance.now();
    expect(m.test('a'.repeat(20_000))).toBe(false);
    expect(p.test(`GET /${'a'.repeat(20_000)}`)).toBe(false);
    expect(performance.now() - start).toBeLessThan(2_000);
  });
});

