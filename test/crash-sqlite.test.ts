// Crash safety of the SQLite store (issue #6): `mfa-gate serve` is killed with SIGKILL while enrollments and
// verifications run against it, then restarted on the same data directory. Every request that had received a
// success must be reflected in the store, and the database must pass PRAGMA integrity_check.
//
// What a success proves (and what is checked after the crash):
//   confirm 200            the user is enrolled: active TOTP, no pending enrollment, the 10 backup codes stored
//   TOTP verify 200        the accepted step is stored (a replay of that code stays rejected)
//   decide 200             the challenge it returned exists
//   verify 200 + challenge the backup code is consumed, the challenge completed, the device known with an MFA time
//   verify 200             the backup code is consumed: replaying it now answers 401 (single use survived)
// A request without an answer when the process died is an unknown outcome: either state is allowed, but never
// a half-applied one (an enrollment is all of factor, codes and enrolled flag, or none of them).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, waitFor } from './helpers/serve.js';

/** Users driven through the whole flow; 7 requests each: ~1,000 requests planned in all. */
const USERS = 144;
const CONCURRENCY = Number(process.env.CRASH_C ?? 32);
/** SIGKILL once this many requests have succeeded: about half the planned load. */
const KILL_AFTER_SUCCESSES = 500;
const BACKUP_CODES = 10; // policies/default.yaml recovery.backup_codes
/** A fixed key (base64, 32 bytes) so the restarted process decrypts the TOTP secrets the first one stored. */
const SECRET_KEY = Buffer.alloc(32, 0x5a).toString('base64');

const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-crash-'));
const dataDir = join(dir, 'data');
const dbFile = join(dataDir, 'mfa-gate.db');

// --- the server as a child process we can SIGKILL ---

interface Server {
  child: ChildProcess;
  base: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

const servers: Server[] = [];

async function startServer(): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['bin/mfa-gate.js', 'serve', '--port', '0', '--data-dir', dataDir, '--policy', 'policies/default.yaml', '--decision-log', join(dir, 'decisions.jsonl')],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MFA_GATE_API_KEYS: API_KEY, MFA_GATE_SECRET_KEY: SECRET_KEY } },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const server: Server = { child, base: '', exited, output: () => out };
  servers.push(server);
  server.base = await waitFor(
    'mfa-gate serve to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`mfa-gate serve exited with ${child.exitCode}:\n${out}`);
      return /listening on (http:\/\/\S+)/.exec(out)?.[1];
    },
    30_000,
  );
  return server;
}

const alive = (s: Server) => s.child.exitCode === null && s.child.signalCode === null;

// --- TOTP codes at a chosen step, as the user's authenticator app computes them ---

const stepNow = () => Math.floor(Date.now() / 30_000);
const codeAt = (secret: string, step: number) =>
  new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: step * 30_000 });

// --- what the client knows: per user, each request's outcome ---

/** yes: a success came back; unknown: sent, no answer (the process died); no: never sent. */
type Outcome = 'yes' | 'unknown' | 'no';

interface UserRecord {
  id: string;
  device: string;
  enroll: Outcome;
  secret?: string;
  confirm: Outcome;
  confirmStep?: number;
  codes: string[];
  totp: Outcome;
  decide: Outcome;
  challenge?: string;
  challengeVerify: Outcome;
  /** Backup codes whose verify answered 200 (the first of them also completed the challenge). */
  consumed: string[];
  /** Backup codes sent without an answer. */
  unknownCodes: string[];
}

const users: UserRecord[] = Array.from({ length: USERS }, (_, i) => ({
  id: `crash-user-${String(i).padStart(4, '0')}`,
  device: `crash-device-${i}`,
  enroll: 'no',
  confirm: 'no',
  codes: [],
  totp: 'no',
  decide: 'no',
  challengeVerify: 'no',
  consumed: [],
  unknownCodes: [],
}));

