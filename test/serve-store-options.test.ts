// `mfa-gate serve`'s store options (issue #6): --database-url, and the retention flags, as a real process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { API_KEY, startServe, waitFor } from './helpers/serve.js';

const root = mkdtempSync(join(tmpdir(), 'mfa-gate-serve-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const POLICY = readFileSync(join(import.meta.dirname, '..', 'policies', 'default.yaml'), 'utf8');

/** `mfa-gate serve` that is expected to stop at once (a bad option): its exit code and output. */
function refused(args: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(root, 'refused-'));
  const r = spawnSync(process.execPath, ['bin/mfa-gate.js', 'serve', '--port', '0', '--data-dir', join(dir, 'data'), ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, MFA_GATE_API_KEYS: API_KEY, MFA_GATE_SECRET_KEY: '', ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('serve: store options', () => {
  it.each([
    [['--known-limit', '0'], /--known-limit: "0" is not a positive integer/],
    [['--known-limit', 'many'], /--known-limit: "many" is not a positive integer/],
    [['--known-max-age', 'soon'], /--known-max-age: "soon" is not a duration/],
  ])('refuses %j with a usage error (exit 2)', (args, message) => {
    const r = refused(args);
    expect(r.status).toBe(2);
    expect(r.out).toMatch(message);
  });

  it('refuses a database URL that is not postgres:// (exit 1), and hides its password', () => {
    const r = refused(['--database-url', 'mysql://root:hunter2@db/mfa']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/only postgres:\/\/ \(or postgresql:\/\/\) URLs are supported/);
    expect(r.out).not.toContain('hunter2');
  });

  it('with a database URL, refuses to start without a shared secret key instead of generating one', () => {
    const r = refused(['--database-url', 'postgres://postgres@127.0.0.1:5432/test']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/instances sharing a database must share one key.*MFA_GATE_SECRET_KEY/);
    expect(r.out).not.toMatch(/listening on/);
  });

  it('refuses the development log sender when NODE_ENV=production, and a webhook sender without its secret', () => {
    const log = refused([], { MFA_GATE_SENDER: 'log', NODE_ENV: 'production' });
    expect(log.status).toBe(1);
    expect(log.out).toMatch(/production/);
    expect(log.out).not.toMatch(/listening on/);
    const webhook = refused([], { MFA_GATE_SENDER: 'webhook', MFA_GATE_WEBHOOK_URL: 'https://hooks.example.com/mfa' });
    expect(webhook.status).toBe(1);
    expect(webhook.out).toMatch(/MFA_GATE_WEBHOOK_SECRET/);
  });

  it('--known-limit bounds the devices a user keeps', async () => {
    const dir = mkdtempSync(join(root, 'limit-'));
    const server = await startServe({ dir, policy: POLICY, args: ['--known-limit', '2'] });
    try {
      const decide = (device: string) =>
        fetch(`${server.base}/v1/decide`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            user: { id: 'grace-user' },
            ip: '81.2.69.142',
            user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
            device_id: device,
          }),
        }).then((r) => r.json() as Promise<{ decision: string }>);
      // A user in the grace period is allowed, and each allowed login teaches its device.
      for (const device of ['d1', 'd2', 'd3', 'd4']) expect((await decide(device)).decision).toBe('allow');
      const devices = await waitFor('the last device to be learned', async () => {
        const r = await fetch(`${server.base}/v1/users/grace-user/mfa`, { headers: { authorization: `Bearer ${API_KEY}` } });
        const body = (await r.json()) as { known_devices: { key: string }[] };
        const keys = body.known_devices.map((d) => d.key);
        return keys.some((k) => k.includes('d4')) ? keys : undefined;
      });
      expect(devices).toHaveLength(2);
      expect(devices.some((k) => k.includes('d1'))).toBe(false);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
