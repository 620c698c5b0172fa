// The decision log: one JSON line per decision, written through pino off the request's hot path, and read
// back by `mfa-gate replay`. A line carries everything the evaluator saw (context, state, time), so a
// replay under the same policy reproduces every decision, and under another policy shows what would change.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { stateFromInput, type ContextInput, type StateInput } from './context.js';
import type { DecisionRecord } from './engine.js';
import { auditTo, createLogger } from './log.js';
import type { DecisionKind, Enrollment, LoginContext, Reason, SignalFacts, Signals, UserState } from './types.js';

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

// The UTC day last formatted: most times in a line (decided_at, first_seen, last_login, ...) fall on a few days,
// so the date part is reused and only the time of day is formatted (Date#toISOString cost ~1 µs a call).
let isoDayStart = 0;
let isoDayPrefix = '1970-01-01T';
const DAY_MS = 86_400_000;
const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

function iso(ms: number): string {
  // Store times are integer epoch ms, which ISO 8601 with milliseconds represents exactly.
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253_402_300_800_000) return new Date(ms).toISOString();
  let t = ms - isoDayStart;
  if (t < 0 || t >= DAY_MS) {
    isoDayStart = ms - (ms % DAY_MS);
    isoDayPrefix = new Date(isoDayStart).toISOString().slice(0, 11);
    t = ms - isoDayStart;
  }
  const milli = t % 1000;
  const secs = (t - milli) / 1000;
  const s = secs % 60;
  const mins = (secs - s) / 60;
  return `${isoDayPrefix}${pad2(Math.floor(mins / 60))}:${pad2(mins % 60)}:${pad2(s)}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
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
      const line = decisionLogLine(record);
      if (viaPino) return void viaPino.info(line);
      pending.push(`${LINE_PREFIX}${Date.now()}${LINE_SERVICE}${JSON.stringify(line).slice(1)}\n`);
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
