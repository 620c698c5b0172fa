// `mfa-gate replay` as a user runs it: a decision log written by a real engine to a file, replayed in a child
// process (`node bin/mfa-gate.js replay ...`) against the same and a stricter policy.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecisionLog } from '../src/decision-log.js';
import { DecisionEngine } from '../src/engine.js';
import { loadPolicy } from '../src/policy/index.js';
import { openSqliteStore } from '../src/store/index.js';

const BIN = 'bin/mfa-gate.js';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const LONDON = '81.2.69.142';
const T0 = Date.parse('2026-06-01T12:00:00Z');
const MIN = 60_000;

const tmp = mkdtempSync(join(tmpdir(), 'mfa-gate-replay-cli-'));
const LOG = join(tmp, 'logs', 'decisions.jsonl');
const STRICT = join(tmp, 'strict-device.yaml');

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, 'replay', ...args], { encoding: 'utf8', input, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  writeFileSync(STRICT, readFileSync('policies/default.yaml', 'utf8').replace('- new_device: prompt_mfa', '- new_device: require_mfa'));
  const store = openSqliteStore({ path: join(tmp, 'store.db') });
  const log = createDecisionLog({ destination: LOG });
  let now = T0;
  const engine = new DecisionEngine({ store, policy: loadPolicy('policies/default.yaml'), clock: () => now, audit: (e) => log.audit(e) });
  const decide = async (input: Parameters<DecisionEngine['decideDetailed']>[0]) => {
    log.write(await engine.decideDetailed(input));
    await new Promise((r) => setTimeout(r, 5));
    now += MIN;
  };
  await store.setEnrolled('alice', T0 - 100 * 24 * 60 * MIN);
  await store.recordLogin({ user_id: 'alice', device_key: 'alice-laptop', location_key: 'GB/ENG/St Albans', ip: LONDON, time: T0 - 24 * 60 * MIN, mfa: true });
  await decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-laptop' }); // allow
  await decide({ user: { id: 'alice' }, ip: LONDON, user_agent: IPHONE, device_id: 'alice-phone' }); // prompt_mfa, new device
  await decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-laptop', action: 'password.change' }); // require_mfa
  await decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME }); // allow: new, inside the grace period
  log.audit({ event: 'factor.verified', user_id: 'alice', factor: 'totp' });
  await log.close();
  await store.close();
  appendFileSync(LOG, '{"type":"decision","decision_id":"broken"}\n\n');
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('mfa-gate replay', () => {
  it('prints the summary table and each changed decision with its reasons', () => {
    const r = run(['--policy', STRICT, '--log', LOG]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^replayed 4 decisions from .*decisions\.jsonl under .*strict-device\.yaml \(version [0-9a-f]{12}\)$/m);
    expect(r.stdout).toMatch(/^ {2}allow +→ allow +1$/m);
    expect(r.stdout).toMatch(/^ {2}allow +→ require_mfa +1 {2}\*$/m);
    expect(r.stdout).toMatch(/^ {2}prompt_mfa +→ require_mfa +1 {2}\*$/m);
    expect(r.stdout).toMatch(/^ {2}require_mfa +→ require_mfa +1$/m);
    expect(r.stdout).toContain('2 changed, 2 unchanged; 1 skipped; 1 audit and 0 other lines passed over');
    expect(r.stdout).toMatch(/line 2 {2}2026-06-01T12:01:00\.000Z {2}user alice {2}prompt_mfa → require_mfa/);
    expect(r.stdout).toMatch(/now: +new_device \(require_mfa\)/);
    expect(r.stdout).toMatch(/before: +new_device \(prompt_mfa\)/);
    expect(r.stdout).toMatch(/line 4 .* user carol {2}allow → require_mfa/);
    expect(r.stdout).toMatch(/skipped lines:\n {2}line 6: decided_at: missing/);
  });

  it('reports no change under the policy that made the decisions', () => {
    const r = run(['--policy', 'policies/default.yaml', '--log', LOG]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 changed, 4 unchanged');
    expect(r.stdout).not.toContain('changed decisions');
  });

  it('prints one JSON document with --json, and reads the log from standard input', () => {
    const r = run(['--policy', STRICT, '--log', '-', '--json'], readFileSync(LOG, 'utf8'));
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.policy.version).toBe(loadPolicy(STRICT).version);
    expect(doc.total).toBe(4);
    expect(doc.summary).toEqual([
      { from: 'allow', to: 'allow', count: 1 },
      { from: 'allow', to: 'require_mfa', count: 1 },
      { from: 'prompt_mfa', to: 'require_mfa', count: 1 },
      { from: 'require_mfa', to: 'require_mfa', count: 1 },
    ]);
    expect(doc.changed.map((c: { user: string; from: string; to: string }) => `${c.user}:${c.from}→${c.to}`)).toEqual([
      'alice:prompt_mfa→require_mfa',
      'carol:allow→require_mfa',
    ]);
    expect(doc.changed[0].reasons.map((x: { rule: string }) => x.rule)).toContain('new_device');
    expect(doc.skipped).toEqual([{ line: 6, reason: expect.stringMatching(/^decided_at: missing/) }]);
  });

  it('exits 1 with file:line:col for an invalid policy', () => {
    const r = run(['--policy', 'test/fixtures/policies/bad-key.yaml', '--log', LOG]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('test/fixtures/policies/bad-key.yaml:3:3 mfa_enforcement.grace_priod: unknown key');
    expect(r.stdout).toBe('');
  });

  it('exits 1 when the log cannot be read', () => {
    const missing = run(['--policy', STRICT, '--log', join(tmp, 'nope.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.jsonl: cannot read the log \(ENOENT\)/);
    const dir = run(['--policy', STRICT, '--log', tmp]);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toMatch(/cannot read the log \(EISDIR\)/);
  });

  it('exits 2 on usage errors', () => {
    expect(run(['--policy', STRICT])).toMatchObject({ code: 2, stderr: expect.stringContaining('mfa-gate replay: --log is required') });
    expect(run(['--log', LOG])).toMatchObject({ code: 2, stderr: expect.stringContaining('--policy is required') });
    expect(run(['--policy', STRICT, '--log', LOG, '--limit', 'many'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--limit: expected a whole number') });
    expect(run(['--policy', STRICT, '--log', LOG, '--frobnicate']).code).toBe(2);
  });
});
