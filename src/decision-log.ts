// The decision log: one JSON line per decision, written through pino off the request's hot path, and read
// back by `mfa-gate replay`. A line carries everything the evaluator saw (context, state, time), so a
// replay under the same policy reproduces every decision, and under another policy shows what would change.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { stateFromInput, type ContextInput, type StateInput } from './context.js';
import type { DecisionRecord } from './engine.js';
import { auditTo, createLogger } from './log.js';
import type {
  Decision,
  DecisionKind,
  DeviceInfo,
  Enrollment,
  GeoInfo,
  LoginContext,
  Reason,
  SignalFacts,
  Signals,
  UserState,
} from './types.js';

export const DECISION_LINE_TYPE = 'decision';

/**
 * A user's state as logged: the inline shape of schemas/user-state.schema.json (ISO times), every field
 * written out so nothing depends on the reader's defaults. `recovery_due_at` is the one UserState field that
 * schema lacks; it is written only while a recovery request is open, so the usual line's state still pastes
 * into an eval context unchanged (no decision reads it: the engine applies a due recovery before deciding).
 */
export interface LoggedState extends Required<Omit<StateInput, 'last_login'>> {
  last_login: { time: string; ip: string | null } | null;
  recovery_due_at?: string;
}

export interface DecisionLogLine {
  type: typeof DECISION_LINE_TYPE;
  decision_id: string;
  /** When the decision was made (the engine's clock), ISO. Not `time`: pino writes its own `time` (when the
   * line was written, epoch ms) at the front of every line, and a second `time` key would be a duplicate key,
   * which some log stores reject and JSON.parse silently resolves to the last one. */
  decided_at: string;
  policy: { version: string };
  context: ContextInput;
  /** null when the store was unreachable (the policy's fail mode decided). */
  state: LoggedState | null;
  signals: Signals;
  facts: SignalFacts;
  decision: DecisionKind;
  reasons: Reason[];
  risk: { score: number };
  enrollment: Enrollment;
  challenge_id?: string;
  latency_ms: number;
}

// Times in a line (decided_at, enrolled_at, first_seen, last_login, ...) fall on a few days per user, so the date
// part of each day is formatted once and kept (Date#toISOString cost ~0.3 µs a call, and one cached day thrashed:
// a line's times alternate between today and the day a user enrolled); the time of day comes from tables.
const DAY_MS = 86_400_000;
const DAY_PREFIXES = new Map<number, string>();
/** Distinct days kept (an 11-character prefix each); the map starts afresh when full. */
const MAX_DAY_PREFIXES = 4096;
const PAD2 = Array.from({ length: 60 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));
const PAD3 = Array.from({ length: 1000 }, (_, i) => `${i}`.padStart(3, '0'));

function iso(ms: number): string {
  // Store times are integer epoch ms, which ISO 8601 with milliseconds represents exactly.
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253_402_300_800_000) return new Date(ms).toISOString();
  const t = ms % DAY_MS;
  const day = (ms - t) / DAY_MS;
  let prefix = DAY_PREFIXES.get(day);
  if (prefix === undefined) {
    if (DAY_PREFIXES.size >= MAX_DAY_PREFIXES) DAY_PREFIXES.clear();
    prefix = new Date(ms - t).toISOString().slice(0, 11);
    DAY_PREFIXES.set(day, prefix);
  }
  const milli = t % 1000;
  const secs = (t - milli) / 1000;
  const s = secs % 60;
  const mins = (secs - s) / 60;
  const m = mins % 60;
  return `${prefix}${PAD2[(mins - m) / 60]}:${PAD2[m]}:${PAD2[s]}.${PAD3[milli]}Z`;
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

