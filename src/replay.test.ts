// Replay against decisions a real engine made on a real store: under the same policy nothing changes (so the
// logged context, state and time are complete), under a stricter one exactly the expected decisions change.
// Then a generated log of a few hundred lines, malformed and audit lines mixed in, checks the bookkeeping.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecisionLog, stateFromLogged, type DecisionLogLine } from './decision-log.js';
import { DecisionEngine, type DecisionRecord } from './engine.js';
import { loadPolicy, parsePolicy } from './policy/index.js';
import { STORE_UNAVAILABLE, replay, replayAsync, summaryRows, type ReplayResult } from './replay.js';
import { openSqliteStore, type SqliteStore, type Store } from './store/index.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const LONDON = '81.2.69.142';
const DORTMUND = '194.25.134.8';
const T0 = Date.parse('2026-06-01T12:00:00Z');
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

const SEED_TEXT = readFileSync('policies/default.yaml', 'utf8');
const seed = loadPolicy('policies/default.yaml');
// The seed with a new device requiring MFA outright instead of prompting.
const strictDevice = parsePolicy(SEED_TEXT.replace('- new_device: prompt_mfa', '- new_device: require_mfa'), 'strict-device.yaml');
// The seed with enforcement switched off for everyone not targeted (nobody is).
const nobodyTargeted = parsePolicy(SEED_TEXT.replace('all_users: true', 'all_users: false'), 'nobody.yaml');

let dir: string;
let store: SqliteStore;
let lines: string[];
let records: DecisionRecord[];

async function sleepTurn() {
  // The engine learns from an allow in the background; let the write land before the next decision.
  await new Promise((r) => setTimeout(r, 5));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mfa-gate-replay-'));
  store = openSqliteStore({ path: join(dir, 'store.db') });
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createDecisionLog({ destination: sink });
  let now = T0;
  let ids = 0;
  const engine = new DecisionEngine({ store, policy: seed, clock: () => now, newId: () => `id-${++ids}`, audit: (e) => log.audit(e) });
  records = [];
  const decide = async (input: Parameters<DecisionEngine['decideDetailed']>[0]) => {
    const r = await engine.decideDetailed(input);
    records.push(r);
    log.write(r);
    await sleepTurn();
    return r.decision;
  };

  // carol: never seen, inside her grace period.
  await decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME }); // allow (prompts waived)
  now += MIN;
  await decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME }); // allow, known device
  now += MIN;
  await decide({ user: { id: 'carol' }, ip: LONDON, user_agent: CHROME, action: 'password.change' }); // require_mfa

  // alice: enrolled long ago, a known laptop in London, her last MFA there longer ago than remember_mfa.
  await store.setEnrolled('alice', T0 - 100 * DAY);
  await store.recordLogin({ user_id: 'alice', device_key: 'alice-laptop', location_key: 'GB/ENG/St Albans', ip: LONDON, time: now - 13 * 60 * MIN, mfa: true });
  await decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-laptop' }); // allow
  now += MIN;
  await decide({ user: { id: 'alice' }, ip: LONDON, user_agent: IPHONE, device_id: 'alice-phone' }); // prompt_mfa: new device
  now += MIN;
  await decide({ user: { id: 'alice' }, ip: DORTMUND, user_agent: CHROME, device_id: 'alice-laptop' }); // prompt_mfa: new location
  now += MIN;
  await decide({ user: { id: 'alice' }, ip: LONDON, user_agent: CHROME, device_id: 'alice-laptop', action: 'admin.users' }); // require_mfa

  // dave: his recovery request is open (due tomorrow), so his state carries recovery_due_at.
  await store.setEnrolled('dave', T0 - 10 * DAY);
  await store.openRecovery({ id: 'rec-1', user_id: 'dave', verified_by: 'admin', verification: 'passport', opened_at: now, effective_at: now + DAY });
  await decide({ user: { id: 'dave', groups: ['ops'] }, ip: LONDON, user_agent: CHROME, device_id: 'dave-pc', attributes: { team: 'ops' } }); // prompt_mfa

  // erin: not enrolled and her grace period (from mfa_required_since) is over.
  now += MIN;
  await decide({ user: { id: 'erin', mfa_required_since: '2026-01-01T00:00:00Z' }, ip: LONDON, user_agent: CHROME }); // require_mfa

  // A service account: excluded.
  await decide({ user: { id: 'build-bot', type: 'service' }, ip: null, user_agent: 'curl/8.5' }); // allow

  // The store down: the fail mode decides, and the line has no state.
  const down = new DecisionEngine({
    store: { getUserState: () => Promise.reject(new Error('connection refused')) } as unknown as Store,
    policy: seed,
    clock: () => now,
  });
  const r = await down.decideDetailed({ user: { id: 'frank' }, ip: LONDON, user_agent: CHROME });
  records.push(r);
  log.write(r);

  await log.close();
  lines = chunks.join('').split('\n').filter((l) => l !== '');
});

