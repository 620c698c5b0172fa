// The decision log's line format and writer: the state converts exactly both ways, the context carries only
// what the normaliser produced, lines reach a stream or a file, and neither decisions nor the factor audit
// events that share the log put a code or a secret into it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as OTPAuth from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createDecisionLog,
  decisionJson,
  decisionLineText,
  decisionLogLine,
  stateFromLogged,
  stateToLogged,
  type DecisionLogLine,
} from './decision-log.js';
import { DecisionEngine, type DecisionRecord } from './engine.js';
import { loadKeyring } from './factors/crypto.js';
import { FactorService } from './factors/service.js';
import { loadPolicy } from './policy/index.js';
import { validator } from './schemas.js';
import { openSqliteStore, type SqliteStore } from './store/index.js';
import { EMPTY_STATE, type UserState } from './types.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const LONDON = '81.2.69.142';
const T0 = Date.parse('2026-06-01T12:00:10Z');

const policy = loadPolicy('policies/default.yaml');

function collector() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines, text: () => chunks.join('') };
}

/** Every key anywhere in a JSON value. */
function keysOf(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) keysOf(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      keysOf(v, out);
    }
  }
  return out;
}

const FULL_STATE: UserState = {
  enrolled: true,
  enrolled_at: T0 - 86_400_000,
  first_seen: T0 - 2 * 86_400_000,
  known_devices: ['dev-a', 'dev-b'],
  known_locations: ['GB', 'GB/ENG/St Albans'],
  last_login: { time: T0 - 3_600_000, ip: LONDON },
  last_mfa: { time: T0 - 60_000, device: 'dev-a' },
  failed_attempts: 2,
  enrollment_deadline: T0 + 123,
  recovery_due_at: T0 + 86_400_001,
};

describe('the logged state', () => {
  it('converts exactly both ways, every UserState field included', () => {
    const logged = stateToLogged(FULL_STATE);
    expect(logged).toEqual({
      enrolled: true,
      enrolled_at: '2026-05-31T12:00:10.000Z',
      first_seen: '2026-05-30T12:00:10.000Z',
      known_devices: ['dev-a', 'dev-b'],
      known_locations: ['GB', 'GB/ENG/St Albans'],
      last_login: { time: '2026-06-01T11:00:10.000Z', ip: LONDON },
      last_mfa: { time: '2026-06-01T11:59:10.000Z', device: 'dev-a' },
      failed_attempts: 2,
      enrollment_deadline: '2026-06-01T12:00:10.123Z',
      recovery_due_at: '2026-06-02T12:00:10.001Z',
    });
    expect(stateFromLogged(JSON.parse(JSON.stringify(logged)))).toEqual(FULL_STATE);
    // Every UserState key is written, so a field added to UserState without a conversion fails here.
    expect(Object.keys(logged).sort()).toEqual(Object.keys(FULL_STATE).sort());
  });

  it('round-trips the empty state and a state with nulls', () => {
    expect(stateFromLogged(JSON.parse(JSON.stringify(stateToLogged(EMPTY_STATE))))).toEqual(EMPTY_STATE);
    const partial: UserState = { ...FULL_STATE, enrolled: false, enrolled_at: null, last_mfa: null, last_login: { time: T0, ip: null } };
    expect(stateFromLogged(stateToLogged(partial))).toEqual(partial);
  });

  it('is the inline state of schemas/user-state.schema.json while no recovery is open', () => {
    const validate = validator('user-state');
    expect(validate(stateToLogged({ ...FULL_STATE, recovery_due_at: null }))).toBe(true);
    expect(validate(stateToLogged(EMPTY_STATE))).toBe(true);
  });

  it('refuses a bad recovery time', () => {
    expect(() => stateFromLogged({ recovery_due_at: 'soon' })).toThrow(/invalid time "soon"/);
  });
});

function record(over: Partial<DecisionRecord> = {}): DecisionRecord {
  const context = {
    user: { id: 'alice', type: 'human' as const, groups: ['staff'], mfa_required_since: '2026-01-01T00:00:00Z' },
    ip: LONDON,
    user_agent: CHROME,
    device_id: 'dev-a',
    action: 'login',
    sensitive: false,
    attributes: { employment: 'staff' },
  };
  return {
    decision: {
      decision: 'prompt_mfa',
      reasons: [{ rule: 'new_device', decision: 'prompt_mfa', enforced: true, detail: 'first login from this device' }],
      risk: { score: 30, signals: { new_device: true } as never },
      enrollment: { enrolled: true, allowed_now: true },
      policy: { version: 'v1' },
      decision_id: 'd-1',
      challenge_id: 'c-1',
    },
    time: T0,
    context,
    state: FULL_STATE,
    signals: { new_device: true } as never,
    facts: { device_key: 'dev-a', location_key: 'GB' } as never,
    latency_ms: 0.123456,
    ...over,
  };
}