export function stateToLogged(state: UserState): LoggedState {
  const logged: LoggedState = {
    enrolled: state.enrolled,
    enrolled_at: isoOrNull(state.enrolled_at),
    first_seen: isoOrNull(state.first_seen),
    known_devices: [...state.known_devices],
    known_locations: [...state.known_locations],
    last_login: state.last_login ? { time: iso(state.last_login.time), ip: state.last_login.ip } : null,
    last_mfa: state.last_mfa ? { time: iso(state.last_mfa.time), device: state.last_mfa.device } : null,
    failed_attempts: state.failed_attempts,
    enrollment_deadline: isoOrNull(state.enrollment_deadline),
  };
  if (state.recovery_due_at !== null) logged.recovery_due_at = iso(state.recovery_due_at);
  return logged;
}

/**
 * The UserState a logged decision used. context.ts's stateFromInput reads every schema field but always sets
 * recovery_due_at to null (inline state has none), so that one field is converted here.
 */
export function stateFromLogged(logged: StateInput & { recovery_due_at?: string | null }): UserState {
  const { recovery_due_at, ...inline } = logged;
  const due = recovery_due_at === undefined || recovery_due_at === null ? null : Date.parse(recovery_due_at);
  if (Number.isNaN(due)) throw new TypeError(`invalid time "${recovery_due_at}" (expected an ISO 8601 date-time)`);
  return { ...stateFromInput(inline), recovery_due_at: due };
}

/** The context as the caller's input shape, field by field: nothing the normaliser did not produce gets in. */
function contextToLogged(ctx: LoginContext): ContextInput {
  const user: ContextInput['user'] = { id: ctx.user.id, type: ctx.user.type, groups: [...ctx.user.groups] };
  if (ctx.user.mfa_required_since !== undefined) user.mfa_required_since = ctx.user.mfa_required_since;
  const out: ContextInput = { user, ip: ctx.ip, user_agent: ctx.user_agent };
  if (ctx.device_id !== undefined) out.device_id = ctx.device_id;
  if (ctx.action !== undefined) out.action = ctx.action;
  if (ctx.sensitive !== undefined) out.sensitive = ctx.sensitive;
  // Verbatim: custom rules read attributes.*, so replay needs them as they were.
  if (ctx.attributes !== undefined) out.attributes = ctx.attributes;
  return out;
}

export function decisionLogLine(record: DecisionRecord): DecisionLogLine {
  const d = record.decision;
  return {
    type: DECISION_LINE_TYPE,
    decision_id: d.decision_id,
    decided_at: iso(record.time),
    policy: { version: d.policy.version },
    context: contextToLogged(record.context),
    state: record.state === null ? null : stateToLogged(record.state),
    signals: record.signals,
    facts: record.facts,
    decision: d.decision,
    reasons: d.reasons,
    risk: { score: d.risk.score },
    enrollment: d.enrollment,
    ...(d.challenge_id !== undefined ? { challenge_id: d.challenge_id } : {}),
    // Microseconds are noise at this scale; three decimals keep the lines short.
    latency_ms: Math.round(record.latency_ms * 1000) / 1000,
  };
}

// pino's own fields at the front of a decision line, as `pino({ base: { service: 'mfa-gate' } }).info(line)`
// writes them: level 30 (info), time (epoch ms, when the line was written), the base.
const LINE_PREFIX = '{"level":30,"time":';
const LINE_SERVICE = ',"service":"mfa-gate",';

// ---- the line and the decision as JSON text ----------------------------------------------------------------
//
// Every decision is serialised twice: the HTTP answer (the Decision) and the decision log line (which repeats
// its signals, reasons and enrollment). decisionLogLine's copy and JSON.stringify over the generic objects took
// ~17% of the server's CPU on the HTTP bench (profiled: the largest item after the socket write and SQLite), so
// both are written here field by field, the shared parts serialised once per record, and the parts that come
// from the signal stage's shared, frozen cache entries (a user agent's device info, an address's geo) once per
// entry. Measured alone over engine records: both texts ~2.2 µs instead of ~5.9 µs per decision (the lines are
// built from many pieces, so joining a turn's lines costs ~0.9 µs more of that back).
//
// The text is exactly what JSON.stringify(decisionLogLine(record)) and JSON.stringify(record.decision) write for
// every record the engine builds (decision-log.test.ts compares them byte for byte over the engine's outputs).
// A value of a type the engine never produces (a test's partial record, a caller's odd attributes) makes the
// field writers throw NOT_FAST, and the record is serialised the generic way instead: the fast path only
// ever handles what it can write exactly.

