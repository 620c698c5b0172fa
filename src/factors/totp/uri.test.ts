import { URI } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { FactorError, FactorErrorCode } from '../errors.js';
import { generateSecret } from './secret.js';
import { buildUri, parseUri } from './uri.js';

const ACCEPTANCE =
  'otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof FactorError) return err.code;
    throw err;
  }
  return undefined;
}

describe('buildUri', () => {
  it('produces exactly the acceptance string', () => {
    expect(buildUri({ issuer: 'ACME Co', account: 'john.doe@email.com', secret: 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ' })).toBe(ACCEPTANCE);
  });

  it("the acceptance string parses back with otpauth's URI.parse", () => {
    const otp = URI.parse(ACCEPTANCE);
    expect(otp.issuer).toBe('ACME Co');
    expect(otp.label).toBe('john.doe@email.com');
    expect(otp.secret.base32).toBe('HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ');
    expect(otp.algorithm).toBe('SHA1');
    expect(otp.digits).toBe(6);
    expect('period' in otp && otp.period).toBe(30);
    expect(parseUri(ACCEPTANCE)).toEqual({
      issuer: 'ACME Co',
      account: 'john.doe@email.com',
      secret: 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ',
      algorithm: 'SHA1',
      digits: 6,
      periodSeconds: 30,
    });
  });

  it("encodes a space as %20, never '+'", () => {
    const uri = buildUri({ issuer: 'A B', account: 'c d', secret: generateSecret() });
    expect(uri).not.toContain('+');
    expect(uri).toMatch(/^otpauth:\/\/totp\/A%20B:c%20d\?/);
  });

  it.each([
    ['Ünïcödé Bank', 'jörg@exämple.de'],
    ['R&D ?#/ 100% +1', 'a=b&c?d#e/f%g+h'],
    ['日本の会社', '🙂 user'],
    ['x'.repeat(128), 'y'.repeat(128)],
    ['I'.repeat(127) + '🙂', 'user'], // 128 code points, 129 UTF-16 units
  ])('round-trips issuer %j and account %j through otpauth', (issuer, account) => {
    const secret = generateSecret();
    const parsed = parseUri(buildUri({ issuer, account, secret }));
    expect(parsed).toEqual({ issuer, account, secret, algorithm: 'SHA1', digits: 6, periodSeconds: 30 });
  });

  it('trims surrounding spaces (they would not survive the round trip)', () => {
    const parsed = parseUri(buildUri({ issuer: '  ACME  ', account: ' bob ', secret: generateSecret() }));
    expect([parsed.issuer, parsed.account]).toEqual(['ACME', 'bob']);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'blank'],
    ['ACME:Co', 'colon'],
    ['x'.repeat(129), 'too long'],
    ['ACME\nCo', 'control character'],
    ['ACME\u0000', 'NUL'],
  ])('rejects issuer %j (%s) with INVALID_ISSUER', (issuer) => {
    expect(codeOf(() => buildUri({ issuer, account: 'bob', secret: generateSecret() }))).toBe(FactorErrorCode.INVALID_ISSUER);
  });

  it.each([
    ['', 'empty'],
    ['bob:admin', 'colon'],
    ['y'.repeat(129), 'too long'],
    ['bob\u007f', 'DEL'],
  ])('rejects account %j (%s) with INVALID_ACCOUNT', (account) => {
    expect(codeOf(() => buildUri({ issuer: 'ACME', account, secret: generateSecret() }))).toBe(FactorErrorCode.INVALID_ACCOUNT);
  });

  it('rejects non-string issuer and account', () => {
    expect(codeOf(() => buildUri({ issuer: 42 as unknown as string, account: 'bob', secret: generateSecret() }))).toBe(
      FactorErrorCode.INVALID_ISSUER,
    );
    expect(codeOf(() => buildUri({ issuer: 'ACME', account: null as unknown as string, secret: generateSecret() }))).toBe(
      FactorErrorCode.INVALID_ACCOUNT,
    );
  });

  it('rejects a secret that is not base32 or too short', () => {
    expect(codeOf(() => buildUri({ issuer: 'ACME', account: 'bob', secret: 'not-base32!' }))).toBe(FactorErrorCode.INVALID_SECRET);
    expect(codeOf(() => buildUri({ issuer: 'ACME', account: 'bob', secret: 'GEZDGNBV' }))).toBe(FactorErrorCode.INVALID_SECRET);
  });
});

describe('generateSecret', () => {
  it('is 160 bits of base32 without padding, different every time', () => {
    const secrets = Array.from({ length: 200 }, generateSecret);
    for (const s of secrets) expect(s).toMatch(/^[A-Z2-7]{32}$/);
    expect(new Set(secrets).size).toBe(secrets.length);
  });
});
