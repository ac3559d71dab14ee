import { describe, expect, it } from 'vitest';
import type { WorkerProcess } from '../../src/master/worker-process.js';
import { WorkerStatsBook } from '../../src/master/worker-stats.js';

/** What the book reads of a worker: its pid, slot, generation and why it ended (null: a crash). */
const worker = (pid: number, index: number, generation = 1) =>
  ({ pid, index, generation, endReason: null, bootError: null, state: 'ready', bornAt: 0 }) as unknown as WorkerProcess;

describe('WorkerStatsBook restarts', () => {
  it('a replacement carries on the count of the worker whose slot it takes, whatever the order of the crashes', () => {
    const book = new WorkerStatsBook();
    const a = worker(100, 0);
    const b = worker(101, 1);
    book.spawned(a);
    book.spawned(b);
    // Slot 0 has been replaced twice already.
    book.exited(a, false);
    const a1 = worker(102, 0);
    book.spawned(a1);
    book.exited(a1, false);
    const a2 = worker(103, 0);
    book.spawned(a2);
    expect(book.row(a2).restarts).toBe(2);
    // Slot 1 crashes first, then slot 0; the arbiter refills the lowest free slot first.
    book.exited(b, false);
    book.exited(a2, false);
    // A worker added meanwhile (TTIN, slot 2) replaced no one.
    const added = worker(104, 2);
    book.spawned(added);
    expect(book.row(added).restarts).toBe(0);
    const a3 = worker(105, 0);
    const b1 = worker(106, 1);
    book.spawned(a3);
    book.spawned(b1);
    expect(book.row(a3).restarts).toBe(3);
    expect(book.row(b1).restarts).toBe(1);
    expect(book.restarts.crash).toBe(4);
  });
});
