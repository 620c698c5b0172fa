// Real files in a temp dir and the real fs.watch: the point is how editors and deployments actually replace files.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { PolicyError } from '../errors.js';
import { PolicyHolder, type HolderLog, type PolicyHolderOptions, type ReloadResult } from './holder.js';

const SEED = readFileSync('policies/default.yaml', 'utf8');
/** The seed policy with another grace period (each value a distinct version). */
const policy = (grace = '30_days') => SEED.replace('grace_period: 30_days', `grace_period: ${grace}`);
// A misspelt key on line 3, column 3.
const MISSPELT = policy().replace('grace_period', 'grace_perod');
const versionOf = (text: string) => createHash('sha256').update(text).digest('hex');
const DAY = 86_400;

// Generous: the suite must hold on a loaded two-core machine; a passing wait returns as soon as it can.
const WAIT_MS = 5_000;

async function waitFor(cond: () => boolean, timeoutMs = WAIT_MS, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let dir: string;
let file: string;
let holders: PolicyHolder[];
let log: { info: Mock<HolderLog['info']>; error: Mock<HolderLog['error']> };

function open(over: Partial<PolicyHolderOptions> = {}): PolicyHolder {
  const h = new PolicyHolder({ path: file, log, debounceMs: 20, pollIntervalMs: 50, ...over });
  holders.push(h);
  return h;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mfa-gate-holder-'));
  file = join(dir, 'policy.yaml');
  writeFileSync(file, policy());
  holders = [];
  log = { info: vi.fn<HolderLog['info']>(), error: vi.fn<HolderLog['error']>() };
});

