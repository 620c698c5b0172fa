// The seed's command-line flow against a real store file: enroll (QR in the terminal, confirm with a code,
// backup codes printed), verify (exit 0 / 1), users.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = 'bin/mfa-gate.js';
const tmp = mkdtempSync(join(tmpdir(), 'mfa-gate-cli-factors-'));
const db = join(tmp, 'data', 'mfa-gate.db');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const env = { ...process.env, MFA_GATE_SECRET_KEY: undefined, MFA_GATE_LOG_LEVEL: 'warn' };

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--db', db], { encoding: 'utf8', timeout: 30_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const totp = (secret: string) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });

/** Runs `enroll`, answering its prompt with a code computed from the URI it printed. */
function enroll(user: string, codeFor: (secret: string) => string): Promise<{ code: number | null; stdout: string; stderr: string; secret: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'enroll', '--user', user, '--issuer', 'ACME Co', '--db', db], { env });
    let stdout = '';
    let stderr = '';
    let secret = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      const m = /secret=([A-Z2-7]+)/.exec(stdout);
      if (m?.[1] && !secret) {
        secret = m[1];
        child.stdin.end(`${codeFor(secret)}\n`);
      }
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr, secret }));
  });
}

describe('mfa-gate enroll / verify / users', () => {
  let confirmingCode = '';
  let backup: string[] = [];

  it('enrolls with a terminal QR code, a confirming code and backup codes printed once', async () => {
    const r = await enroll('john.doe@email.com', (s) => (confirmingCode = totp(s).generate()));
    expect(r.stderr).toMatch(/generated a new secret key/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('otpauth://totp/ACME%20Co:john.doe@email.com?secret=');
    expect(r.stdout).toMatch(/[█▀▄]/); // the QR code drawn with block characters
    backup = [...r.stdout.matchAll(/^ {2}([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$/gm)].map((m) => m[1] as string);
    expect(backup).toHaveLength(10);
  });

  it('verifies a backup code once, with a clear message and exit code', () => {
    const ok = run(['verify', '--user', 'john.doe@email.com', '--code', backup[0] as string]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok: backup code verified .* 9 backup codes left/);
    const again = run(['verify', '--user', 'john.doe@email.com', '--code', backup[0] as string]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/invalid: the code is not valid/);
  });

  it('rejects the enrollment code replayed', () => {
    // The confirming code's step is the last accepted one: that code, even still inside the window, is a replay.
    const r = run(['verify', '--user', 'john.doe@email.com', '--code', confirmingCode]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid: the code is not valid/);
  });

  it('lists users with their enrollment state and backup codes left', () => {
    const r = run(['users']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/john\.doe@email\.com\s+enrolled \d{4}-\d{2}-\d{2}\s+9/);
    const json = JSON.parse(run(['users', '--json']).stdout);
    expect(json[0]).toMatchObject({ id: 'john.doe@email.com', backup_codes_remaining: 9 });
  });

  it('fails enrollment with a wrong code and says so', async () => {
    const r = await enroll('jane', (s) => String((Number(totp(s).generate()) + 1) % 1_000_000).padStart(6, '0'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the code is not valid/);
    expect(run(['users']).stdout).not.toMatch(/^jane\s+enrolled/m);
  });

  it('refuses missing options with usage', () => {
    expect(run(['verify', '--user', 'x']).code).toBe(2);
  });
});