const NOT_FAST: unique symbol = Symbol('not-fast');
/** A string JSON.stringify writes as-is between quotes: no quote, backslash, control character or surrogate. */
const PLAIN_STRING_RE = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

function jsonString(v: unknown): string {
  if (typeof v !== 'string') throw NOT_FAST;
  return PLAIN_STRING_RE.test(v) ? `"${v}"` : JSON.stringify(v);
}

function jsonStringOrNull(v: unknown): string {
  return v === null ? 'null' : jsonString(v);
}

function jsonNumber(v: unknown): string {
  if (typeof v !== 'number') throw NOT_FAST;
  // Number#toString is JSON.stringify's number format; NaN and the infinities are written as null.
  return Number.isFinite(v) ? `${v}` : 'null';
}

function jsonNumberOrNull(v: unknown): string {
  return v === null ? 'null' : jsonNumber(v);
}

function jsonBoolean(v: unknown): string {
  if (v === true) return 'true';
  if (v === false) return 'false';
  throw NOT_FAST;
}

function jsonStrings(v: unknown): string {
  if (!Array.isArray(v)) throw NOT_FAST;
  if (v.length === 0) return '[]';
  let out = `[${jsonString(v[0])}`;
  for (let i = 1; i < v.length; i++) out += `,${jsonString(v[i])}`;
  return `${out}]`;
}

/** A nested value written as JSON.stringify would write it as a property value (never `undefined`). */
function jsonGeneric(v: unknown): string {
  const text = v === undefined || typeof v === 'function' || typeof v === 'symbol' ? undefined : JSON.stringify(v);
  if (text === undefined) throw NOT_FAST;
  return text;
}

// The signal stage hands out frozen objects from its caches (src/signals/device.ts, geo.ts), the same object for
// every request with that user agent or address. Frozen with primitive fields only, they cannot change, so their
// text is kept beside them.
const frozenJson = new WeakMap<object, string>();

function cachedJson<T extends object>(v: T, write: (v: T) => string): string {
  const hit = frozenJson.get(v);
  if (hit !== undefined) return hit;
  const text = write(v);
  if (Object.isFrozen(v)) frozenJson.set(v, text);
  return text;
}

const deviceJson = (d: DeviceInfo): string =>
  `{"browser":${jsonString(d.browser)},"os":${jsonString(d.os)},"type":${jsonString(d.type)}}`;

const geoJson = (g: GeoInfo): string =>
  `{"country":${jsonString(g.country)},"region":${jsonString(g.region)},"city":${jsonString(g.city)},"lat":${jsonNumber(g.lat)},"lon":${jsonNumber(g.lon)}}`;

function objectOrThrow(v: unknown): object {
  if (typeof v !== 'object' || v === null) throw NOT_FAST;
  return v;
}

/** Every key of T, in the order the engine's object literals create them (the order JSON.stringify follows). */
type KeysInOrder<T> = readonly (keyof T)[];
/** Compiles only when `K` names every key of T: a field added to a type must be added to its writer here. */
type Covers<T, K extends KeysInOrder<T>> = Exclude<keyof T, K[number]> extends never ? K : never;
function keysOf<T>() {
  return <const K extends KeysInOrder<T>>(keys: Covers<T, K>): K => keys;
}

// computeSignals' order (src/signals/index.ts).
const SIGNAL_KEYS = keysOf<Signals>()([
  'new_device',
  'new_location',
  'impossible_travel',
  'sensitive_action',
  'trusted_network',
  'blocked_network',
  'blocked_country',
  'first_login',
  'failed_attempts',
  'mfa_age_seconds',
]);
const SIGNAL_PREFIXES = SIGNAL_KEYS.map((k, i) => `${i === 0 ? '{' : ','}"${k}":`);

