// The bare baseline of the HTTP benchmark served the way `mfa-gate serve --workers N` serves (bench/http.ts):
// node:cluster with N worker processes sharing one port, each running the same one-route Hono app as the
// in-process baseline. Prints `listening on http://127.0.0.1:PORT` once every worker listens.
//   node --import tsx bench/bare-server.ts <workers>
import { serve } from '@hono/node-server';
import cluster from 'node:cluster';
import { Hono } from 'hono';

/** The baseline: one JSON POST route, parse the body, answer a small JSON. */
export function bareApp(): Hono {
  const app = new Hono();
  app.post('/echo', async (c) => {
    const body = await c.req.json<{ user?: { id?: string } }>();
    return c.json({ ok: true, user: body.user?.id });
  });
  return app;
}

if (cluster.isPrimary && process.argv[1]?.endsWith('bare-server.ts')) {
  const workers = Number(process.argv[2]);
  if (!Number.isInteger(workers) || workers < 1) throw new Error('usage: bench/bare-server.ts <workers>');
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) process.stdout.write(`listening on http://127.0.0.1:${address.port}\n`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else if (cluster.isWorker) {
  // Port 0 in every worker: cluster gives them all the same port.
  serve({ fetch: bareApp().fetch, hostname: '127.0.0.1', port: 0 });
  process.on('SIGTERM', () => process.exit(0));
}
