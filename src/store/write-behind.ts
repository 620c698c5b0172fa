// Write-behind for the hot path. Every `allow` records a login and every other decision creates a challenge;
// one autocommit write each would cap the service at the autocommit rate (DESIGN "Storage": ~60k/s), while
// 100 rows per transaction reach ~550k rows/s. So writes queue up and are committed together on the next
// turn of the event loop, or at once when the batch is full. A reader flushes first when `has(key)` says
// a queued write touches what it reads, so a process always reads its own writes. Driver-neutral: the
// driver supplies `commit`.

/** One queued write's outcome: null when it applied, else the error it alone raised. */
export type OpResult = null | { error: unknown };

export interface WriteBehindOptions {
  /**
   * Runs every op in one transaction and returns each op's result (same order). Throws when the whole batch
   * failed (nothing committed): every op's promise then rejects with that error.
   */
  commit: (ops: ReadonlyArray<() => void>) => readonly OpResult[];
  /** Flush synchronously when this many writes wait. */
  maxBatch: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class WriteBehind {
  private ops: Array<() => void> = [];
  private waiters: Waiter[] = [];
  private keys = new Set<string>();
  private timer: ReturnType<typeof setImmediate> | null = null;
  private readonly commit: WriteBehindOptions['commit'];
  private readonly maxBatch: number;

  constructor({ commit, maxBatch }: WriteBehindOptions) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer, got ${maxBatch}`);
    this.commit = commit;
    this.maxBatch = maxBatch;
  }

  get size(): number {
    return this.ops.length;
  }

  /** Whether a queued write carries `key`. */
  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Queues `op`, tagged with `key` (what a reader asks `has` about); settles when its batch commits or fails. */
  enqueue(op: () => void, key: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ops.push(op);
      this.keys.add(key);
      this.waiters.push({ resolve, reject });
      if (this.ops.length >= this.maxBatch) this.flush();
      else this.timer ??= setImmediate(() => {
        this.timer = null;
        this.flush();
      });
    });
  }

  /** Commits everything queued, synchronously. Never throws: failures go to the queued writes' promises. */
  flush(): void {
    if (this.timer !== null) {
      clearImmediate(this.timer);
      this.timer = null;
    }
    if (this.ops.length === 0) return;
    const ops = this.ops;
    const waiters = this.waiters;
    this.ops = [];
    this.waiters = [];
    this.keys.clear();
    let results: readonly OpResult[];
    try {
      results = this.commit(ops);
    } catch (error) {
      for (const w of waiters) w.reject(error);
      return;
    }
    waiters.forEach((w, i) => {
      const r = results[i];
      if (r === undefined) w.reject(new Error('write-behind: commit returned no result for a queued write'));
      else if (r === null) w.resolve();
      else w.reject(r.error);
    });
  }
}