function signalsJson(s: Signals): string {
  objectOrThrow(s);
  let out = '';
  for (let i = 0; i < SIGNAL_KEYS.length; i++) {
    const v = s[SIGNAL_KEYS[i]!];
    out += SIGNAL_PREFIXES[i]! + (typeof v === 'boolean' ? jsonBoolean(v) : jsonNumberOrNull(v));
  }
  return `${out}}`;
}

// The key lists below are checked against the types; the writers follow them.
keysOf<SignalFacts>()(['device_key', 'device', 'location_key', 'location_key_full', 'geo', 'travel', 'sensitive_match', 'trusted_match', 'blocked_match']);
function factsJson(f: SignalFacts): string {
  objectOrThrow(f);
  const travel = f.travel === null ? 'null' : `{"distance_km":${jsonNumber(objectOrThrow(f.travel) && f.travel.distance_km)},"speed_kmh":${jsonNumber(f.travel.speed_kmh)}}`;
  return (
    `{"device_key":${jsonString(f.device_key)},"device":${cachedJson(objectOrThrow(f.device) as DeviceInfo, deviceJson)}` +
    `,"location_key":${jsonStringOrNull(f.location_key)},"location_key_full":${jsonStringOrNull(f.location_key_full)}` +
    `,"geo":${f.geo === null ? 'null' : cachedJson(objectOrThrow(f.geo) as GeoInfo, geoJson)},"travel":${travel}` +
    `,"sensitive_match":${jsonStringOrNull(f.sensitive_match)},"trusted_match":${jsonStringOrNull(f.trusted_match)}` +
    `,"blocked_match":${jsonStringOrNull(f.blocked_match)}}`
  );
}

keysOf<Enrollment>()(['enrolled', 'allowed_now', 'required_by']);
/** evaluate() sets required_by after the other two, for a user not enrolled yet. */
function enrollmentJson(e: Enrollment): string {
  objectOrThrow(e);
  return `{"enrolled":${jsonBoolean(e.enrolled)},"allowed_now":${jsonBoolean(e.allowed_now)}${e.required_by !== undefined ? `,"required_by":${jsonString(e.required_by)}` : ''}}`;
}

keysOf<Reason>()(['rule', 'decision', 'enforced', 'detail']);
function reasonsJson(rs: Reason[]): string {
  if (!Array.isArray(rs)) throw NOT_FAST;
  if (rs.length === 0) return '[]';
  let out = '[';
  for (let i = 0; i < rs.length; i++) {
    const r = objectOrThrow(rs[i]) as Reason;
    out +=
      `${i === 0 ? '' : ','}{"rule":${jsonString(r.rule)},"decision":${jsonString(r.decision)},"enforced":${jsonBoolean(r.enforced)}` +
      `${r.detail !== undefined ? `,"detail":${jsonString(r.detail)}` : ''}}`;
  }
  return `${out}]`;
}

const isoJson = (ms: unknown): string => {
  if (typeof ms !== 'number') throw NOT_FAST;
  return `"${iso(ms)}"`;
};
const isoOrNullJson = (ms: unknown): string => (ms === null ? 'null' : isoJson(ms));

keysOf<UserState>()(['enrolled', 'enrolled_at', 'first_seen', 'known_devices', 'known_locations', 'last_login', 'last_mfa', 'failed_attempts', 'enrollment_deadline', 'recovery_due_at']);
/** JSON.stringify(stateToLogged(state)). */
function stateJson(s: UserState): string {
  objectOrThrow(s);
  const login = s.last_login ? `{"time":${isoJson(s.last_login.time)},"ip":${jsonStringOrNull(s.last_login.ip)}}` : 'null';
  const mfa = s.last_mfa ? `{"time":${isoJson(s.last_mfa.time)},"device":${jsonString(s.last_mfa.device)}}` : 'null';
  return (
    `{"enrolled":${jsonBoolean(s.enrolled)},"enrolled_at":${isoOrNullJson(s.enrolled_at)},"first_seen":${isoOrNullJson(s.first_seen)}` +
    `,"known_devices":${jsonStrings(s.known_devices)},"known_locations":${jsonStrings(s.known_locations)}` +
    `,"last_login":${login},"last_mfa":${mfa},"failed_attempts":${jsonNumber(s.failed_attempts)}` +
    `,"enrollment_deadline":${isoOrNullJson(s.enrollment_deadline)}` +
    `${s.recovery_due_at !== null ? `,"recovery_due_at":${isoJson(s.recovery_due_at)}` : ''}}`
  );
}

