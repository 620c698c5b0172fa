import { describe, expect, it } from 'vitest';
import { compileNetworkList } from '../../policy/network.js';
import { SESSION_COOKIE } from '../session.js';
import { DEFAULT_USER_HEADERS, GatewayConfigError, gatewayConfig, gatewayConfigFromEnv } from './gateway-config.js';

describe('gatewayConfig', () => {
  it('fills in the defaults: Remote-User then X-Forwarded-User, /mfa, the session cookie, no trusted proxy', () => {
    const c = gatewayConfig();
    expect(c.userHeaders).toEqual(['Remote-User', 'X-Forwarded-User']);
    expect(c.userHeaders).toEqual(DEFAULT_USER_HEADERS);
    expect(c.portalUrl).toBe('/mfa');
    expect(c.cookieName).toBe(SESSION_COOKIE);
    expect(c.trustedProxies.size).toBe(0);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes a compiled network list or CIDRs', () => {
    const list = compileNetworkList(['10.0.0.0/8']);
    expect(gatewayConfig({ trustedProxies: list }).trustedProxies).toBe(list);
    const compiled = gatewayConfig({ trustedProxies: ['127.0.0.1', '::1', '172.16.0.0/12'] }).trustedProxies;
    expect(compiled.match('172.20.1.2')).toBe('172.16.0.0/12');
    expect(compiled.match('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(compiled.match('8.8.8.8')).toBeNull();
  });

  it('accepts absolute http(s) portal URLs and paths', () => {
    for (const portalUrl of ['https://auth.example.com/mfa', 'http://localhost:8080/mfa', '/auth/mfa', 'https://auth.example.com/mfa?lang=en']) {
      expect(gatewayConfig({ portalUrl }).portalUrl).toBe(portalUrl);
    }
  });

  it.each([
    [{ userHeaders: [] }, /userHeaders: name at least one header/],
    [{ userHeaders: ['Remote User'] }, /not a valid header name/],
    [{ userHeaders: ['Remote-User', 'remote-user'] }, /listed twice/],
    [{ userHeaders: ['Cookie'] }, /cannot name the user/],
    [{ userHeaders: ['X-Forwarded-For'] }, /cannot name the user/],
    [{ userHeaders: Array.from({ length: 9 }, (_, i) => `X-U${i}`) }, /at most 8/],
    [{ portalUrl: '' }, /portalUrl: must not be empty/],
    [{ portalUrl: '//evil.example/mfa' }, /absolute URL with its scheme/],
    [{ portalUrl: 'mfa' }, /neither a path/],
    [{ portalUrl: 'javascript:alert(1)' }, /must be http or https/],
    [{ portalUrl: 'https://u:p@auth.example.com/mfa' }, /credentials/],
    [{ portalUrl: 'https://auth.example.com/mfa#x' }, /fragment/],
    [{ portalUrl: '/mf a' }, /whitespace/],
    [{ portalUrl: '/\\evil.example' }, /backslash/],
    [{ cookieName: 'mfa session' }, /cookieName: .* is not a valid cookie name/],
    [{ cookieName: '' }, /not a valid cookie name/],
    [{ trustedProxies: ['10.0.0.1/8'] }, /trustedProxies: invalid CIDR/],
  ])('throws at construction on %j', (input, message) => {
    expect(() => gatewayConfig(input)).toThrow(GatewayConfigError);
    expect(() => gatewayConfig(input)).toThrow(message);
  });
});

describe('gatewayConfigFromEnv', () => {
  it('reads MFA_GATE_USER_HEADERS, MFA_GATE_PORTAL_URL and MFA_GATE_TRUSTED_PROXIES', () => {
    const c = gatewayConfigFromEnv({
      MFA_GATE_USER_HEADERS: ' X-Auth-Request-User , Remote-User ,',
      MFA_GATE_PORTAL_URL: ' https://auth.example.com/mfa ',
      MFA_GATE_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8',
    });
    expect(c.userHeaders).toEqual(['X-Auth-Request-User', 'Remote-User']);
    expect(c.portalUrl).toBe('https://auth.example.com/mfa');
    expect(c.trustedProxies.match('10.1.2.3')).toBe('10.0.0.0/8');
  });

  it('treats empty variables as unset and lets overrides win', () => {
    const c = gatewayConfigFromEnv({ MFA_GATE_USER_HEADERS: ' , ', MFA_GATE_PORTAL_URL: '', MFA_GATE_TRUSTED_PROXIES: '10.0.0.0/8' }, {
      trustedProxies: compileNetworkList(['192.0.2.1']),
      portalUrl: undefined,
    });
    expect(c.userHeaders).toEqual(DEFAULT_USER_HEADERS);
    expect(c.portalUrl).toBe('/mfa');
    expect(c.trustedProxies.match('10.1.2.3')).toBeNull();
    expect(c.trustedProxies.match('192.0.2.1')).toBe('192.0.2.1');
  });

  it('names the variable that is wrong', () => {
    expect(() => gatewayConfigFromEnv({ MFA_GATE_USER_HEADERS: 'Remote User' })).toThrow(/^MFA_GATE_USER_HEADERS: "Remote User" is not a valid header name/);
    expect(() => gatewayConfigFromEnv({ MFA_GATE_PORTAL_URL: 'ftp://x/mfa' })).toThrow(/^MFA_GATE_PORTAL_URL: /);
    expect(() => gatewayConfigFromEnv({ MFA_GATE_TRUSTED_PROXIES: 'nope' })).toThrow(/^MFA_GATE_TRUSTED_PROXIES: invalid CIDR/);
    // An override's mistake is the option's, not the variable's.
    expect(() => gatewayConfigFromEnv({ MFA_GATE_PORTAL_URL: '/mfa' }, { portalUrl: 'mfa' })).toThrow(/^portalUrl: /);
  });
});