afterAll(async () => {
  await store.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const decisionsOf = () => records.map((r) => `${r.context.user.id}:${r.decision.decision}`);
const summaryOf = (r: ReplayResult) => Object.fromEntries(r.summary);

describe('replaying what the engine logged', () => {
  it('made the decisions the scenario meant to make', () => {
    expect(decisionsOf()).toEqual([
      'carol:allow',
      'carol:allow',
      'carol:require_mfa',
      'alice:allow',
      'alice:prompt_mfa',
      'alice:prompt_mfa',
      'alice:require_mfa',
      'dave:prompt_mfa',
      'erin:require_mfa',
      'build-bot:allow',
      'frank:require_mfa',
    ]);
    expect(records.find((r) => r.context.user.id === 'dave')!.state!.recovery_due_at).toBe(T0 + 5 * MIN + DAY);
  });

  it('logs the exact state each decision used', () => {
    const logged = lines.map((l) => JSON.parse(l) as DecisionLogLine).filter((l) => l.type === 'decision');
    expect(logged).toHaveLength(records.length);
    logged.forEach((line, i) => {
      const used = records[i]!.state;
      expect(line.state === null ? null : stateFromLogged(line.state)).toEqual(used);
    });
  });

  it('changes nothing under the same policy', () => {
    const r = replay(seed, lines);
    expect(r.skipped).toEqual([{ line: lines.length, reason: STORE_UNAVAILABLE }]);
    expect(r.total).toBe(records.length - 1);
    expect(r.changed).toEqual([]);
    expect(r.changed_total).toBe(0);
    expect(summaryOf(r)).toEqual({ 'allow→allow': 4, 'prompt_mfa→prompt_mfa': 3, 'require_mfa→require_mfa': 3 });
  });

  it('shows the new-device decisions changing when a new device requires MFA', () => {
    const r = replay(strictDevice, lines);
    // carol's first login (a new device, prompt waived by the grace period) and alice's phone; dave's new PC.
    expect(summaryOf(r)).toEqual({
      'allow→allow': 3,
      'allow→require_mfa': 1,
      'prompt_mfa→prompt_mfa': 1,
      'prompt_mfa→require_mfa': 2,
      'require_mfa→require_mfa': 3,
    });
    expect(r.changed.map((c) => [c.user, c.from, c.to])).toEqual([
      ['carol', 'allow', 'require_mfa'],
      ['alice', 'prompt_mfa', 'require_mfa'],
      ['dave', 'prompt_mfa', 'require_mfa'],
    ]);
    const carol = r.changed[0]!;
    expect(carol).toMatchObject({ line: 1, decision_id: records[0]!.decision.decision_id, time: '2026-06-01T12:00:00.000Z' });
    expect(carol.reasons.map((x) => `${x.rule}:${x.decision}`)).toContain('new_device:require_mfa');
    expect(carol.previous_reasons.map((x) => x.rule)).toEqual(['new_device', 'new_location', 'grace_period']);
    expect(summaryRows(r.summary).map((x) => `${x.from}→${x.to}`)).toEqual([
      'allow→allow',
      'allow→require_mfa',
      'prompt_mfa→prompt_mfa',
      'prompt_mfa→require_mfa',
      'require_mfa→require_mfa',
    ]);
  });

  it('shows every MFA decision going away when nobody is targeted', () => {
    const r = replay(nobodyTargeted, lines);
    expect(summaryOf(r)).toEqual({ 'allow→allow': 4, 'prompt_mfa→allow': 3, 'require_mfa→allow': 3 });
    expect(r.changed_total).toBe(6);
  });

  it('takes parsed objects as well as text, and lists at most `limit` changes', async () => {
    const objects = lines.map((l) => JSON.parse(l) as object);
    const r = replay(strictDevice, objects, { limit: 1 });
    expect(r.changed).toHaveLength(1);
    expect(r.changed_total).toBe(3);
    const streamed = await replayAsync(strictDevice, (async function* () {
      yield* lines;
    })());
    expect(summaryOf(streamed)).toEqual(summaryOf(replay(strictDevice, lines)));
  });
});

describe('a generated log', () => {
  const AUDIT = JSON.stringify({ level: 30, time: T0, audit: true, event: 'factor.verified', user_id: 'alice', msg: 'factor.verified' });
  const SERVICE = JSON.stringify({ level: 30, time: T0, msg: 'listening on :8080' });
  type Kind = 'decision' | 'audit' | 'service' | 'blank' | 'bad-json' | 'not-object' | 'no-time' | 'bad-decision' | 'bad-state' | 'bad-context' | 'store-down';

  function build(kinds: Kind[]) {
    const decisionLines = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    const storeDown = lines.at(-1)!;
    const out: string[] = [];
    const expectSkipped: { line: number; reason: RegExp }[] = [];
    let decisions = 0;
    kinds.forEach((kind, i) => {
      const n = i + 1;
      const base: Record<string, unknown> = { ...decisionLines[i % decisionLines.length]!, decision_id: `gen-${n}` };
      const skip = (text: string, reason: RegExp) => {
        out.push(text);
        expectSkipped.push({ line: n, reason });
      };
      switch (kind) {
        case 'decision':
          out.push(JSON.stringify(base));
          decisions++;
          break;
        case 'audit':
          out.push(AUDIT);
          break;
        case 'service':
          out.push(SERVICE);
          break;
        case 'blank':
          out.push('   ');
          break;
        case 'bad-json':
          return skip(JSON.stringify(base).slice(0, 40), /^not JSON/);
        case 'not-object':
          return skip('[1,2,3]', /^not a JSON object$/);
        case 'no-time': {
          const { decided_at: _omit, ...rest } = base;
          return skip(JSON.stringify(rest), /^decided_at: missing/);
        }
        case 'bad-decision':
          return skip(JSON.stringify({ ...base, decision: 'maybe' }), /^decision: not one of/);
        case 'bad-state':
          return skip(JSON.stringify({ ...base, state: { known_devices: 'laptop' } }), /^state\/known_devices: must be array/);
        case 'bad-context':
          return skip(JSON.stringify({ ...base, context: { user: {} } }), /^context\.user\.id/);
        case 'store-down':
          return skip(storeDown, new RegExp(`^${STORE_UNAVAILABLE}$`));
      }
    });
    return { out, expectSkipped, decisions, count: (k: Kind) => kinds.filter((x) => x === k).length };
  }

  const kinds: Kind[] = ['decision', 'audit', 'service', 'blank', 'bad-json', 'not-object', 'no-time', 'bad-decision', 'bad-state', 'bad-context', 'store-down'];

  it('counts every kind of line, whatever the mix', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant<Kind>('decision') }, { weight: 4, arbitrary: fc.constantFrom(...kinds) }), {
          minLength: 150,
          maxLength: 250,
        }),
        (mix) => {
          const { out, expectSkipped, decisions, count } = build(mix);
          const r = replay(seed, out);
          expect(r.total).toBe(decisions);
          expect(r.audit).toBe(count('audit'));
          expect(r.ignored).toBe(count('service'));
          expect(r.lines).toBe(mix.length - count('blank'));
          expect(r.lines).toBe(r.total + r.audit + r.ignored + r.skipped.length);
          expect(r.skipped.map((s) => s.line)).toEqual(expectSkipped.map((s) => s.line));
          r.skipped.forEach((s, i) => expect(s.reason).toMatch(expectSkipped[i]!.reason));
          // The same policy: every replayed decision is unchanged.
          expect(r.changed_total).toBe(0);
          expect([...r.summary.values()].reduce((a, b) => a + b, 0)).toBe(decisions);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('gives exact totals for a fixed 200-line log', () => {
    const mix: Kind[] = Array.from({ length: 200 }, (_, i) => (i % 10 < 6 ? 'decision' : kinds[(i * 7) % kinds.length]!));
    const { out, decisions, count } = build(mix);
    expect(out).toHaveLength(200);
    const r = replay(strictDevice, out);
    expect(r.total).toBe(decisions);
    expect(r.lines).toBe(200 - count('blank'));
    const skippedKinds = mix.filter((k) => !['decision', 'audit', 'service', 'blank'].includes(k)).length;
    expect(r.skipped).toHaveLength(skippedKinds);
    // Three of the ten replayable template decisions change under strictDevice.
    const changedTemplates = new Set([0, 4, 7]);
    const expectedChanged = mix.filter((k, i) => k === 'decision' && changedTemplates.has(i % 10)).length;
    expect(r.changed_total).toBe(expectedChanged);
    expect(r.changed.every((c) => c.decision_id.startsWith('gen-'))).toBe(true);
  });
});
