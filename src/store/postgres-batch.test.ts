import { describe, expect, it } from 'vitest';
import { Batcher, type BatchEntry } from './postgres-batch.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A batcher that records its batches and answers each argument doubled (or as `answer` says). */
function recording(options: { maxBatch: number; maxInFlight?: number }, answer = async (entries: readonly BatchEntry<number, number>[]) => {
  for (const e of entries) e.resolve(e.arg * 2);
}) {
  const batches: number[][] = [];
  const batcher = new Batcher<number, number>(async (entries) => {
    batches.push(entries.map((e) => e.arg));
    await answer(entries);
  }, options);
  return { batcher, batches };
}

describe('Batcher', () => {
  it('serves the calls of one event-loop turn with one load, each caller its own answer', async () => {
    const { batcher, batches } = recording({ maxBatch: 100 });
    const first = Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    // Calls from other I/O callbacks of the same turn (here: other microtasks) join the same batch.
    const late = Promise.resolve().then(() => batcher.add(4));
    expect(await first).toEqual([2, 4, 6]);
    expect(await late).toBe(8);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    // The next turn's calls make the next batch.
    expect(await batcher.add(5)).toBe(10);
    expect(batches).toEqual([[1, 2, 3, 4], [5]]);
  });

  it('sends a full batch at once and splits what is over maxBatch', async () => {
    const { batcher, batches } = recording({ maxBatch: 3 });
    const all = Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => batcher.add(n)));
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6]]); // sent before the turn ends
    expect(await all).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('runs at most maxInFlight loads at once; the calls meanwhile wait and go together', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running = 0;
    let most = 0;
    const { batcher, batches } = recording({ maxBatch: 100, maxInFlight: 1 }, async (entries) => {
      running++;
      most = Math.max(most, running);
      if (entries[0]!.arg === 1) await gate;
      running--;
      for (const e of entries) e.resolve(e.arg);
    });
    const first = batcher.add(1);
    await turn();
    const waiting = [2, 3, 4].map((n) => batcher.add(n));
    await turn();
    await turn();
    expect(batches).toEqual([[1]]);
    release();
    expect(await Promise.all([first, ...waiting])).toEqual([1, 2, 3, 4]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(most).toBe(1);
  });

  it('rejects every call of a batch whose load fails, synchronously or not, and goes on with the next', async () => {
    const boom = new Error('boom');
    let mode: 'sync' | 'async' | 'ok' = 'sync';
    const batcher = new Batcher<number, number>(
      (entries) => {
        if (mode === 'sync') throw boom;
        if (mode === 'async') return Promise.reject(boom);
        for (const e of entries) e.resolve(e.arg);
        return Promise.resolve();
      },
      { maxBatch: 10, maxInFlight: 1 },
    );
    for (const m of ['sync', 'async'] as const) {
      mode = m;
      const settled = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
      expect(settled).toEqual([
        { status: 'rejected', reason: boom },
        { status: 'rejected', reason: boom },
      ]);
    }
    mode = 'ok';
    expect(await batcher.add(3)).toBe(3);
  });

  it('keeps what the load settled when it fails part way, and rejects the rest', async () => {
    const boom = new Error('boom');
    const { batcher } = recording({ maxBatch: 10 }, async (entries) => {
      entries[0]!.resolve(1);
      throw boom;
    });
    const settled = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(settled).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: boom },
    ]);
  });

  it('rejects a call the load leaves unanswered instead of leaving it pending', async () => {
    const { batcher } = recording({ maxBatch: 10 }, async (entries) => {
      entries[0]!.resolve(0);
    });
    const settled = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 0 });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/unanswered/) } });
  });

  it('lets a load hand a call over to another promise (resolve with a promise)', async () => {
    const other = new Batcher<number, number>(async (entries) => {
      await turn();
      for (const e of entries) e.resolve(-e.arg);
    }, { maxBatch: 10 });
    const { batcher } = recording({ maxBatch: 10 }, async (entries) => {
      for (const e of entries) e.resolve(e.arg % 2 === 0 ? e.arg : other.add(e.arg));
    });
    expect(await Promise.all([1, 2, 3].map((n) => batcher.add(n)))).toEqual([-1, 2, -3]);
  });

  it("settles through an entry's resolve and reject passed on detached", async () => {
    const boom = new Error('boom');
    const { batcher } = recording({ maxBatch: 10 }, async (entries) => {
      await Promise.all(
        entries.map(({ arg, resolve, reject }) => (arg < 0 ? Promise.reject(boom) : Promise.resolve(arg)).then(resolve, reject)),
      );
    });
    expect(await Promise.allSettled([batcher.add(1), batcher.add(-1)])).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: boom },
    ]);
  });

  it('refuses a maxBatch or maxInFlight below 1', () => {
    const load = async () => undefined;
    expect(() => new Batcher(load, { maxBatch: 0 })).toThrow(RangeError);
    expect(() => new Batcher(load, { maxBatch: 1.5 })).toThrow(RangeError);
    expect(() => new Batcher(load, { maxBatch: 1, maxInFlight: 0 })).toThrow(RangeError);
  });
});
