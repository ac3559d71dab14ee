import type { Socket } from 'node:net';
import { BOARD_SLOTS, NOT_ACCEPTING, type ConnectionBoard } from '../supervision/connection-board.js';
import type { WorkerMessage } from './ipc-messages.js';
import { onPulse } from './pulse.js';

/** A worker keeps every new connection while it holds fewer than this: a skew that small is not worth a hand-over. */
const KEEP_BELOW = 4;

/**
 * How long a connection passed on may take to show on the board: an IPC hop to the master, which
 * counts it there. 5 ms was too short on a loaded machine: the burst's later connections were then
 * passed on again before the first ones showed.
 */
const SHOWS_WITHIN_MS = 50;
/**
 * Connections that typically live shorter than this are not worth a hand-over (about 0.5 ms of the
 * master's CPU): clients that reconnect for each request (`Connection: close`) even out by
 * themselves, and passing their connections on made churning traffic 40% dearer.
 */
const LONG_LIVED_MS = 100;

/**
 * A worker's part in keeping connections even over the workers that accept on one socket
 * (master/balancer.ts says why): it posts how many connections it holds on the board, and a new
 * connection that would leave it clearly above the least loaded worker goes to the master, which
 * passes it on, before anything was read from it.
 */
export class ConnectionBalance {
  private withdrawn = false;
  private posted = 0;
  /** Connections the master passed to this worker so far; the board counts the rest as on their way. */
  private received = 0;
  private postedReceived = 0;
  /** How long this worker's connections have lived lately (a moving average); long until seen otherwise. */
  private typicalLifeMs = 10 * LONG_LIVED_MS;
  /**
   * Connections passed on that the board may not show yet. A burst is accepted in one go, before the
   * master has counted any of it: without these, every one after the first few would be passed on,
   * and the other worker would end up with the skew instead.
   */
  private lent = 0;
  private lentAt = 0;
  private lastLeast = 0;
  private readonly stopBeating: () => void;

  constructor(
    private readonly board: ConnectionBoard,
    private readonly slot: number,
  ) {
    board.write(slot, 0); // accepting, and holding nothing yet
    // Shows that this worker's loop turns: a worker whose loop is blocked is given nothing.
    this.stopBeating = onPulse(() => board.beat(slot));
  }

  /**
   * This worker holds `open` connections. Posted when it moved by two or more since the last post, or
   * two more passed-on ones arrived: connections that come and go (`Connection: close`) would
   * otherwise cost two writes each, and passed-on ones that arrived and closed between two posts
   * would go on counting as on their way here.
   */
  publish(open: number): void {
    if (this.withdrawn) return;
    if (Math.abs(open - this.posted) < 2 && ((this.received - this.postedReceived) | 0) < 2) return;
    this.posted = open;
    this.postedReceived = this.received;
    this.board.write(this.slot, open, this.received);
  }

  /** A connection passed on by the master arrived here (before it is counted in what this worker holds). */
  arrived(): void {
    this.received = (this.received + 1) | 0;
  }

  /** A connection closed after `livedMs`. */
  closed(livedMs: number): void {
    this.typicalLifeMs += (livedMs - this.typicalLifeMs) / 16;
  }

  /** This worker stopped accepting: it is no longer compared with, nor given connections. */
  withdraw(): void {
    this.stopBeating();
    this.board.write(this.slot, NOT_ACCEPTING, this.received);
    this.withdrawn = true;
  }

  /**
   * Whether a new connection, with `open` held here already, belongs to a less loaded worker: when
   * this worker holds more than the least loaded one (counting what was lent to it), plus one, plus
   * an eighth.
   */
  shouldPass(open: number): boolean {
    if (open < KEEP_BELOW || this.withdrawn || this.typicalLifeMs < LONG_LIVED_MS) return false;
    const count = this.board.read();
    let least = Number.POSITIVE_INFINITY;
    for (let slot = 0; slot < BOARD_SLOTS; slot++) {
      const n = slot === this.slot ? NOT_ACCEPTING : count(slot);
      if (n !== NOT_ACCEPTING && n < least) least = n;
    }
    const now = performance.now();
    // What the board shows now of the connections lent is no longer owed.
    if (now - this.lentAt > SHOWS_WITHIN_MS) this.lent = 0;
    else if (least > this.lastLeast) this.lent = Math.max(0, this.lent - (least - this.lastLeast));
    this.lastLeast = least;
    const there = least + this.lent;
    if (open <= there + 1 + (there >> 3)) return false;
    this.lent++;
    this.lentAt = now;
    return true;
  }

  /** Hands `socket` (not read from yet) to the master; false if the master cannot take it. */
  pass(socket: Socket, listener: number, sent: () => void): boolean {
    if (!process.connected) return false;
    const message: WorkerMessage = { t: 'surplus', listener };
    try {
      // The handle leaves with the message and this process's copy is closed once it is sent.
      process.send!(message, socket, {}, (err: Error | null) => {
        if (err) socket.destroy();
        sent();
      });
      return true;
    } catch {
      return false;
    }
  }
}