afterEach(() => {
  for (const h of holders) h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('PolicyHolder construction', () => {
  it('loads the policy at once', () => {
    const h = open();
    expect(h.current.version).toBe(versionOf(policy()));
    expect(h.current.enforcement.grace_period_s).toBe(30 * DAY);
    expect(h.lastError).toBeNull();
    expect([h.reloads, h.failedReloads]).toEqual([0, 0]);
    expect(h.watchMode).toBe('watch');
    expect(open({ watch: false }).watchMode).toBe('off');
  });

  it('fails fast on an invalid or missing initial policy', () => {
    writeFileSync(file, MISSPELT);
    expect(() => open()).toThrow(PolicyError);
    expect(() => open()).toThrow(`${file}:3:3 mfa_enforcement.grace_perod: unknown key`);
    expect(() => open({ path: join(dir, 'nope.yaml') })).toThrow(/cannot read the policy file \(ENOENT\)/);
  });

  it('rejects invalid options', () => {
    expect(() => open({ path: '' })).toThrow(TypeError);
    expect(() => open({ debounceMs: -1 })).toThrow(RangeError);
    expect(() => open({ debounceMs: 1.5 })).toThrow(RangeError);
    expect(() => open({ pollIntervalMs: 0 })).toThrow(RangeError);
    expect(() => open({ log: {} as never })).toThrow(TypeError);
    expect(() => open({ onReload: 'x' as never })).toThrow(TypeError);
  });
});

describe('PolicyHolder.reload', () => {
  it('keeps the same object for identical bytes (changed: false)', () => {
    const h = open({ watch: false });
    const before = h.current;
    const r = h.reload('manual');
    expect(r).toEqual({ ok: true, reason: 'manual', version: before.version, previous: before.version, changed: false });
    expect(h.current).toBe(before);
    expect(h.reloads).toBe(1);
  });

  it('swaps a valid edit in and reports an invalid one without throwing', () => {
    const results: ReloadResult[] = [];
    const h = open({ watch: false, onReload: (r) => results.push(r), clock: () => 1234 });
    writeFileSync(file, MISSPELT);
    const bad = h.reload();
    expect(bad.ok).toBe(false);
    expect(h.current.version).toBe(versionOf(policy()));
    expect(h.lastError).toEqual({
      at: 1234,
      message: `${file}:3:3 mfa_enforcement.grace_perod: unknown key (did you mean grace_period?)`,
      problems: [expect.objectContaining({ file, line: 3, col: 3, path: 'mfa_enforcement.grace_perod' })],
    });
    writeFileSync(file, policy('14_days'));
    const good = h.reload();
    expect(good).toMatchObject({ ok: true, changed: true, version: versionOf(policy('14_days')) });
    expect(h.current.enforcement.grace_period_s).toBe(14 * DAY);
    expect(h.lastError).toBeNull();
    expect(results).toEqual([bad, good]);
    expect([h.reloads, h.failedReloads]).toEqual([1, 1]);
  });

  it('survives an onReload callback that throws', () => {
    const h = open({ watch: false, onReload: () => { throw new Error('boom'); } });
    expect(h.reload().ok).toBe(true);
    expect(log.error).toHaveBeenCalledWith(expect.objectContaining({ event: 'policy_onreload_failed' }), expect.any(String));
  });
});

describe('PolicyHolder watching', () => {
  it('picks up a valid edit written in place', async () => {
    const h = open();
    writeFileSync(file, policy('14_days'));
    await waitFor(() => h.current.version === versionOf(policy('14_days')), WAIT_MS, 'the new version');
    expect(h.current.enforcement.grace_period_s).toBe(14 * DAY);
    expect(h.failedReloads).toBe(0);
    expect(log.info).toHaveBeenCalledWith(expect.objectContaining({ event: 'policy_reloaded', reason: 'watch', changed: true }), expect.any(String));
  });

  it('picks up an edit saved by writing a temp file and renaming it over (vim, IDEs)', async () => {
    const h = open();
    for (const grace of ['7_days', '3_days']) {
      const tmp = join(dir, `.policy.yaml.${grace}.tmp`);
      writeFileSync(tmp, policy(grace));
      renameSync(tmp, file);
      await waitFor(() => h.current.version === versionOf(policy(grace)), WAIT_MS, `version with ${grace}`);
    }
    expect(h.current.enforcement.grace_period_s).toBe(3 * DAY);
    expect(h.failedReloads).toBe(0);
  });

  it('reloads once for a burst of writes, and ends on the last one', async () => {
    const h = open({ debounceMs: 50 });
    // One synchronous burst: every event is queued before the event loop can run the debounce timer.
    for (const grace of ['1_day', '2_days', '3_days', '4_days', '5_days']) writeFileSync(file, policy(grace));
    await waitFor(() => h.current.version === versionOf(policy('5_days')), WAIT_MS, 'the last version');
    expect(h.reloads).toBe(1);
  });

  it('rejects an invalid edit, keeps serving, and recovers when it is fixed', async () => {
    const h = open();
    const served = h.current;
    writeFileSync(file, MISSPELT);
    await waitFor(() => h.lastError !== null, WAIT_MS, 'lastError');
    const problem = `${file}:3:3 mfa_enforcement.grace_perod: unknown key (did you mean grace_period?)`;
    expect(h.current).toBe(served);
    expect(h.lastError?.message).toBe(problem);
    expect(h.lastError?.problems).toEqual([expect.objectContaining({ file, line: 3, col: 3 })]);
    expect(h.failedReloads).toBeGreaterThanOrEqual(1);
    expect(h.reloads).toBe(0);
    expect(log.error).toHaveBeenCalledWith(expect.objectContaining({ event: 'policy_problem', line: 3, col: 3 }), problem);

    writeFileSync(file, policy('14_days'));
    await waitFor(() => h.lastError === null, WAIT_MS, 'lastError cleared');
    expect(h.current.version).toBe(versionOf(policy('14_days')));
  });

  it('keeps serving when the file is removed, and reloads when it reappears', async () => {
    const h = open();
    const served = h.current;
    unlinkSync(file);
    await waitFor(() => h.lastError !== null, WAIT_MS, 'lastError');
    expect(h.current).toBe(served);
    expect(h.lastError?.message).toBe(`${file}:1:1 policy file ${file} was removed`);
    expect(h.failedReloads).toBeGreaterThanOrEqual(1);

    writeFileSync(file, policy('14_days'));
    await waitFor(() => h.current.version === versionOf(policy('14_days')), WAIT_MS, 'the recreated policy');
    expect(h.lastError).toBeNull();
  });

  it('falls back to polling when the whole directory goes away, and reloads when it is back', async () => {
    const h = open();
    const served = h.current;
    rmSync(dir, { recursive: true });
    await waitFor(() => h.watchMode === 'poll' && h.lastError !== null, WAIT_MS, 'polling with lastError');
    expect(h.current).toBe(served);
    expect(h.lastError?.message).toMatch(/was removed$/);

    mkdirSync(dir);
    writeFileSync(file, policy('14_days'));
    await waitFor(() => h.current.version === versionOf(policy('14_days')), WAIT_MS, 'the policy back');
    expect(h.lastError).toBeNull();
  });

  it('follows a symlinked policy whose target is swapped (a Kubernetes ConfigMap)', async () => {
    // The kubelet's layout: policy.yaml -> ..data/policy.yaml, ..data -> ..v1; an update renames a new link over ..data.
    rmSync(file);
    for (const [v, grace] of [['..v1', '30_days'], ['..v2', '14_days']] as const) {
      mkdirSync(join(dir, v));
      writeFileSync(join(dir, v, 'policy.yaml'), policy(grace));
    }
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/policy.yaml', file);
    const h = open();
    expect(h.current.version).toBe(versionOf(policy()));
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor(() => h.current.version === versionOf(policy('14_days')), WAIT_MS, 'the swapped version');
  });

  it('stops reloading after close()', async () => {
    const h = open();
    h.close();
    expect(h.watchMode).toBe('off');
    // A second holder on the same file is the witness: once it has seen the edit, so would the closed one have.
    const witness = open();
    writeFileSync(file, policy('14_days'));
    await waitFor(() => witness.current.version === versionOf(policy('14_days')), WAIT_MS, 'the witness');
    await new Promise((r) => setTimeout(r, 100));
    expect(h.current.version).toBe(versionOf(policy()));
    expect(h.reloads + h.failedReloads).toBe(0);
  });
});

describe('PolicyHolder SIGHUP', () => {
  it('reloads on SIGHUP until disposed or closed', () => {
    const baseline = process.listenerCount('SIGHUP');
    const h = open({ watch: false });
    const dispose = h.installSighup();
    expect(h.installSighup()).toBeTypeOf('function'); // idempotent: still one listener
    expect(process.listenerCount('SIGHUP')).toBe(baseline + 1);

    writeFileSync(file, policy('14_days'));
    process.emit('SIGHUP');
    expect(h.current.version).toBe(versionOf(policy('14_days')));
    expect(log.info).toHaveBeenCalledWith(expect.objectContaining({ reason: 'sighup', changed: true }), expect.any(String));

    dispose();
    expect(process.listenerCount('SIGHUP')).toBe(baseline);
    writeFileSync(file, policy('7_days'));
    process.emit('SIGHUP');
    expect(h.current.version).toBe(versionOf(policy('14_days')));

    h.installSighup();
    expect(process.listenerCount('SIGHUP')).toBe(baseline + 1);
    h.close();
    expect(process.listenerCount('SIGHUP')).toBe(baseline);
    expect(() => h.installSighup()).toThrow(/closed/);
  });
});