keysOf<LoginContext>()(['user', 'ip', 'user_agent', 'device_id', 'action', 'sensitive', 'attributes']);
keysOf<LoginContext['user']>()(['id', 'type', 'groups', 'mfa_required_since']);
/** JSON.stringify(contextToLogged(ctx)). */
function contextJson(c: LoginContext): string {
  const u = objectOrThrow(c) && (objectOrThrow(c.user) as LoginContext['user']);
  let out =
    `{"user":{"id":${jsonString(u.id)},"type":${jsonString(u.type)},"groups":${jsonStrings(u.groups)}` +
    `${u.mfa_required_since !== undefined ? `,"mfa_required_since":${jsonString(u.mfa_required_since)}` : ''}}` +
    `,"ip":${jsonStringOrNull(c.ip)},"user_agent":${jsonString(c.user_agent)}`;
  if (c.device_id !== undefined) out += `,"device_id":${jsonString(c.device_id)}`;
  if (c.action !== undefined) out += `,"action":${jsonString(c.action)}`;
  if (c.sensitive !== undefined) out += `,"sensitive":${jsonBoolean(c.sensitive)}`;
  if (c.attributes !== undefined) out += `,"attributes":${jsonGeneric(c.attributes)}`;
  return `${out}}`;
}

// The policy version is one string for as long as a policy serves: its JSON is kept until it changes.
let lastVersion: unknown;
let lastVersionJson = '';
function versionJson(v: unknown): string {
  if (v !== lastVersion) {
    lastVersionJson = jsonString(v);
    lastVersion = v;
  }
  return lastVersionJson;
}

/** The parts the answer and the log line share, serialised once per record. */
interface SharedJson {
  record: DecisionRecord;
  signals: string;
  reasons: string;
  enrollment: string;
}

// The decide route serialises its answer, then hands the record to the decision log: the log finds the shared
// parts here. One entry, taken by the first line written for that record.
let shared: SharedJson | null = null;

function sharedJson(record: DecisionRecord): SharedJson {
  if (shared !== null && shared.record === record) {
    const s = shared;
    shared = null;
    return s;
  }
  const d = record.decision;
  return {
    record,
    signals: signalsJson(record.signals),
    reasons: reasonsJson(d.reasons),
    enrollment: enrollmentJson(d.enrollment),
  };
}

/** A decision's `factors`: a frozen list the policy shares between decisions, so its text is kept beside it. */
function factorsJson(f: unknown): string {
  return cachedJson(objectOrThrow(f), jsonStrings);
}

// evaluate()'s order: its result literal, then `factors` (set last), then the engine's ids.
keysOf<Decision>()(['decision', 'reasons', 'risk', 'enrollment', 'policy', 'factors', 'decision_id', 'challenge_id']);
/**
 * The HTTP answer to a decision: exactly JSON.stringify(record.decision) for a record the engine built (its
 * signals are the record's: the engine puts the same object in both).
 */