describe('decisionLogLine', () => {
  it('writes the fields replay needs, in the documented shape', () => {
    const line = decisionLogLine(record());
    expect(line).toEqual({
      type: 'decision',
      decision_id: 'd-1',
      decided_at: '2026-06-01T12:00:10.000Z',
      policy: { version: 'v1' },
      context: record().context,
      state: stateToLogged(FULL_STATE),
      signals: { new_device: true },
      facts: { device_key: 'dev-a', location_key: 'GB' },
      decision: 'prompt_mfa',
      reasons: record().decision.reasons,
      risk: { score: 30 },
      enrollment: { enrolled: true, allowed_now: true },
      challenge_id: 'c-1',
      latency_ms: 0.123,
    });
  });

  it('copies nothing into the context but the normalised fields', () => {
    const r = record();
    Object.assign(r.context, { password: 'hunter2', code: '123456' });
    Object.assign(r.context.user, { secret: 'JBSWY3DPEHPK3PXP' });
    const text = JSON.stringify(decisionLogLine(r));
    expect(text).not.toMatch(/hunter2|123456|JBSWY3DPEHPK3PXP/);
    expect(Object.keys(decisionLogLine(r).context).sort()).toEqual(['action', 'attributes', 'device_id', 'ip', 'sensitive', 'user', 'user_agent']);
  });

  it('logs a null state (store down) and no challenge for an allow', () => {
    const r = record({ state: null });
    r.decision = { ...r.decision, decision: 'allow' };
    delete r.decision.challenge_id;
    const line = decisionLogLine(r);
    expect(line.state).toBeNull();
    expect('challenge_id' in line).toBe(false);
  });
});

