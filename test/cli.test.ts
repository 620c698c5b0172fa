// The command line as a user runs it: `node bin/mfa-gate.js ...` in a child process (through tsx, as npx does).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = 'bin/mfa-gate.js';
const tmp = mkdtempSync(join(tmpdir(), 'mfa-gate-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mfa-gate validate', () => {
  it('prints ok for the seed policy', () => {
    expect(run(['validate', 'policies/default.yaml'])).toMatchObject({ code: 0, stdout: 'ok\n' });
  });

  it('fails with file:line:col and a suggestion for a misspelt key', () => {
    const r = run(['validate', 'test/fixtures/policies/bad-key.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('test/fixtures/policies/bad-key.yaml:3:3 mfa_enforcement.grace_priod: unknown key (did you mean grace_period?)');
  });

  it('reports a missing file and a usage error distinctly', () => {
    const missing = run(['validate', join(tmp, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.yaml/);
    expect(run(['validate']).code).toBe(2);
  });
});

describe('mfa-gate eval', () => {
  it('prints the decision, reasons and facts for a context with inline state', () => {
    const r = run(['eval', '--policy', 'policies/default.yaml', '--context', 'examples/contexts/new-device.json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.decision).toBe('prompt_mfa');
    expect(d.reasons.map((x: { rule: string }) => x.rule)).toEqual(['new_device']);
    expect(d.facts.device).toEqual({ browser: 'Mobile Safari', os: 'iOS', type: 'mobile' });
  });

  it('takes the time from --at over the context', () => {
    const at = run(['eval', '--context', 'examples/contexts/step-up.json', '--at', '2026-06-01T11:03:00Z']);
    expect(JSON.parse(at.stdout).decision).toBe('allow');
    const ctx = run(['eval', '--context', 'examples/contexts/step-up.json']);
    expect(JSON.parse(ctx.stdout).decision).toBe('require_mfa');
  });

  it('reads the context from standard input', () => {
    const r = run(['eval', '--context', '-'], JSON.stringify({ user: { id: 'svc', type: 'service' } }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).reasons[0].rule).toBe('excluded');
  });

  it('refuses an invalid context with the path of each problem', () => {
    const file = join(tmp, 'bad-context.json');
    writeFileSync(file, JSON.stringify({ user: { id: 'a' }, ip: 'nope', state: { known_devices: 'x' } }));
    const r = run(['eval', '--context', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: /ip: must be an IPv4 or IPv6 address, or null`);
    expect(r.stderr).toContain(`${file}: /state/known_devices: must be array`);
  });

  it('refuses a bad --at', () => {
    const r = run(['eval', '--context', 'examples/contexts/step-up.json', '--at', 'yesterday']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid time "yesterday"/);
  });
});

describe('mfa-gate test', () => {
  it('runs the shipped suites and prints the count', () => {
    const r = run(['test', 'policies']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('fails with the difference when a test fails', () => {
    const suite = join(tmp, 'wrong_test.yaml');
    writeFileSync(
      suite,
      `name: wrong
policy: ${join(process.cwd(), 'policies/default.yaml')}
options: { now: 2026-06-01T12:00:00Z }
tests:
  - name: a service account is prompted (wrong on purpose)
    input: { user: { id: svc, type: service } }
    expected: { decision: prompt_mfa, enforced: [new_device] }
  - name: a service account is excluded
    input: { user: { id: svc, type: service } }
    expected: { decision: allow, enforced: [excluded] }
`,
    );
    const r = run(['test', suite]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL');
    expect(r.stdout).toContain('decision: expected prompt_mfa, got allow');
    expect(r.stdout).toContain('expected enforced reason new_device');
    expect(r.stdout).toMatch(/^1 passed, 1 failed$/m);
  });

  it('reports a malformed suite with file:line:col', () => {
    const suite = join(tmp, 'malformed_test.yaml');
    writeFileSync(suite, 'name: x\npolicy: p.yaml\ntests:\n  - name: t\n    inptu: {}\n    expected: { decision: allow }\n');
    const r = run(['test', suite]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${suite}:5:5`);
  });
});

describe('mfa-gate', () => {
  it('lists commands on --help and refuses an unknown command', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/validate/);
    expect(run(['frobnicate']).code).toBe(2);
    expect(run(['eval', '--help']).stdout).toMatch(/--context FILE/);
  });

  it('serves /healthz and /v1/decide, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', join(tmp, 'data')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MFA_GATE_API_KEYS: undefined } });
    try {
      const [base, key] = await new Promise<[string, string]>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /listening on (http:\/\/\S+)[\s\S]*shown only now:\s+(\S+)/.exec(out);
          if (m?.[1] && m[2]) resolve([m[1], m[2]]);
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ status: 'ok' });
      const unauthorized = await fetch(`${base}/v1/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(unauthorized.status).toBe(401);
      const res = await fetch(`${base}/v1/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ user: { id: 'alice' }, ip: '81.2.69.142' }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { decision: string }).decision).toBe('allow');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