export function decisionJson(record: DecisionRecord): string {
  const d = record.decision;
  if (d.risk?.signals === record.signals) {
    try {
      const parts = sharedJson(record);
      const out =
        `{"decision":${jsonString(d.decision)},"reasons":${parts.reasons},"risk":{"score":${jsonNumber(d.risk.score)},"signals":${parts.signals}}` +
        `,"enrollment":${parts.enrollment},"policy":{"version":${versionJson(objectOrThrow(d.policy) && d.policy.version)}}` +
        `${d.factors !== undefined ? `,"factors":${factorsJson(d.factors)}` : ''}` +
        `,"decision_id":${jsonString(d.decision_id)}${d.challenge_id !== undefined ? `,"challenge_id":${jsonString(d.challenge_id)}` : ''}}`;
      shared = parts;
      return out;
    } catch (err) {
      if (err !== NOT_FAST) throw err;
    }
  }
  return JSON.stringify(d);
}

// decisionLogLine's order; a field added to the line must be added here too.
keysOf<DecisionLogLine>()([
  'type',
  'decision_id',
  'decided_at',
  'policy',
  'context',
  'state',
  'signals',
  'facts',
  'decision',
  'reasons',
  'risk',
  'enrollment',
  'challenge_id',
  'latency_ms',
]);
/** JSON.stringify(decisionLogLine(record)) without its opening brace, or null when the generic way must write it. */
function lineBodyJson(record: DecisionRecord): string | null {
  try {
    const d = record.decision;
    const parts = sharedJson(record);
    return (
      `"type":"${DECISION_LINE_TYPE}","decision_id":${jsonString(d.decision_id)},"decided_at":${isoJson(record.time)}` +
      `,"policy":{"version":${versionJson(objectOrThrow(d.policy) && d.policy.version)}},"context":${contextJson(record.context)}` +
      `,"state":${record.state === null ? 'null' : stateJson(record.state)},"signals":${parts.signals},"facts":${factsJson(record.facts)}` +
      `,"decision":${jsonString(d.decision)},"reasons":${parts.reasons},"risk":{"score":${jsonNumber(objectOrThrow(d.risk) && d.risk.score)}}` +
      `,"enrollment":${parts.enrollment}${d.challenge_id !== undefined ? `,"challenge_id":${jsonString(d.challenge_id)}` : ''}` +
      `,"latency_ms":${jsonNumber(Math.round(record.latency_ms * 1000) / 1000)}}`
    );
  } catch (err) {
    if (err !== NOT_FAST) throw err;
    return null;
  }
}

/** One decision line as the decision log writes it (pino's line format), `time` its epoch-ms write time. */
export function decisionLineText(record: DecisionRecord, time: number): string {
  const body = lineBodyJson(record) ?? JSON.stringify(decisionLogLine(record)).slice(1);
  return `${LINE_PREFIX}${time}${LINE_SERVICE}${body}\n`;
}

export type AuditEvent = { event: string; user_id: string; [field: string]: unknown };

export interface DecisionLogOptions {
  /** `stdout`, a file path (appended to, its directory created), or a stream the caller owns. */
  destination: 'stdout' | string | DestinationStream;
  /** Write errors after construction (disk full, ...). Default: one message on stderr per distinct error. */
  onError?: (err: Error) => void;
}

export interface DecisionLog {
  write(record: DecisionRecord): void;
  /** Factor and recovery events, into the same log (pass as the engine's and factor service's `audit`). */
  audit(event: AuditEvent): void;
  logger: Logger;
  /** Resolves once every line written so far has reached the file. */
  flush(): Promise<void>;
  /** Flushes, then closes a file destination; a stream the caller passed stays open (theirs to end). */
  close(): Promise<void>;
  /** Reopens the file after log rotation moved it (e.g. on SIGHUP); a no-op for stdout or a stream. */
  reopen(): void;
}

type SonicBoomLike = DestinationStream & {
  flush(cb: (err?: Error) => void): void;
  end(): void;
  reopen(): void;
  on(event: 'error', cb: (err: Error) => void): unknown;
  once(event: 'close' | 'error', cb: (err?: Error) => void): unknown;
};

function defaultOnError(): (err: Error) => void {
  const seen = new Set<string>();
  return (err) => {
    if (seen.has(err.message)) return;
    seen.add(err.message);
    process.stderr.write(`mfa-gate: decision log: ${err.message}\n`);
  };
}