describe('decision lines and answers as text', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mfa-gate-dlog-text-'));
    store = openSqliteStore({ path: join(dir, 'store.db') });
  });
  afterEach(async () => {
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  // What the decision log and the decide route wrote before they serialised field by field.
  const genericLine = (r: DecisionRecord, time: number) =>
    `{"level":30,"time":${time},"service":"mfa-gate",${JSON.stringify(decisionLogLine(r)).slice(1)}\n`;
  const expectSameText = (r: DecisionRecord) => {
    expect(decisionJson(r)).toBe(JSON.stringify(r.decision));
    expect(decisionLineText(r, 1_780_000_000_123)).toBe(genericLine(r, 1_780_000_000_123));
    // Without the answer first (the gateway hook, the engine's own callers), and the answer alone.
    expect(decisionLineText(r, 7)).toBe(genericLine(r, 7));
    expect(decisionJson(r)).toBe(JSON.stringify(r.decision));
  };

  // Strings JSON.stringify escapes, or writes as they are: quotes, backslashes, controls, DEL, U+2028, non-BMP,
  // lone surrogates (the engine takes them; the HTTP layer refuses them), non-Latin-1.
  const ODD = ['"quoted"', 'back\\slash', 'tab\there', 'nul\u0000', '\u007f', 'line\u2028sep', '😀 emoji', 'lone \ud800', '\udfff', 'Zürich 東京', ''];

  it('are byte for byte what JSON.stringify writes, for every kind of decision the engine makes', async () => {
    let now = T0;
    const engine = new DecisionEngine({ store, policy, clock: () => now });
    await store.setEnrolled('enrolled', T0 - 90 * 86_400_000);
    const contexts = [
      { user: { id: 'enrolled', groups: ['staff', 'admins'] }, ip: LONDON, user_agent: CHROME, device_id: 'dev-a' },
      { user: { id: 'enrolled' }, ip: '2001:4860:4860::8888', user_agent: CHROME, action: 'payment.refund' },
      { user: { id: 'enrolled' }, ip: null, user_agent: '', sensitive: true },
      { user: { id: 'enrolled' }, ip: '10.0.0.1', user_agent: 'curl/8.0', device_id: 'dev-b', action: 'admin.users.delete' },
      { user: { id: 'newcomer', type: 'service' as const, mfa_required_since: '2026-01-01T00:00:00Z' }, ip: LONDON },
      { user: { id: 'attrs' }, ip: LONDON, attributes: { tier: 'gold', n: 1.5, deep: { list: [1, null, 'x', { y: true }] } } },
      ...ODD.map((odd, i) => ({
        user: { id: `odd-${i}${odd}`, groups: [odd || 'g'] },
        ip: LONDON,
        user_agent: `${CHROME} ${odd}`,
        device_id: `dev-${i}`,
        action: `act${odd}`,
        attributes: { [odd]: odd },
      })),
    ];
    let seen = 0;
    const kinds = new Set<string>();
    for (const ctx of contexts) {
      for (let round = 0; round < 3; round++) {
        const r = await engine.decideDetailed(ctx);
        expectSameText(r);
        kinds.add(r.decision.decision);
        seen++;
        // Completing a challenge makes the device and location known: the next round is an allow with history.
        if (r.decision.challenge_id !== undefined) await engine.completeChallenge(r.decision.challenge_id);
        now += 61_000;
      }
    }
    expect(seen).toBe(contexts.length * 3);
    expect([...kinds].sort()).toEqual(['allow', 'prompt_mfa', 'require_mfa']);

    // A state with an open recovery, every time on another day, odd numbers.
    const r = await engine.decideDetailed(contexts[0]!);
    expectSameText({ ...r, state: { ...r.state!, recovery_due_at: T0 + 3 * 86_400_000 + 1, failed_attempts: 3 }, latency_ms: 1e-7 });
    expectSameText({ ...r, time: Date.parse('1999-12-31T23:59:59.999Z'), latency_ms: 12345.6789 });

    // The store down: no state, the fail mode's reason.
    await store.close();
    const down = await new DecisionEngine({ store, policy, clock: () => now }).decideDetailed(contexts[0]!);
    expect(down.state).toBeNull();
    expectSameText(down);
  });

  it('falls back to the generic serialisation for a record the engine would not build', () => {
    const partial = record(); // signals and facts with fields missing
    expectSameText(partial);
    expectSameText({ ...partial, context: { ...partial.context, attributes: { when: new Date(T0), skip: undefined } as never } });
    // A time Date cannot write throws, as it always did.
    expect(() => decisionLineText({ ...partial, time: Number.NaN }, 1)).toThrow(RangeError);
    expect(() => decisionLogLine({ ...partial, time: Number.NaN })).toThrow(RangeError);
  });

  it('keeps the text of frozen shared objects only, so a mutable one is written as it is now', async () => {
    const engine = new DecisionEngine({ store, policy, clock: () => T0 });
    const r = await engine.decideDetailed({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME });
    expect(Object.isFrozen(r.facts.device)).toBe(true);
    expectSameText(r);
    const geo = { ...r.facts.geo! };
    const mutable = { ...r, facts: { ...r.facts, geo } };
    expectSameText(mutable);
    geo.city = 'Somewhere "else"';
    expect(decisionLineText(mutable, 1)).toContain('"city":"Somewhere \\"else\\""');
    expectSameText(mutable);
  });
});

describe('createDecisionLog', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mfa-gate-dlog-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes pino lines to a stream: decisions and audit events side by side', async () => {
    const sink = collector();
    const log = createDecisionLog({ destination: sink.stream });
    log.write(record());
    log.audit({ event: 'factor.verified', user_id: 'alice', factor: 'totp' });
    await log.close();
    const [decision, audit] = sink.lines();
    expect(decision).toMatchObject({ level: 30, type: 'decision', decision_id: 'd-1', decided_at: '2026-06-01T12:00:10.000Z' });
    expect(typeof decision!.time).toBe('number');
    expect(audit).toMatchObject({ level: 30, audit: true, event: 'factor.verified', user_id: 'alice', msg: 'factor.verified' });
    // The caller's stream is theirs: closing the log does not end it.
    expect(sink.stream.writableEnded).toBe(false);
  });

  it('logs at info whatever MFA_GATE_LOG_LEVEL says', async () => {
    const before = process.env.MFA_GATE_LOG_LEVEL;
    process.env.MFA_GATE_LOG_LEVEL = 'error';
    try {
      const sink = collector();
      const log = createDecisionLog({ destination: sink.stream });
      log.write(record());
      await log.flush();
      expect(sink.lines()).toHaveLength(1);
    } finally {
      if (before === undefined) delete process.env.MFA_GATE_LOG_LEVEL;
      else process.env.MFA_GATE_LOG_LEVEL = before;
    }
  });

  it('appends to a file, creating its directory; flush and close write everything', async () => {
    const file = join(dir, 'nested', 'deeper', 'decisions.jsonl');
    writeFileSync(join(dir, 'placeholder'), '');
    const log = createDecisionLog({ destination: file });
    expect(existsSync(file)).toBe(true);
    for (let i = 0; i < 500; i++) log.write(record({ decision: { ...record().decision, decision_id: `d-${i}` } }));
    await log.flush();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(500);
    log.audit({ event: 'recovery.opened', user_id: 'alice' });
    await log.close();
    await log.close(); // idempotent
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DecisionLogLine & { event?: string });
    expect(lines).toHaveLength(501);
    expect(lines[499]!.decision_id).toBe('d-499');
    expect(lines[500]!.event).toBe('recovery.opened');

    // Appends, never truncates.
    const again = createDecisionLog({ destination: file });
    again.write(record());
    await again.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(502);
  });

  it('fails at construction, not on the first write, when the file cannot be opened', () => {
    writeFileSync(join(dir, 'a-file'), '');
    expect(() => createDecisionLog({ destination: join(dir, 'a-file', 'decisions.jsonl') })).toThrow(/ENOTDIR|EEXIST/);
    expect(() => createDecisionLog({ destination: dir })).toThrow(/EISDIR/);
  });
});

