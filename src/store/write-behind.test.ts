import { describe, expect, it, vi } from 'vitest';
import { WriteBehind, type OpResult } from './write-behind.js';

/** A commit that runs the ops and records each batch's size. */
function recorder(fail?: (i: number) => unknown) {
  const batches: number[] = [];
  const commit = vi.fn((ops: ReadonlyArray<() => void>): OpResult[] => {
    batches.push(ops.length);
    return ops.map((op, i) => {
      op();
      const error = fail?.(i);
      return error === undefined ? null : { error };
    });
  });
  return { batches, commit };
}

describe('WriteBehind', () => {
  it('commits everything queued in one turn as one batch, on the next turn', async () => {
    const { batches, commit } = recorder();
    const q = new WriteBehind({ commit, maxBatch: 100 });
    const ran: number[] = [];
    const ps = [1, 2, 3].map((n) => q.enqueue(() => ran.push(n), `k${n}`));
    expect(ran).toEqual([]);
    expect(q.size).toBe(3);
    await Promise.all(ps);
    expect(ran).toEqual([1, 2, 3]);
    expect(batches).toEqual([3]);
    expect(q.size).toBe(0);
  });

  it('flushes synchronously when the batch is full', () => {
    const { batches, commit } = recorder();
    const q = new WriteBehind({ commit, maxBatch: 2 });
    void q.enqueue(() => {}, 'a');
    expect(batches).toEqual([]);
    void q.enqueue(() => {}, 'b');
    expect(batches).toEqual([2]);
  });

  it('tracks the keys of queued writes until they are flushed', () => {
    const q = new WriteBehind({ commit: recorder().commit, maxBatch: 10 });
    void q.enqueue(() => {}, 'u:alice');
    expect(q.has('u:alice')).toBe(true);
    expect(q.has('u:bob')).toBe(false);
    q.flush();
    expect(q.has('u:alice')).toBe(false);
  });

  it('rejects only the writes whose op failed', async () => {
    const boom = new Error('boom');
    const q = new WriteBehind({ commit: recorder((i) => (i === 1 ? boom : undefined)).commit, maxBatch: 10 });
    const results = await Promise.allSettled([0, 1, 2].map((n) => q.enqueue(() => {}, `k${n}`)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBe(boom);
  });

  it('rejects every write of a batch whose commit threw, and keeps working after', async () => {
    let down = true;
    const q = new WriteBehind({
      commit: (ops) => {
        if (down) throw new Error('SQLITE_BUSY');
        return ops.map(() => null);
      },
      maxBatch: 10,
    });
    const failed = await Promise.allSettled([q.enqueue(() => {}, 'a'), q.enqueue(() => {}, 'b')]);
    expect(failed.every((r) => r.status === 'rejected')).toBe(true);
    down = false;
    await expect(q.enqueue(() => {}, 'c')).resolves.toBeUndefined();
  });

  it('does nothing when flushed empty, and does not commit twice after an early flush', async () => {
    const { batches, commit } = recorder();
    const q = new WriteBehind({ commit, maxBatch: 10 });
    q.flush();
    const p = q.enqueue(() => {}, 'a');
    q.flush();
    await p;
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([1]);
  });

  it('refuses a batch size below 1', () => {
    expect(() => new WriteBehind({ commit: () => [], maxBatch: 0 })).toThrow(/maxBatch/);
  });
});
