// Batching for the PostgreSQL store's hot path (issue #6): calls that arrive while the event loop is busy
// are served by one statement (one round trip, one write and one read on the socket, one parse of the
// result, one wake-up of one backend, one commit for a write) instead of one statement each.
//
// A call joins the batch being collected; the batch goes out at the end of the event-loop turn
// (setImmediate: after the I/O callbacks of the turn, so the requests read in one turn share it), at once
// when it is full, or, with maxInFlight, when a batch in flight settles: under load the calls that arrived
// meanwhile go together, so batches grow with the load instead of the statements multiplying.

/** One call of a batch: its argument, and how to settle it. */
export interface BatchEntry<A, R> {
  readonly arg: A;
  /** With a promise, the call takes on its outcome (a hand-off to another batch, say). */
  resolve(value: R | PromiseLike<R>): void;
  reject(error: unknown): void;
}

export interface BatcherOptions {
  /** Entries per `load` at most. */
  maxBatch: number;
  /** `load`s running at once at most (default: no limit); calls wait in the queue meanwhile. */
  maxInFlight?: number;
}

/**
 * Serves `add(arg)` calls in batches through `load`, which settles each entry it is given. An entry it
 * leaves unsettled is rejected; when `load` throws or rejects, every entry not yet settled is rejected with
 * that error (so a caller never waits forever, and one failed statement fails exactly the calls it served).
 */
export class Batcher<A, R> {
  private queue: BatchEntry<A, R>[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  // One for all: it only ever reaches a caller through a bug in a load, and a promise settled already ignores
  // it, so every entry of every batch can be handed it at no cost.
  private readonly unanswered = new Error('batch load left a call unanswered');

  constructor(
    private readonly load: (entries: readonly BatchEntry<A, R>[]) => Promise<void>,
    { maxBatch, maxInFlight = Infinity }: BatcherOptions,
  ) {
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    if (!(maxInFlight >= 1)) throw new RangeError(`maxInFlight must be at least 1, got ${maxInFlight}`);
    this.maxBatch = maxBatch;
    this.maxInFlight = maxInFlight;
  }

  add(arg: A): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      // The promise's own functions: they may be passed on detached, and a second settle is a no-op.
      this.queue.push({ arg, resolve, reject });
      if (this.queue.length >= this.maxBatch && this.inFlight < this.maxInFlight) this.dispatch(this.take());
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) this.dispatch(this.take());
  };

  private take(): BatchEntry<A, R>[] {
    if (this.queue.length <= this.maxBatch) {
      const all = this.queue;
      this.queue = [];
      return all;
    }
    return this.queue.splice(0, this.maxBatch);
  }

  private dispatch(batch: BatchEntry<A, R>[]): void {
    this.inFlight++;
    let loading: Promise<void>;
    try {
      loading = this.load(batch);
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading.then(
      () => this.done(batch, this.unanswered),
      (error: unknown) => this.done(batch, error),
    );
  }

  /** Rejects what the load left unsettled (settled calls ignore it) and lets the next batch go. */
  private done(batch: readonly BatchEntry<A, R>[], error: unknown): void {
    for (const entry of batch) entry.reject(error);
    this.inFlight--;
    this.schedule();
  }
}
