import { describe, expect, it } from 'vitest';
import { compileNetworkList } from '../policy/index.js';
import { clientIpFromProxy } from './client-ip.js';

const trusted = compileNetworkList(['10.0.0.0/8', '192.0.2.1']);
const none = compileNetworkList([]);

describe('clientIpFromProxy', () => {
  it('reads X-Forwarded-For right to left from a trusted peer, skipping trusted hops', () => {
    expect(clientIpFromProxy('10.0.0.5', '81.2.69.142', trusted)).toBe('81.2.69.142');
    expect(clientIpFromProxy('10.0.0.5', '6.6.6.6, 81.2.69.142, 10.1.1.1', trusted)).toBe('81.2.69.142');
    expect(clientIpFromProxy('192.0.2.1', '2a00:1450:4001:81b::200e', trusted)).toBe('2a00:1450:4001:81b::200e');
  });

  it('ignores the header from an untrusted peer, or with no trusted proxies configured', () => {
    expect(clientIpFromProxy('81.2.69.142', '1.2.3.4', trusted)).toBeNull();
    expect(clientIpFromProxy('10.0.0.5', '1.2.3.4', none)).toBeNull();
    expect(clientIpFromProxy(null, '1.2.3.4', trusted)).toBeNull();
  });

  it('stops at a malformed hop and answers nothing rather than a guess', () => {
    expect(clientIpFromProxy('10.0.0.5', '1.2.3.4, not-an-ip', trusted)).toBeNull();
    expect(clientIpFromProxy('10.0.0.5', '', trusted)).toBeNull();
    expect(clientIpFromProxy('10.0.0.5', undefined, trusted)).toBeNull();
  });

  it('answers the leftmost hop when every hop is a trusted proxy', () => {
    expect(clientIpFromProxy('10.0.0.5', '10.9.9.9, 10.1.1.1', trusted)).toBe('10.9.9.9');
  });
});
