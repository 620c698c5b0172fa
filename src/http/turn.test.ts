// Answers held to the end of their event-loop turn: on a real connection they all still arrive, each with its
// own body, and leave together in the turn's check phase; under app.request() nothing waits.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { turnEndOnSocket } from './turn.js';

function app(events: string[]) {
  const a = new Hono();
  a.post('/echo/:n', async (c) => {
    const n = c.req.param('n');
    const body = await c.req.text();
    const turnEnd = turnEndOnSocket(c);
    events.push(`decided ${n} ${turnEnd ? 'held' : 'free'}`);
    if (turnEnd) await turnEnd;
    events.push(`answered ${n}`);
    return c.body(`${n}:${body}`, 200, { 'Content-Type': 'text/plain' });
  });
  return a;
}

let server: ServerType | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
});

describe('turnEndOnSocket', () => {
  it('does not hold answers under app.request()', async () => {
    const events: string[] = [];
    const res = await app(events).request('/echo/1', { method: 'POST', body: 'x' });
    expect(await res.text()).toBe('1:x');
    expect(events).toEqual(['decided 1 free', 'answered 1']);
  });

  it('answers every request on a real connection, each with its own body', async () => {
    const events: string[] = [];
    const url = await new Promise<string>((resolve) => {
      server = serve({ fetch: app(events).fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
        resolve(`http://127.0.0.1:${info.port}`),
      );
    });
    const n = 40;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => fetch(`${url}/echo/${i}`, { method: 'POST', body: `body-${i}` }).then((r) => r.text())),
    );
    expect(answers).toEqual(Array.from({ length: n }, (_, i) => `${i}:body-${i}`));
    expect(events.filter((e) => e.endsWith('held'))).toHaveLength(n);
    // Every answer waited for its turn's end: none leaves before its own decision, and none in the callback that
    // decided it.
    const firstAnswer = events.findIndex((e) => e.startsWith('answered'));
    expect(firstAnswer).toBeGreaterThan(0);
    for (let i = 0; i < n; i++) expect(events.indexOf(`decided ${i} held`)).toBeLessThan(events.indexOf(`answered ${i}`));
  });
});