const load = {
  sent: 0,
  successes: 0,
  inFlight: 0,
  killed: false,
  /** Requests in flight the moment SIGKILL was sent, and successes counted by then. */
  inFlightAtKill: 0,
  successesAtKill: 0,
  /** Of the requests in flight at the kill: answered 200 anyway (written before the process died) / no answer. */
  lateSuccesses: 0,
  unknown: 0,
  /** Any answer that was not a 200: the workload is built so that none happens. */
  unexpected: [] as string[],
  startedAt: 0,
  killedAt: 0,
};

let first: Server;

class Stopped extends Error {}

/** One API request of the load. Resolves with the JSON of a 200; throws Stopped for a request never sent or never answered. */
async function call<T>(path: string, body: unknown): Promise<T> {
  if (load.killed) throw new Stopped('not sent: the server was killed');
  load.sent++;
  load.inFlight++;
  let status: number;
  let json: unknown;
  try {
    const res = await fetch(`${first.base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    status = res.status;
    json = await res.json();
  } catch (err) {
    load.inFlight--;
    load.unknown++;
    if (!load.killed) load.unexpected.push(`${path} failed before the kill: ${(err as Error).message}`);
    throw new Stopped(`no answer: ${(err as Error).message}`);
  }
  load.inFlight--;
  if (status !== 200) {
    load.unexpected.push(`${path} ${JSON.stringify(body)} → ${status} ${JSON.stringify(json)}`);
    throw new Error(`${path} answered ${status}`);
  }
  load.successes++;
  // Answered after the kill: the process had served it and written the answer before it died.
  if (load.killed) load.lateSuccesses++;
  if (!load.killed && load.successes >= KILL_AFTER_SUCCESSES) {
    // Synchronously, from inside a response: the other workers' requests are on the wire or being served.
    load.killed = true;
    load.killedAt = Date.now();
    load.inFlightAtKill = load.inFlight;
    load.successesAtKill = load.successes;
    first.child.kill('SIGKILL');
  }
  return json as T;
}

/** Runs `fn`, marking `set(outcome)`: 'unknown' while in flight, 'yes' once answered 200. */
async function step<T>(set: (o: Outcome) => void, fn: () => Promise<T>): Promise<T> {
  set('unknown');
  try {
    const r = await fn();
    set('yes');
    return r;
  } catch (err) {
    // Never sent (killed before): nothing happened.
    if (err instanceof Stopped && err.message.startsWith('not sent')) set('no');
    throw err;
  }
}

/** One user's whole flow: enroll, confirm, a TOTP verify, a decision and three backup codes (one completing its challenge). */
async function driveUser(u: UserRecord): Promise<void> {
  const enrolled = await step(
    (o) => (u.enroll = o),
    () => call<{ secret: string }>('/v1/mfa/totp/enroll', { user_id: u.id }),
  );
  u.secret = enrolled.secret;

  const confirmStep = stepNow();
  u.confirmStep = confirmStep;
  const confirmed = await step(
    (o) => (u.confirm = o),
    () => call<{ enrolled: true; backup_codes: string[] }>('/v1/mfa/totp/confirm', { user_id: u.id, code: codeAt(u.secret!, confirmStep) }),
  );
  u.codes = confirmed.backup_codes;

  // The confirming step is spent: the next step's code (inside the ±1 window) is a fresh, valid one.
  await step(
    (o) => (u.totp = o),
    () => call<{ factor: string }>('/v1/mfa/verify', { user_id: u.id, code: codeAt(u.secret!, confirmStep + 1) }),
  );

  const decision = await step(
    (o) => (u.decide = o),
    () => call<{ decision: string; challenge_id?: string }>('/v1/decide', { user: { id: u.id }, device_id: u.device }),
  );
  if (decision.challenge_id === undefined) {
    load.unexpected.push(`decide for ${u.id} gave ${decision.decision} without a challenge`);
    return;
  }
  u.challenge = decision.challenge_id;

  for (let i = 0; i < 3; i++) {
    const code = u.codes[i]!;
    const body = i === 0 ? { user_id: u.id, code, challenge_id: u.challenge } : { user_id: u.id, code };
    u.unknownCodes.push(code);
    try {
      const r = await call<{ factor: string; challenge_completed: boolean; backup_codes_remaining: number }>('/v1/mfa/verify', body);
      if (i === 0) u.challengeVerify = 'yes';
      if (r.factor !== 'backup_code' || r.challenge_completed !== (i === 0) || r.backup_codes_remaining !== BACKUP_CODES - 1 - i) {
        load.unexpected.push(`verify ${i} for ${u.id}: ${JSON.stringify(r)}`);
      }
    } catch (err) {
      if (err instanceof Stopped && err.message.startsWith('not sent')) u.unknownCodes.pop();
      else if (i === 0) u.challengeVerify = 'unknown';
      throw err;
    }
    u.unknownCodes.pop();
    u.consumed.push(code);
  }
}

async function runLoad(): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (!load.killed && next < users.length) {
      const u = users[next++]!;
      try {
        await driveUser(u);
      } catch (err) {
        if (!(err instanceof Stopped)) throw err;
      }
    }
  };
  load.startedAt = Date.now();
  const results = await Promise.allSettled(Array.from({ length: CONCURRENCY }, worker));
  for (const r of results) if (r.status === 'rejected') load.unexpected.push(`worker: ${(r.reason as Error).message}`);
}

// --- the run: load, SIGKILL, then the checks below ---

let killedExit: { code: number | null; signal: NodeJS.Signals | null };
let second: Server | undefined;

const acked = {
  enrolled: () => users.filter((u) => u.confirm === 'yes'),
  totp: () => users.filter((u) => u.totp === 'yes'),
  challenges: () => users.filter((u) => u.challengeVerify === 'yes'),
  codes: () => users.reduce((n, u) => n + u.consumed.length, 0),
};

beforeAll(async () => {
  first = await startServer();
  await runLoad();
  killedExit = await first.exited;
}, 60_000);

afterAll(async () => {
  for (const s of servers) if (alive(s)) s.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.exited));
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGKILL of mfa-gate serve under load (SQLite)', () => {
  it('killed the server mid-load: successes recorded and requests still in flight', () => {
    const summary = {
      sent: load.sent,
      successes: load.successes,
      successesAtKill: load.successesAtKill,
      inFlightAtKill: load.inFlightAtKill,
      lateSuccesses: load.lateSuccesses,
      unknown: load.unknown,
      loadMs: load.killedAt - load.startedAt,
      enrolled: acked.enrolled().length,
      totpVerified: acked.totp().length,
      challengesCompleted: acked.challenges().length,
      backupCodesConsumed: acked.codes(),
    };
    console.log('crash-sqlite load:', JSON.stringify(summary));
    expect(load.unexpected).toEqual([]);
    expect(killedExit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(load.killed).toBe(true);
    expect(load.successesAtKill).toBe(KILL_AFTER_SUCCESSES);
    // Not vacuous: the process died with requests on the wire, and had acknowledged hundreds of writes.
    expect(load.inFlightAtKill).toBeGreaterThanOrEqual(CONCURRENCY / 4);
    expect(load.unknown).toBeGreaterThan(0);
    expect(load.successes).toBeGreaterThanOrEqual(KILL_AFTER_SUCCESSES);
    // Not all planned work ran: the kill cut the load short.
    expect(load.sent).toBeLessThan(USERS * 7);
    expect(acked.enrolled().length).toBeGreaterThanOrEqual(50);
    expect(acked.codes()).toBeGreaterThanOrEqual(100);
    // Every request is accounted for: answered, or in flight when the process died.
    expect(load.successes + load.unknown).toBe(load.sent);
  });

  it('left a database that passes PRAGMA integrity_check and holds every acknowledged write', () => {
    // Read-only, before any restart: the file exactly as the crash left it (the WAL is read, not checkpointed).
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      const user = db.prepare<[string], { enrolled_at: number | null }>('SELECT enrolled_at FROM users WHERE id = ?');
      const factor = db.prepare<[string], { last_step: number | null }>('SELECT last_step FROM totp_factors WHERE user_id = ?');
      const pending = db.prepare<[string], number>('SELECT count(*) FROM totp_pending WHERE user_id = ?').pluck();
      const codes = db.prepare<[string], { total: number; used: number }>(
        'SELECT count(*) AS total, count(used_at) AS used FROM backup_codes WHERE user_id = ?',
      );
      const challenge = db.prepare<[string], { completed_at: number | null }>('SELECT completed_at FROM challenges WHERE id = ?');
      const device = db.prepare<[string, string], { last_mfa_at: number | null }>(
        'SELECT last_mfa_at FROM known_devices WHERE user_id = ? AND device_key = ?',
      );
      const missing: string[] = [];
      for (const u of users) {
        const row = user.get(u.id);
        const f = factor.get(u.id);
        const c = codes.get(u.id)!;
        if (u.confirm === 'yes') {
          if (!row || row.enrolled_at === null) missing.push(`${u.id}: acknowledged enrollment, not enrolled`);
          if (!f) missing.push(`${u.id}: acknowledged enrollment, no TOTP factor`);
          if (c.total !== BACKUP_CODES) missing.push(`${u.id}: acknowledged enrollment, ${c.total} backup codes`);
          if (pending.get(u.id) !== 0) missing.push(`${u.id}: acknowledged enrollment, still pending`);
          // Acknowledged consumptions are used; only those and the unanswered ones can be.
          if (c.used < u.consumed.length || c.used > u.consumed.length + u.unknownCodes.length) {
            missing.push(`${u.id}: ${c.used} codes used, acknowledged ${u.consumed.length}, unanswered ${u.unknownCodes.length}`);
          }
        } else {
          // Unknown or never sent: all of the enrollment or none of it.
          const all = row?.enrolled_at != null && f !== undefined && c.total === BACKUP_CODES && c.used === 0;
          const none = (row?.enrolled_at ?? null) === null && f === undefined && c.total === 0;
          if (!(all || none)) missing.push(`${u.id}: half an enrollment: ${JSON.stringify({ row, f, c })}`);
          if (all && pending.get(u.id) !== 0) missing.push(`${u.id}: enrolled and still pending`);
        }
        if (u.totp === 'yes' && !(f && f.last_step !== null && f.last_step >= u.confirmStep! + 1)) {
          missing.push(`${u.id}: acknowledged TOTP verify at step ${u.confirmStep! + 1}, last_step ${f?.last_step}`);
        }
        if (u.decide === 'yes' && !challenge.get(u.challenge!)) missing.push(`${u.id}: acknowledged challenge ${u.challenge} missing`);
        if (u.challengeVerify === 'yes') {
          if (!challenge.get(u.challenge!)?.completed_at) missing.push(`${u.id}: acknowledged completion of ${u.challenge}, not completed`);
          if (!device.get(u.id, u.device)?.last_mfa_at) missing.push(`${u.id}: acknowledged MFA on ${u.device}, device unknown or without MFA time`);
        }
      }
      expect(missing).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('restarts on the same data directory and answers for every acknowledged success', { timeout: 60_000 }, async () => {
    second = await startServer();
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${second!.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    type State = { enrolled: boolean; totp: { active: boolean; pending: boolean }; backup_codes_remaining: number; known_devices: { key: string; last_mfa_at: string | null }[] };

    const failures: string[] = [];
    let checkedUsers = 0;
    let replayedCodes = 0;
    const checkUser = async (u: UserRecord) => {
      if (u.enroll === 'no') return;
      const got = await api('GET', `/v1/users/${u.id}/mfa`);
      if (u.confirm !== 'yes') {
        // Unknown outcome: either not there yet, pending, or wholly enrolled; never enrolled without the factor.
        if (got.status === 200) {
          const s = got.body as unknown as State;
          if (s.enrolled !== s.totp.active || (s.enrolled && s.totp.pending)) failures.push(`${u.id}: inconsistent ${JSON.stringify(s)}`);
        } else if (got.status !== 404) failures.push(`${u.id}: GET → ${got.status}`);
        return;
      }
      checkedUsers++;
      if (got.status !== 200) return void failures.push(`${u.id}: acknowledged enrollment, GET → ${got.status} ${JSON.stringify(got.body)}`);
      const s = got.body as unknown as State;
      if (!s.enrolled || !s.totp.active || s.totp.pending) failures.push(`${u.id}: acknowledged enrollment, state ${JSON.stringify(s)}`);
      const hi = BACKUP_CODES - u.consumed.length;
      const lo = hi - u.unknownCodes.length;
      if (s.backup_codes_remaining < lo || s.backup_codes_remaining > hi) {
        failures.push(`${u.id}: ${s.backup_codes_remaining} backup codes remaining, expected ${lo}..${hi}`);
      }
      if (u.challengeVerify === 'yes' && !s.known_devices.some((d) => d.key === u.device && d.last_mfa_at !== null)) {
        failures.push(`${u.id}: acknowledged MFA on ${u.device}, devices ${JSON.stringify(s.known_devices)}`);
      }
      // Single use survived the crash: each acknowledged code is refused (at most 3 failures: below the backoff of 5).
      for (const code of u.consumed) {
        replayedCodes++;
        const r = await api('POST', '/v1/mfa/verify', { user_id: u.id, code });
        if (r.status !== 401 || r.body.error !== 'invalid_code') failures.push(`${u.id}: replay of consumed ${code} → ${r.status} ${JSON.stringify(r.body)}`);
      }
      const unused = u.codes[BACKUP_CODES - 1]!;
      // A completed challenge stays completed (checked before the code, which it therefore does not spend).
      if (u.challengeVerify === 'yes') {
        const r = await api('POST', '/v1/mfa/verify', { user_id: u.id, code: unused, challenge_id: u.challenge });
        if (r.status !== 400 || r.body.error !== 'invalid_challenge') failures.push(`${u.id}: completed challenge reused → ${r.status} ${JSON.stringify(r.body)}`);
      }
      // A code never sent still works, once: the codes and the key survived.
      const fresh = await api('POST', '/v1/mfa/verify', { user_id: u.id, code: unused });
      if (fresh.status !== 200 || fresh.body.backup_codes_remaining !== s.backup_codes_remaining - 1) {
        failures.push(`${u.id}: unused code → ${fresh.status} ${JSON.stringify(fresh.body)} (had ${s.backup_codes_remaining})`);
      }
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < users.length) await checkUser(users[next++]!);
      }),
    );
    console.log('crash-sqlite after restart:', JSON.stringify({ checkedUsers, replayedCodes }));
    expect(failures).toEqual([]);
    expect(checkedUsers).toBe(acked.enrolled().length);
    expect(replayedCodes).toBe(acked.codes());
    // The acknowledged successes checked, one by one: enrollments, TOTP steps, challenges and consumed codes.
    expect(acked.enrolled().length + acked.totp().length + acked.challenges().length + acked.codes()).toBeGreaterThanOrEqual(300);
  });

  it('keeps a working schema: a new enrollment, confirmation and verification after the restart', async () => {
    expect(second && alive(second)).toBe(true);
    const post = (path: string, body: unknown) =>
      fetch(`${second!.base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const id = 'crash-user-after-restart';
    const enroll = await post('/v1/mfa/totp/enroll', { user_id: id });
    expect(enroll.status).toBe(200);
    const { secret } = (await enroll.json()) as { secret: string };
    const s = stepNow();
    const confirm = await post('/v1/mfa/totp/confirm', { user_id: id, code: codeAt(secret, s) });
    expect(confirm.status).toBe(200);
    const { backup_codes } = (await confirm.json()) as { backup_codes: string[] };
    expect(backup_codes).toHaveLength(BACKUP_CODES);
    expect((await post('/v1/mfa/verify', { user_id: id, code: codeAt(secret, s + 1) })).status).toBe(200);
    expect((await post('/v1/mfa/verify', { user_id: id, code: backup_codes[0] })).status).toBe(200);
    expect((await post('/v1/mfa/verify', { user_id: id, code: backup_codes[0] })).status).toBe(401);
  });

  it('stops cleanly on SIGTERM and the database still passes PRAGMA integrity_check', async () => {
    second!.child.kill('SIGTERM');
    expect(await second!.exited).toEqual({ code: 0, signal: null });
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    } finally {
      db.close();
    }
  });
});
