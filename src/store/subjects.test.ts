import { describe, expect, it } from 'vitest';
import { ipSubject, userFailureSubjects, userSubject, userSubjectPrefix } from './subjects.js';

describe('throttling subjects', () => {
  it('are user:<id>:<budget> and ip:<ip> for plain ids', () => {
    expect(userSubject('alice', 'totp')).toBe('user:alice:totp');
    expect(userSubject('alice', 'backup_code')).toBe('user:alice:backup_code');
    expect(userSubject('alice', '')).toBe('user:alice:');
    expect(userSubjectPrefix('alice')).toBe('user:alice:');
    expect(userFailureSubjects('alice')).toEqual(['user:alice:totp', 'user:alice:backup_code']);
    expect(ipSubject('2001:db8::1')).toBe('ip:2001:db8::1');
    expect(userSubject('a_b*c', 'totp')).toBe('user:a_b*c:totp');
  });

  it("encode ':' and '%' in ids, so no user's prefix is a prefix of another user's subjects", () => {
    expect(userSubject('alice:x', 'totp')).toBe('user:alice%3Ax:totp');
    expect(userSubject('50%', 'totp')).toBe('user:50%25:totp');
    expect(userSubject('alice:x', 'totp').startsWith(userSubjectPrefix('alice'))).toBe(false);
    // One-to-one: the escape character is itself escaped.
    expect(userSubject('a%3Ab', 'totp')).not.toBe(userSubject('a:b', 'totp'));
  });
});
