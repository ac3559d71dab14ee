import { describe, expect, it, vi } from 'vitest';
import { ConnectionBoard, NOT_ACCEPTING } from '../../src/supervision/connection-board.js';
import { ConnectionBalance } from '../../src/worker/balance.js';

describe('connection balance (worker side)', () => {
  it('passes a connection on only when this worker holds clearly more than the least loaded one', () => {
    const board = ConnectionBoard.create();
    const mine = new ConnectionBalance(board, 0);
    const other = new ConnectionBalance(board, 1);
    expect(board.read()(0)).toBe(0);
    other.publish(10);
    expect(mine.shouldPass(3)).toBe(false); // a few are always kept
    expect(mine.shouldPass(11)).toBe(false); // about even
    expect(mine.shouldPass(20)).toBe(true);
    other.withdraw();
    expect(board.read()(1)).toBe(NOT_ACCEPTING);
    expect(mine.shouldPass(50)).toBe(false); // nobody else accepts
  });

  it('counts the connections it passed on until the board shows them, so a burst is not all passed on', () => {
    // A burst is accepted in one go, within a millisecond; the clocks stand still here, as they
    // would not on a loaded machine between twenty calls of a test.
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const board = ConnectionBoard.create();
      const mine = new ConnectionBalance(board, 0);
      new ConnectionBalance(board, 1); // accepting, holding none
      // The board does not change while the burst lasts.
      const passed = Array.from({ length: 20 }, () => mine.shouldPass(4)).filter(Boolean).length;
      expect(passed).toBeGreaterThan(0);
      expect(passed).toBeLessThan(5);
      // Once the lent connections should have shown and did not, they are no longer counted.
      vi.advanceTimersByTime(100);
      expect(mine.shouldPass(4)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops passing on once its connections turn out short-lived (Connection: close)', () => {
    const board = ConnectionBoard.create();
    const mine = new ConnectionBalance(board, 0);
    new ConnectionBalance(board, 1);
    for (let i = 0; i < 100; i++) mine.closed(3);
    expect(mine.shouldPass(40)).toBe(false);
    for (let i = 0; i < 100; i++) mine.closed(5_000);
    expect(mine.shouldPass(40)).toBe(true);
  });

  it('posts its count when it moved by two or more, and nothing once withdrawn', () => {
    const board = ConnectionBoard.create();
    const mine = new ConnectionBalance(board, 3);
    mine.publish(1);
    expect(board.read()(3)).toBe(0);
    mine.publish(2);
    expect(board.read()(3)).toBe(2);
    mine.withdraw();
    mine.publish(7);
    expect(board.read()(3)).toBe(NOT_ACCEPTING);
  });
});

describe('connection board', () => {
  it("counts what the master sent a worker until the worker posts it arrived; the worker's own post erases none of it", () => {
    const board = ConnectionBoard.create();
    const master = board;
    const worker = new ConnectionBalance(ConnectionBoard.open(board.fd), 2);
    master.credit(2, 3); // three sent, none arrived yet
    expect(board.read()(2)).toBe(3);
    worker.arrived();
    worker.publish(2); // one passed on plus one the kernel gave it; two still on their way
    expect(board.read()(2)).toBe(4);
    worker.arrived();
    worker.arrived();
    worker.publish(4);
    expect(board.read()(2)).toBe(4);
    // Two more sent, arriving and closing between posts (the count stays about 4): not on their way.
    master.credit(2, 5);
    worker.arrived();
    worker.publish(5);
    worker.publish(4);
    worker.arrived();
    worker.publish(5);
    expect(board.read()(2)).toBe(5); // not 6: the two that arrived are posted as arrived
    board.clear(2); // its worker exited: the next one in the slot starts from nothing
    expect(board.read()(2)).toBe(NOT_ACCEPTING);
    new ConnectionBalance(board, 2);
    expect(board.read()(2)).toBe(0);
  });

  it('leaves out a worker whose loop has not turned for a while: it is given nothing, and compared with nothing', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const board = ConnectionBoard.create();
      board.write(0, 5);
      expect(board.read()(0)).toBe(5);
      vi.setSystemTime(Date.now() + 1_000);
      expect(board.read()(0)).toBe(NOT_ACCEPTING);
      board.beat(0);
      expect(board.read()(0)).toBe(5);
      board.credit(0, 1); // the master's count vouches for no loop
      vi.setSystemTime(Date.now() + 1_000);
      expect(board.read()(0)).toBe(NOT_ACCEPTING);
    } finally {
      vi.useRealTimers();
    }
  });
});
