import { serve } from '@hono/node-server';
import { join } from 'node:path';
import { DecisionEngine } from '../engine.js';
import { PolicyError } from '../errors.js';
import { createApp } from '../http/app.js';
import { loadPolicy } from '../policy/index.js';
import { preloadGeoData } from '../signals/index.js';
import { openSqliteStore } from '../store/index.js';
import { UsageError, parse, type Command } from './command.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the decision service (HTTP)',
  usage: `usage: mfa-gate serve [--host H] [--port N] [--policy FILE] [--data-dir DIR]

Serves the decision API. Every option also reads an environment variable:

  --host H          MFA_GATE_HOST       default 127.0.0.1
  --port N          MFA_GATE_PORT       default 8080
  --policy FILE     MFA_GATE_POLICY     default policies/default.yaml
  --data-dir DIR    MFA_GATE_DATA_DIR   default ./data (the SQLite store is DIR/mfa-gate.db)`,
  async run(argv) {
    const env = process.env;
    const { values } = parse(argv, {
      host: { type: 'string', default: env.MFA_GATE_HOST ?? '127.0.0.1' },
      port: { type: 'string', default: env.MFA_GATE_PORT ?? '8080' },
      policy: { type: 'string', default: env.MFA_GATE_POLICY ?? 'policies/default.yaml' },
      'data-dir': { type: 'string', default: env.MFA_GATE_DATA_DIR ?? 'data' },
    });
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: "${values.port}" is not a port number`);

    let policy;
    try {
      policy = loadPolicy(values.policy);
    } catch (err) {
      console.error(err instanceof PolicyError ? err.message : `${values.policy}: ${(err as Error).message}`);
      return 1;
    }
    // geoip-lite loads its data on first use (~200 ms); pay that at start, not on the first request.
    preloadGeoData();
    const dbPath = join(values['data-dir'], 'mfa-gate.db');
    const store = openSqliteStore({ path: dbPath });
    const engine = new DecisionEngine({
      store,
      policy,
      onBackgroundError: (err) => console.error('background write failed:', err),
    });
    const app = createApp({ engine });

    const server = serve({ fetch: app.fetch, hostname: values.host, port }, (info) => {
      const base = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
      console.log(`mfa-gate listening on ${base}
  policy  ${values.policy} (version ${policy.version.slice(0, 12)})
  store   SQLite ${dbPath}

Try it:
  curl -s ${base}/healthz
  curl -s -X POST ${base}/v1/decide -H 'content-type: application/json' \\
    -d '{"user":{"id":"alice"},"ip":"81.2.69.142","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}'`);
    });

    const stop = (signal: string) => {
      console.log(`${signal}: shutting down`);
      server.close(() => {
        void store.close().then(() => process.exit(0));
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    return -1;
  },
};
