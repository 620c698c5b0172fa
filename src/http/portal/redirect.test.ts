import { describe, expect, it } from 'vitest';
import { compileRedirectDomains, MAX_RD_LENGTH, safeRedirect } from './redirect.js';

const list = compileRedirectDomains(['.example.com', 'intranet.example.org', '127.0.0.1', 'LOCALHOST']);

describe('safeRedirect', () => {
  it.each([
    ['https://app.example.com/x?y=1#z', 'https://app.example.com/x?y=1#z'],
    ['https://example.com', 'https://example.com/'],
    ['https://a.b.example.com:8443/', 'https://a.b.example.com:8443/'],
    ['http://APP.Example.COM/p', 'http://app.example.com/p'],
    ['https://intranet.example.org/', 'https://intranet.example.org/'],
    ['http://127.0.0.1:8080/app', 'http://127.0.0.1:8080/app'],
    ['http://localhost:3000/', 'http://localhost:3000/'],
    ['/', '/'],
    ['/reports?id=7&x=%2F%2Fevil.com', '/reports?id=7&x=%2F%2Fevil.com'],
  ])('follows %j', (rd, expected) => {
    expect(safeRedirect(rd, list)).toBe(expected);
  });

  it.each([
    undefined,
    '',
    '//evil.com',
    '///evil.com',
    '////evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '\\/evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    '/\r\n/evil.com',
    ' /path',
    '/pa th',
    '/caf\u00e9',
    'https://evil.com',
    'https://example.com.evil.com/',
    'https://evilexample.com/',
    'https://example.com\\@evil.com/',
    'https://app.example.com@evil.com/',
    'https://user:pw@app.example.com/',
    'https://intranet.example.org.evil.com/',
    'https://sub.intranet.example.org/', // an exact entry allows no subdomains
    'https://example.org/',
    'https://example.com./',
    'https:evil.com',
    'https:/evil.com',
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'javascript://app.example.com/%0aalert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox',
    'ftp://app.example.com/',
    'file:///etc/passwd',
    'evil.com',
    'app.example.com/path',
    'https://127.0.0.2/',
    `/${'a'.repeat(MAX_RD_LENGTH)}`,
  ])('refuses %j', (rd) => {
    expect(safeRedirect(rd, list)).toBeNull();
  });
});

describe('compileRedirectDomains', () => {
  it('matches an exact host, or a domain and its subdomains for a leading dot', () => {
    expect(list.allows('example.com')).toBe(true);
    expect(list.allows('deep.sub.example.com')).toBe(true);
    expect(list.allows('notexample.com')).toBe(false);
    expect(list.allows('intranet.example.org')).toBe(true);
    expect(list.allows('x.intranet.example.org')).toBe(false);
    expect(list.allows('localhost')).toBe(true);
  });

  it('gives the matching CSP form-action sources, or none when an entry cannot be one', () => {
    expect(compileRedirectDomains(['.example.com', 'a.test']).formActionSources).toEqual([
      "'self'",
      'http://example.com:*',
      'https://example.com:*',
      'http://*.example.com:*',
      'https://*.example.com:*',
      'http://a.test:*',
      'https://a.test:*',
    ]);
    expect(compileRedirectDomains([]).formActionSources).toEqual(["'self'"]);
    const v6 = compileRedirectDomains(['[::1]', 'a.test']);
    expect(v6.formActionSources).toBeNull();
    expect(safeRedirect('http://[::1]:8080/x', v6)).toBe('http://[::1]:8080/x');
  });

  it.each(['https://example.com', 'example.com/path', '*.example.com', 'exa mple.com', '', '.', '.1.2.3.4', '-bad.com', 'example.com:443'])(
    'refuses the entry %j at construction',
    (entry) => {
      expect(() => compileRedirectDomains([entry])).toThrow(TypeError);
    },
  );
});