describe('nothing secret in the log', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mfa-gate-dlog-secret-'));
    store = openSqliteStore({ path: join(dir, 'store.db') });
  });
  afterEach(async () => {
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds decisions and the factor audit events of a full enrollment, but no code or secret', async () => {
    const sink = collector();
    const log = createDecisionLog({ destination: sink.stream });
    let now = T0;
    const engine = new DecisionEngine({ store, policy, clock: () => now, audit: (e) => log.audit(e) });
    const factors = new FactorService({
      store,
      policy,
      keyring: loadKeyring({ env: {}, dataDir: dir, log: () => {} }),
      clock: () => now,
      audit: (e) => log.audit(e),
      completeChallenge: (id) => engine.completeChallenge(id),
    });
    const seen: string[] = [];
    const login = async (action?: string) => {
      const r = await engine.decideDetailed({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, ...(action ? { action } : {}) });
      log.write(r);
      return r.decision;
    };

    // Enrolled before any login: with login history a first enrollment needs an approving challenge.
    const enrolled = await factors.enrollTotp({ user_id: 'alice' });
    if (!enrolled.ok) throw new Error(enrolled.message);
    seen.push(enrolled.secret, enrolled.otpauth_uri);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret) });
    const code = () => totp.generate({ timestamp: now });
    const first = code();
    seen.push(first);
    const confirmed = await factors.confirmTotp({ user_id: 'alice', code: first });
    if (!confirmed.ok) throw new Error(confirmed.message);
    seen.push(...confirmed.backup_codes);

    now += 60_000;
    await login();
    const step = await login('password.change');
    expect(step.decision).toBe('require_mfa');
    const second = code();
    seen.push(second);
    expect(await factors.verify({ user_id: 'alice', code: second, challenge_id: step.challenge_id! })).toMatchObject({ ok: true });
    expect(await factors.verify({ user_id: 'alice', code: '000000' })).toMatchObject({ ok: false });
    expect(await factors.verify({ user_id: 'alice', code: confirmed.backup_codes[0]! })).toMatchObject({ ok: true });
    await log.close();

    const lines = sink.lines();
    const events = lines.filter((l) => l.audit === true).map((l) => l.event);
    expect(events).toEqual(expect.arrayContaining(['totp.enrollment_started', 'totp.enrolled', 'factor.verified']));
    expect(lines.filter((l) => l.type === 'decision')).toHaveLength(2);
    const keys = keysOf(lines);
    for (const k of ['code', 'secret', 'otpauth_uri', 'qr', 'password']) expect(keys.has(k)).toBe(false);
    for (const s of seen) expect(sink.text()).not.toContain(s);
  });

  it('redacts a code or secret an audit event carries by mistake', async () => {
    const sink = collector();
    const log = createDecisionLog({ destination: sink.stream });
    log.audit({ event: 'oops', user_id: 'alice', code: '123456', details: { secret: 'JBSWY3DPEHPK3PXP' } });
    await log.flush();
    expect(sink.text()).not.toMatch(/123456|JBSWY3DPEHPK3PXP/);
    expect(sink.lines()[0]).toMatchObject({ code: '[redacted]', details: { secret: '[redacted]' } });
  });
});
