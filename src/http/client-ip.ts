// Which address is the end user's? Only a trusted proxy may say: X-Forwarded-For is read right to left
// (each proxy appends the address it saw), skipping our own trusted proxies, and the first address that is
// not one of them is the client. A header from anyone else is ignored, so a client cannot spoof its IP.
import { isIP } from 'node:net';
import type { NetworkList } from '../policy/types.js';

export function clientIpFromProxy(peer: string | null, forwardedFor: string | undefined, trusted: NetworkList): string | null {
  if (peer === null || trusted.size === 0 || trusted.match(peer) === null) return null;
  if (!forwardedFor) return null;
  const hops = forwardedFor.split(',').map((h) => h.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (isIP(hop) === 0) return null; // a malformed hop: nothing left of it can be trusted
    if (trusted.match(hop) === null) return hop;
  }
  // Every hop is one of our proxies: the leftmost is as close to the client as the chain goes.
  return hops[0] ?? null;
}
