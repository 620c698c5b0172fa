// Hot reload: holds the serving policy and swaps in a new one when the file changes (or on SIGHUP).
// A reload is synchronous (loadPolicy is), so the swap is one assignment between two decisions: a decision sees
// the old policy or the new one, never a mix. A failed reload changes nothing but lastError and the counters.
import { existsSync, lstatSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { formatProblem, PolicyError, type PolicyProblem } from '../errors.js';
import { loadPolicy } from './load.js';
import type { CompiledPolicy } from './types.js';

export type ReloadReason = 'watch' | 'sighup' | 'manual';
const REASONS: ReadonlySet<string> = new Set<ReloadReason>(['watch', 'sighup', 'manual']);

/** Why the last reload failed; what `/readyz` reports. */
export interface ReloadError {
  /** When the reload failed (ms since the epoch). */
  at: number;
  /** Every problem, one `file:line:col ...` line each (the same text `mfa-gate validate` prints). */
  message: string;
  problems: PolicyProblem[];
}

export type ReloadResult =
  | { ok: true; reason: ReloadReason; version: string; previous: string; changed: boolean }
  | { ok: false; reason: ReloadReason; version: string; error: ReloadError };

/** The subset of a pino logger the holder uses. */
export interface HolderLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PolicyHolderOptions {
  path: string;
  log?: HolderLog;
  /** Quiet time after the last file event before reloading: an editor's save is several events (truncate, write,
   * rename, chmod) and reading in the middle of them would see a half-written file. */
  debounceMs?: number;
  watch?: boolean;
  /** Interval of the stat polling used only when fs.watch is unavailable (or the watched directory went away). */
  pollIntervalMs?: number;
  /** Called after every reload attempt, successful or not (e.g. to update metrics). */
  onReload?: (r: ReloadResult) => void;
  clock?: () => number;
}

// Errors must reach someone even if the caller passed no logger; info stays quiet.
const DEFAULT_LOG: HolderLog = { info: () => {}, error: (_obj, msg) => console.error(msg) };

export class PolicyHolder {
  readonly #path: string;
  readonly #dir: string;
  readonly #name: string;
  readonly #dirName: string;
  readonly #log: HolderLog;
  readonly #debounceMs: number;
  readonly #pollIntervalMs: number;
  readonly #onReload: ((r: ReloadResult) => void) | undefined;
  readonly #clock: () => number;
  #current: CompiledPolicy;
  #lastError: ReloadError | null = null;
  #reloads = 0;
  #failedReloads = 0;
  #watcher: FSWatcher | null = null;
  #poller: NodeJS.Timeout | null = null;
  /** The file's stat signature when it was last read (or polled): what polling compares against. */
  #seen = '';
  #timer: NodeJS.Timeout | null = null;
  #sighup: (() => void) | null = null;
  #closed = false;

  constructor({
    path,
    log = DEFAULT_LOG,
    debounceMs = 100,
    watch: watchFileChanges = true,
    pollIntervalMs = 1000,
    onReload,
    clock = Date.now,
  }: PolicyHolderOptions) {
    if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
    if (!log || typeof log.info !== 'function' || typeof log.error !== 'function') {
      throw new TypeError('log must have info(obj, msg) and error(obj, msg) methods');
    }
    if (!Number.isInteger(debounceMs) || debounceMs < 0) throw new RangeError(`debounceMs must be a non-negative integer, got ${debounceMs}`);
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs <= 0) {
      throw new RangeError(`pollIntervalMs must be a positive integer, got ${pollIntervalMs}`);
    }
    if (typeof watchFileChanges !== 'boolean') throw new TypeError('watch must be a boolean');
    if (onReload !== undefined && typeof onReload !== 'function') throw new TypeError('onReload must be a function');
    if (typeof clock !== 'function') throw new TypeError('clock must be a function');

    // The path is kept as given for loading, so reload errors name the file exactly as `validate` would.
    this.#path = path;
    const abs = resolve(path);
    this.#dir = dirname(abs);
    this.#name = basename(abs);
    this.#dirName = basename(this.#dir);
    this.#log = log;
    this.#debounceMs = debounceMs;
    this.#pollIntervalMs = pollIntervalMs;
    this.#onReload = onReload;
    this.#clock = clock;
    // Fail fast: a server must not start on a policy it cannot load.
    this.#seen = signature(path);
    this.#current = loadPolicy(path);
    if (watchFileChanges) this.#startWatching();
  }

  /** The serving policy; give the engine `() => holder.current`. */
  get current(): CompiledPolicy {
    return this.#current;
  }

  /** Why the last reload failed, or null if it succeeded (or none failed yet). */
  get lastError(): ReloadError | null {
    return this.#lastError;
  }

  /** Successful reloads, including those that found identical bytes. */
  get reloads(): number {
    return this.#reloads;
  }

  /** Rejected reloads (invalid or unreadable file, file removed). */
  get failedReloads(): number {
    return this.#failedReloads;
  }

  /** How changes are noticed: 'watch' (fs.watch on the directory), 'poll' (fs.watchFile) or 'off'. */
  get watchMode(): 'watch' | 'poll' | 'off' {
    return this.#watcher ? 'watch' : this.#poller ? 'poll' : 'off';
  }

  /** Loads the file again; on success swaps it in, on failure keeps serving the current policy. Never throws. */
  reload(reason: ReloadReason = 'manual'): ReloadResult {
    if (!REASONS.has(reason)) throw new TypeError(`reload reason must be watch, sighup or manual, got ${String(reason)}`);
    let next: CompiledPolicy;
    // Stat before reading: a change landing between the two leaves a stale signature, so polling reloads once
    // more (harmless) rather than missing it.
    this.#seen = signature(this.#path);
    try {
      next = loadPolicy(this.#path);
    } catch (err) {
      return this.#fail(reason, this.#problemsOf(err));
    }
    const previous = this.#current;
    const changed = next.version !== previous.version;
    // Identical bytes keep the same object, so `current` is stable for anyone comparing by identity.
    if (changed) this.#current = next;
    const recovered = this.#lastError !== null;
    this.#lastError = null;
    this.#reloads++;
    this.#log.info(
      { event: 'policy_reloaded', reason, file: this.#path, version: next.version, previous: previous.version, changed, recovered },
      changed ? `policy reloaded (${reason}): version ${short(previous.version)} -> ${short(next.version)}` : `policy reloaded (${reason}): unchanged`,
    );
    return this.#notify({ ok: true, reason, version: next.version, previous: previous.version, changed });
  }

  /** Reloads on SIGHUP until the returned disposer (or close()) is called. Note that a SIGHUP listener replaces
   * Node's default action for the signal (exit), so the process survives a hangup while this is installed. */
  installSighup(): () => void {
    if (this.#closed) throw new Error('PolicyHolder is closed');
    if (!this.#sighup) {
      this.#sighup = () => {
        this.reload('sighup');
      };
      process.on('SIGHUP', this.#sighup);
    }
    return () => this.#removeSighup();
  }

  /** Stops watching and removes the SIGHUP listener. The current policy stays readable; reload() still works. */
  close(): void {
    this.#closed = true;
    this.#clearTimer();
    this.#stopWatcher();
    this.#stopPolling();
    this.#removeSighup();
  }

  #fail(reason: ReloadReason, problems: PolicyProblem[]): ReloadResult {
    const error: ReloadError = { at: this.#clock(), message: problems.map(formatProblem).join('\n'), problems };
    this.#lastError = error;
    this.#failedReloads++;
    const version = this.#current.version;
    this.#log.error(
      { event: 'policy_reload_failed', reason, file: this.#path, version, problems: problems.length },
      `policy reload failed (${reason}), still serving version ${short(version)}: ${problems.length} problem(s)`,
    );
    // One entry per problem, with the exact text `mfa-gate validate` prints, so it can be grepped for.
    for (const p of problems) {
      this.#log.error({ event: 'policy_problem', reason, file: p.file, line: p.line, col: p.col, key: p.path }, formatProblem(p));
    }
    return this.#notify({ ok: false, reason, version, error });
  }

  #problemsOf(err: unknown): PolicyProblem[] {
    if (!existsSync(this.#path)) {
      return [{ file: this.#path, line: 1, col: 1, path: '', message: `policy file ${this.#path} was removed` }];
    }
    if (err instanceof PolicyError) return err.problems;
    // A bug in the compiler must not take the watcher (or the process) down: report it like an invalid file.
    const message = err instanceof Error ? err.message : String(err);
    return [{ file: this.#path, line: 1, col: 1, path: '', message: `cannot load the policy (${message})` }];
  }

  #notify(r: ReloadResult): ReloadResult {
    if (this.#onReload) {
      try {
        this.#onReload(r);
      } catch (err) {
        this.#log.error({ event: 'policy_onreload_failed', err }, 'policy onReload callback threw');
      }
    }
    return r;
  }

  #startWatching(): void {
    // Watch the directory, not the file: editors save by writing a temp file and renaming it over the original,
    // which leaves a watch on the file attached to the old, unlinked inode.
    try {
      const watcher = watch(this.#dir, { persistent: false }, (_event, filename) => this.#onDirEvent(filename));
      watcher.on('error', (err) => {
        this.#log.error({ event: 'policy_watch_failed', err, dir: this.#dir }, 'policy directory watch failed, polling instead');
        this.#stopWatcher();
        this.#startPolling();
      });
      this.#watcher = watcher;
    } catch (err) {
      this.#log.error({ event: 'policy_watch_failed', err, dir: this.#dir }, 'cannot watch the policy directory, polling instead');
      this.#startPolling();
    }
  }

  #onDirEvent(filename: string | null): void {
    // A symlinked policy (a Kubernetes ConfigMap: policy.yaml -> ..data/policy.yaml) changes by swapping the
    // `..data` link, an event under another name; a null name (some platforms) could be anything.
    if (filename !== null && filename !== this.#name && filename !== this.#dirName && !this.#isSymlink()) return;
    this.#schedule();
  }

  #isSymlink(): boolean {
    try {
      return lstatSync(this.#path).isSymbolicLink();
    } catch {
      return false;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#clearTimer();
    // Trailing debounce: reload once, after the burst of events of one save is over.
    this.#timer = setTimeout(() => this.#onSettled(), this.#debounceMs);
    this.#timer.unref();
  }

  #onSettled(): void {
    this.#timer = null;
    if (this.#closed) return;
    // inotify stops reporting once the watched directory itself is removed or moved; poll the path from then on,
    // so the policy is picked up when it is put back.
    if (this.#watcher && !existsSync(this.#dir)) {
      this.#stopWatcher();
      this.#startPolling();
    }
    this.reload('watch');
  }

  // Not fs.watchFile: its baseline is its own first (asynchronous) stat, so a file put back between our last read
  // and that stat is never reported. Comparing with the signature taken when the file was last read has no such gap.
  #startPolling(): void {
    if (this.#closed || this.#poller) return;
    this.#poller = setInterval(() => this.#poll(), this.#pollIntervalMs);
    this.#poller.unref();
  }

  #poll(): void {
    const now = signature(this.#path);
    if (now === this.#seen) return;
    this.#seen = now;
    this.#schedule();
  }

  #stopPolling(): void {
    if (this.#poller) clearInterval(this.#poller);
    this.#poller = null;
  }

  #stopWatcher(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #removeSighup(): void {
    if (!this.#sighup) return;
    process.off('SIGHUP', this.#sighup);
    this.#sighup = null;
  }
}

/** What changes when the file is rewritten, replaced by a rename, removed, or its symlink is retargeted. */
function signature(path: string): string {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

function short(version: string): string {
  return version.slice(0, 12);
}
