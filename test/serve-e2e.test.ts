// `mfa-gate serve` as a real listening process: API keys from the environment, the decision log file,
// hot reload of the policy (valid edit, invalid edit, file removed), metrics, trusted proxies, replay of the
// log it wrote, and a graceful SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const KEY = 'e2e-test-key-0123456789abcdef';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-serve-'));
const policy = join(dir, 'policy.yaml');
const log = join(dir, 'decisions.jsonl');
let child: ChildProcess;
let base = '';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const decide = (body: object, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/decide`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  copyFileSync('policies/default.yaml', policy);
  child = spawn(
    process.execPath,
    ['bin/mfa-gate.js', 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--policy', policy, '--decision-log', log, '--trusted-proxies', '127.0.0.1/32'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MFA_GATE_API_KEYS: KEY } },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  base = await waitFor('the server to listen', async () => /listening on (http:\/\/\S+)/.exec(out)?.[1], 20_000);
  expect(out).toContain('from MFA_GATE_API_KEYS');
});

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('mfa-gate serve', () => {
  it('decides with an API key and trusts X-Forwarded-For from a trusted proxy only', async () => {
    const res = await decide({ user: { id: 'alice' }, user_agent: CHROME }, { 'x-forwarded-for': '81.2.69.142' });
    expect(res.status).toBe(200);
    const d = (await res.json()) as { reasons: { rule: string; detail?: string }[] };
    // The peer (127.0.0.1) is a trusted proxy, so the forwarded address counts: London is a known location.
    expect(d.reasons.find((r) => r.rule === 'new_location')?.detail).toBe('location GB has not completed a login');
  });

  it('swaps in a valid edit: the next decision carries the new version', async () => {
    const before = ((await (await fetch(`${base}/healthz`)).json()) as { policy: { version: string } }).policy.version;
    writeFileSync(policy, `${readFileSync('policies/default.yaml', 'utf8')}time_zone: Europe/Berlin\n`);
    const after = await waitFor('the reload', async () => {
      const v = ((await (await fetch(`${base}/healthz`)).json()) as { policy: { version: string } }).policy.version;
      return v !== before ? v : undefined;
    });
    const d = (await (await decide({ user: { id: 'bob' }, ip: '81.2.69.142' })).json()) as { policy: { version: string } };
    expect(d.policy.version).toBe(after);
  });

  it('keeps serving the last good policy on an invalid edit, and /readyz and the metrics say so', async () => {
    const good = ((await (await fetch(`${base}/healthz`)).json()) as { policy: { version: string } }).policy.version;
    writeFileSync(policy, 'mfa_enforcement:\n  all_users: true\n  grace_priod: 30_days\n');
    const ready = await waitFor('readyz to fail', async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 503 ? ((await r.json()) as { checks: { policy: { ok: boolean; error: string } } }) : undefined;
    });
    expect(ready.checks.policy.error).toContain(`${policy}:3:3 mfa_enforcement.grace_priod: unknown key (did you mean grace_period?)`);
    const d = (await (await decide({ user: { id: 'carol' }, ip: '81.2.69.142' })).json()) as { policy: { version: string } };
    expect(d.policy.version).toBe(good);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/mfa_gate_policy_reloads_total\{result="failed"\} [1-9]/);

    unlinkSync(policy);
    const removed = await waitFor('readyz to report the removal', async () => {
      const r = await fetch(`${base}/readyz`);
      const body = (await r.json()) as { checks: { policy: { error?: string } } };
      return body.checks.policy.error?.includes('removed') ? r.status : undefined;
    });
    expect(removed).toBe(503);
    expect((await decide({ user: { id: 'dave' }, ip: '81.2.69.142' })).status).toBe(200);

    copyFileSync('policies/default.yaml', policy);
    await waitFor('readyz to recover', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
  });

  it('counts decisions in /metrics and serves the OpenAPI document', async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/mfa_gate_decisions_total\{decision="allow"\} [1-9]/);
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/decide');
  });

  it('stops on SIGTERM after the decision log is flushed, and replay reads that log', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.includes('"type":"decision"')).length).toBeGreaterThanOrEqual(4);
    // Without a grace period, every not-enrolled user the seed let in would now have to enroll.
    const strict = join(dir, 'no-grace.yaml');
    writeFileSync(strict, readFileSync('policies/default.yaml', 'utf8').replace('grace_period: 30_days', 'grace_period: 0_days'));
    const replay = spawnSync(process.execPath, ['bin/mfa-gate.js', 'replay', '--policy', strict, '--log', log, '--json'], { encoding: 'utf8' });
    expect(replay.status).toBe(0);
    const out = JSON.parse(replay.stdout) as { total: number; changed: { from: string; to: string }[] };
    expect(out.total).toBeGreaterThanOrEqual(4);
    expect(out.changed.length).toBe(out.total);
    expect(out.changed.every((c) => c.from === 'allow' && c.to === 'require_mfa')).toBe(true);
  });
});
