import { describe, expect, it } from 'vitest';
import { actionPath, fromAuthRequest, fromExtAuthz, fromForwardAuth, portalRedirect, UndecidableRequest } from './original-request.js';
import { cookieValues } from './routes.js';

const headers = (h: Record<string, string>) => (name: string) => {
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name.toLowerCase()) return v;
  return undefined;
};

describe('actionPath', () => {
  it.each([
    ['/admin/x', '/admin/x'],
    ['/admin/x?y=1#z', '/admin/x'],
    ['/admin/x/', '/admin/x/'],
    ['', '/'],
    ['/', '/'],
    ['/%61dmin/x', '/admin/x'],
    ['/%41dmin/x', '/Admin/x'],
    ['/admin%2Fx', '/admin/x'],
    ['/app/../admin/x', '/admin/x'],
    ['/app/%2e%2e/admin/x', '/admin/x'],
    ['/../../admin', '/admin'],
    ['//admin///x', '/admin/x'],
    ['/./admin/./x', '/admin/x'],
    ['/admin\\x', '/admin/x'],
    ['/a/b/..', '/a/'],
    ['/caf%C3%A9', '/café'],
    ['/bad%zz/%E0%A4%A', '/bad%zz/%E0%A4%A'],
    ['/q%3Fx', '/q?x'],
  ])('%j -> %j', (raw, path) => {
    expect(actionPath(raw)).toBe(path);
  });
});

describe('the request shapes', () => {
  it('reads nginx auth_request headers', () => {
    expect(fromAuthRequest(headers({ 'X-Original-Method': 'post', 'X-Original-URL': 'https://app.example.com/%61dmin/x?y=1' }))).toEqual({
      method: 'POST',
      url: 'https://app.example.com/%61dmin/x?y=1',
      path: '/admin/x',
    });
    // Dot segments WHATWG would resolve are resolved for the action too.
    expect(fromAuthRequest(headers({ 'X-Original-Method': 'GET', 'X-Original-URL': 'http://app:8080/a/../b' })).path).toBe('/b');
  });

  it('reads Traefik/Caddy forward-auth headers', () => {
    expect(
      fromForwardAuth(
        headers({ 'X-Forwarded-Method': 'DELETE', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'app.example.com:8443', 'X-Forwarded-Uri': '/x/y?z=%20' }),
      ),
    ).toEqual({ method: 'DELETE', url: 'https://app.example.com:8443/x/y?z=%20', path: '/x/y' });
    expect(fromForwardAuth(headers({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Host': '[2001:db8::1]', 'X-Forwarded-Uri': '/' })).url).toBe(
      'http://[2001:db8::1]/',
    );
  });

  it('reads the Envoy ext_authz shape', () => {
    expect(
      fromExtAuthz('PATCH', 'http://localhost/v1/authz/ext-authz/api/v1/items?x=1', '/v1/authz/ext-authz', headers({ host: 'app.example.com', 'x-forwarded-proto': 'https' })),
    ).toEqual({ method: 'PATCH', url: 'https://app.example.com/api/v1/items?x=1', path: '/api/v1/items' });
    expect(fromExtAuthz('GET', 'http://localhost/v1/authz/ext-authz', '/v1/authz/ext-authz', headers({ host: 'app' }))).toEqual({
      method: 'GET',
      url: 'http://app/',
      path: '/',
    });
  });

  it.each([
    ['nginx without a method', () => fromAuthRequest(headers({ 'X-Original-URL': 'https://a/' }))],
    ['nginx with a bad method', () => fromAuthRequest(headers({ 'X-Original-Method': 'G E T', 'X-Original-URL': 'https://a/' }))],
    ['nginx without a URL', () => fromAuthRequest(headers({ 'X-Original-Method': 'GET' }))],
    ['nginx with a relative URL', () => fromAuthRequest(headers({ 'X-Original-Method': 'GET', 'X-Original-URL': '/x' }))],
    ['nginx with an ftp URL', () => fromAuthRequest(headers({ 'X-Original-Method': 'GET', 'X-Original-URL': 'ftp://a/x' }))],
    ['nginx with credentials', () => fromAuthRequest(headers({ 'X-Original-Method': 'GET', 'X-Original-URL': 'https://u:p@a/x' }))],
    ['nginx with a huge URL', () => fromAuthRequest(headers({ 'X-Original-Method': 'GET', 'X-Original-URL': `https://a/${'x'.repeat(9000)}` }))],
    ['forward-auth without a host', () => fromForwardAuth(headers({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/' }))],
    ['forward-auth with a host list', () => fromForwardAuth(headers({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Host': 'a, b', 'X-Forwarded-Uri': '/' }))],
    ['forward-auth with userinfo', () => fromForwardAuth(headers({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Host': 'u@a', 'X-Forwarded-Uri': '/' }))],
    ['forward-auth with an absolute uri', () => fromForwardAuth(headers({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Host': 'a', 'X-Forwarded-Uri': 'http://b/' }))],
    ['forward-auth with a bad proto', () => fromForwardAuth(headers({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Proto': 'https, http', 'X-Forwarded-Host': 'a', 'X-Forwarded-Uri': '/' }))],
    ['ext-authz without a host', () => fromExtAuthz('GET', 'http://localhost/v1/authz/ext-authz/x', '/v1/authz/ext-authz', headers({}))],
    ['ext-authz past the prefix', () => fromExtAuthz('GET', 'http://localhost/v1/authz/ext-authzx', '/v1/authz/ext-authz', headers({ host: 'a' }))],
  ])('refuses %s', (_, read) => {
    expect(read).toThrow(UndecidableRequest);
  });
});

describe('portalRedirect', () => {
  it('appends rd and challenge, encoded', () => {
    expect(portalRedirect('https://auth.example.com/mfa', 'https://app.example.com/a?b=1&c=2', 'ch-1')).toBe(
      'https://auth.example.com/mfa?rd=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3D1%26c%3D2&challenge=ch-1',
    );
    expect(portalRedirect('https://auth.example.com/mfa?lang=en', 'https://app/x')).toBe('https://auth.example.com/mfa?lang=en&rd=https%3A%2F%2Fapp%2Fx');
  });

  it('resolves a path against the original origin', () => {
    expect(portalRedirect('/mfa', 'https://app.example.com:8443/deep/page?x=1', 'c')).toBe(
      'https://app.example.com:8443/mfa?rd=https%3A%2F%2Fapp.example.com%3A8443%2Fdeep%2Fpage%3Fx%3D1&challenge=c',
    );
  });
});

describe('cookieValues', () => {
  it('finds every value of the name, unquoted and decoded', () => {
    expect(cookieValues('a=1; mfa_gate_session=x.y; b=2; mfa_gate_session="p.q"; mfa_gate_session=r%2Es', 'mfa_gate_session')).toEqual(['x.y', 'p.q', 'r.s']);
    expect(cookieValues('xmfa_gate_session=1; mfa_gate_sessionx=2; mfa_gate_session=', 'mfa_gate_session')).toEqual([]);
    expect(cookieValues('mfa_gate_session=%E0%A4%A', 'mfa_gate_session')).toEqual([]);
  });
});
