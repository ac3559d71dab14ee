import { setImmediate as nextTurn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ClaimCells, nextRequestId } from '../../src/worker/thread-claim.js';
import { Outbox } from '../../src/worker/thread-outbox.js';

describe('ClaimCells: a request handed ahead is taken by exactly one side', () => {
  it('the thread starts it, or the main thread takes it back, never both', () => {
    const main = new ClaimCells(2);
    const thread = new ClaimCells(main.buffer); // the same cells, as the app thread sees them
    const a = main.offer(5);
    const b = main.offer(6);
    expect([a, b]).toEqual([0, 1]);
    expect(main.offer(7)).toBe(-1); // every cell holds a request
    expect(thread.take(a, 5)).toBe(true);
    expect(main.take(a, 5)).toBe(false);
    expect(main.take(b, 6)).toBe(true);
    expect(thread.take(b, 6)).toBe(false);
  });

  it('a cell reused for a later request is not taken for the earlier one', () => {
    const cells = new ClaimCells(1);
    const cell = cells.offer(5);
    expect(cells.take(cell, 5)).toBe(true); // taken back by the main thread
    expect(cells.offer(6)).toBe(cell);
    expect(cells.take(cell, 5)).toBe(false); // the thread, late, finds request 6 there
    expect(cells.take(cell, 6)).toBe(true);
  });

  it('holds across threads: of many races between two threads, each request is taken once', async () => {
    const rounds = 20_000;
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      const cell = new Int32Array(workerData.buffer);
      let taken = 0;
      for (let id = 1; id <= workerData.rounds; id++) {
        while (Atomics.load(cell, 1) < id) {} // wait for request id to be offered
        if (Atomics.compareExchange(cell, 0, id, 0) === id) taken++;
        Atomics.store(cell, 2, id);
      }
      parentPort.postMessage(taken);`;
    // Cell 0 is the claim; 1 and 2 only pace the two sides so that each id is raced by both.
    const shared = new SharedArrayBuffer(12);
    const race = new ClaimCells(shared);
    const pace = new Int32Array(shared);
    const worker = new Worker(source, { eval: true, workerData: { buffer: shared, rounds } });
    let mine = 0;
    for (let id = 1; id <= rounds; id++) {
      expect(race.offer(id)).toBe(0);
      Atomics.store(pace, 1, id);
      if (race.take(0, id)) mine++;
      while (Atomics.load(pace, 2) < id) {} // the thread has tried too
    }
    const theirs = await new Promise<number>((resolve) => worker.once('message', resolve));
    await worker.terminate();
    expect(mine + theirs).toBe(rounds);
  });

  it('request ids stay positive 31-bit integers', () => {
    expect(nextRequestId(1)).toBe(2);
    expect(nextRequestId(0x7fffffff)).toBe(1);
  });
});

describe('Outbox: what one turn posts goes in one message', () => {
  it('gathers a turn, keeps order and transfers, and posts again next turn', async () => {
    const posts: Array<{ wires: number[]; transfer: ArrayBuffer[] }> = [];
    const outbox = new Outbox<number>((wires, transfer) => posts.push({ wires, transfer }));
    const buffer = new ArrayBuffer(1);
    outbox.add(1);
    outbox.add(2, [buffer]);
    outbox.add(3);
    expect(posts).toEqual([]);
    await nextTurn();
    expect(posts).toEqual([{ wires: [1, 2, 3], transfer: [buffer] }]);
    outbox.add(4);
    await nextTurn();
    expect(posts.map((p) => p.wires)).toEqual([[1, 2, 3], [4]]);
  });

  it('flush posts at once, and the turn then finds nothing left', async () => {
    const posts: number[][] = [];
    const outbox = new Outbox<number>((wires) => posts.push(wires));
    outbox.add(1);
    outbox.flush();
    expect(posts).toEqual([[1]]);
    await nextTurn();
    expect(posts).toEqual([[1]]);
  });
});