export function createDecisionLog({ destination, onError = defaultOnError() }: DecisionLogOptions): DecisionLog {
  let owned: SonicBoomLike | null = null;
  let ownsFile = false;
  let stream: DestinationStream;
  if (typeof destination === 'string') {
    if (destination !== 'stdout') {
      // SonicBoom opens the file asynchronously and would report a bad path later as an error event; opening it
      // once here makes a wrong path fail at start-up, where configuration errors belong.
      mkdirSync(dirname(destination), { recursive: true });
      closeSync(openSync(destination, 'a'));
      ownsFile = true;
    }
    owned = pino.destination({
      dest: destination === 'stdout' ? 1 : destination,
      sync: false,
      mkdir: true,
      // With minLength 0 SonicBoom's flush() calls back at once, without waiting for the write in flight;
      // any positive value makes it wait for the drain (and fsync). One byte keeps writes immediate: every
      // line is longer than that.
      minLength: 1,
    }) as unknown as SonicBoomLike;
    owned.on('error', onError);
    stream = owned;
  } else {
    stream = destination;
  }

  // Decision lines are built field by field (decisionLogLine) and hold no code or secret, so they skip the
  // redaction pass (audit events keep it). They are serialised with one JSON.stringify in pino's line format
  // (`{"level":30,"time":<epoch ms>,"service":"mfa-gate",...}`; pino's per-field serialisation cost more), and
  // the lines of one event-loop turn reach the stream as one write: SonicBoom measures (Buffer.byteLength) the
  // whole pending buffer on every write while one is in flight, which under HTTP load cost more than building
  // the line. Anything else written to the stream (audit events, the logger) first hands the pending lines
  // over, so the order of lines is the order of the calls. A pino multistream needs pino's level metadata on
  // every line, so one gets plain pino calls instead.
  const needsMetadata = (stream as unknown as Record<symbol, unknown>)[pino.symbols.needsMetadataGsym] === true;
  const viaPino = needsMetadata ? pino({ level: 'info', base: { service: 'mfa-gate' } }, stream) : null;
  let pending: string[] = [];
  let scheduled: ReturnType<typeof setImmediate> | null = null;
  const drain = (): void => {
    if (scheduled !== null) {
      clearImmediate(scheduled);
      scheduled = null;
    }
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    stream.write(lines.length === 1 ? lines[0]! : lines.join(''));
  };
  const drainSoon = (): void => {
    scheduled = null;
    drain();
  };
  const sink: DestinationStream = needsMetadata
    ? stream
    : {
        write(line: string) {
          drain();
          return stream.write(line);
        },
        // pino's logger.flush(cb) calls the stream's flush when it has one, else calls back at once.
        ...(typeof (stream as Partial<SonicBoomLike>).flush === 'function'
          ? { flush: (cb: (err?: Error) => void) => (drain(), (stream as SonicBoomLike).flush(cb)) }
          : {}),
      };

  // 'info' whatever MFA_GATE_LOG_LEVEL says: quietening the service log must not drop decisions or audit events.
  const logger = createLogger(sink, 'info');
  const audit = auditTo(logger);
  let closed: Promise<void> | null = null;

  const flush = (): Promise<void> => {
    drain();
    return new Promise((resolve, reject) => logger.flush((err?: Error) => (err ? reject(err) : resolve())));
  };

  return {
    logger,
    write(record) {
      if (viaPino) return void viaPino.info(decisionLogLine(record));
      pending.push(decisionLineText(record, Date.now()));
      scheduled ??= setImmediate(drainSoon);
    },
    audit,
    flush,
    close() {
      closed ??= (async () => {
        await flush();
        if (!owned || !ownsFile) return;
        const file = owned;
        await new Promise<void>((resolve, reject) => {
          file.once('close', () => resolve());
          file.once('error', (err) => reject(err));
          file.end();
        });
      })();
      return closed;
    },
    reopen() {
      drain();
      if (owned && ownsFile) owned.reopen();
    },
  };
}
