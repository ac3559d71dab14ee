import { existsSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Workers that can take part in balancing; more (TTIN past it) serve unbalanced, and are never given connections. */
export const BOARD_SLOTS = 64;
/** A slot nobody holds, or whose worker no longer accepts. */
export const NOT_ACCEPTING = -1;

/** A worker shows its event loop turns at least this often (balance.ts)… */
export const BEAT_MS = 50;
/** …and one that has not for this long is left out: its loop is blocked, a connection given to it would wait. */
const STALE_MS = 250;
/**
 * A slot: what its worker holds, when its loop last turned and how many connections the master has
 * passed to it so far (these three written by the worker), then how many the master has sent it so
 * far (written by the master). Each field has one writer: when the master also wrote the worker's
 * count, a worker's own post overwrote connections the master had just sent it and that had not
 * arrived yet, and a burst was then passed on twice over (29/11 of 40 on two workers).
 */
const SLOT_BYTES = 16;
const COUNT = 0;
const CLOCK = 4;
const RECEIVED = 8;
const SENT = 12;
const FREE_SLOT = Buffer.alloc(SLOT_BYTES);
FREE_SLOT.writeInt32LE(NOT_ACCEPTING, COUNT);
/** Milliseconds, as a 31-bit number every process reads alike (it wraps every 24 days; differences stay right). */
const clock = () => Date.now() & 0x7fffffff;

/**
 * How many connections each accepting worker holds, and when its event loop last turned: 32-bit
 * numbers per slot (SLOT_BYTES) in a small file that the master and its workers share by an inherited
 * descriptor (unlinked at once, so nothing is left on disk, and a worker that dropped its
 * privileges still writes through the open descriptor). Node has no memory shared between
 * processes; a pwrite of a few bytes and a pread of the board cost about 2 µs each from JavaScript.
 * Writes are whole numbers at fixed offsets, so a reader sees either the old value or the new one.
 */
export class ConnectionBoard {
  private readonly all = Buffer.alloc(BOARD_SLOTS * SLOT_BYTES);
  private readonly one = Buffer.alloc(SLOT_BYTES);

  private constructor(readonly fd: number) {}

  /** The master's board: every slot free. */
  static create(): ConnectionBoard {
    // Memory-backed where there is one: a write to a disk file's page also dirties its inode.
    const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const { fd, path } = createExclusive((n) => join(dir, `gserve-board-${process.pid}-${n}`));
    unlinkSync(path);
    const board = new ConnectionBoard(fd);
    for (let slot = 0; slot < BOARD_SLOTS; slot++) board.clear(slot);
    return board;
  }

  /** A worker's view of the board it inherited at `fd`. */
  static open(fd: number): ConnectionBoard {
    return new ConnectionBoard(fd);
  }

  /**
   * The worker in `slot` holds `connections`, of the `received` ones the master has passed to it so
   * far, and its loop turns now.
   */
  write(slot: number, connections: number, received = 0): void {
    this.one.writeInt32LE(connections, COUNT);
    this.one.writeInt32LE(clock(), CLOCK);
    this.one.writeInt32LE(received, RECEIVED);
    writeSync(this.fd, this.one, 0, SENT, slot * SLOT_BYTES);
  }

  /** The worker in `slot`'s loop turns now. */
  beat(slot: number): void {
    this.one.writeInt32LE(clock(), CLOCK);
    writeSync(this.fd, this.one, CLOCK, 4, slot * SLOT_BYTES + CLOCK);
  }

  /** The master has sent `sent` connections to `slot`'s worker so far; it vouches for no loop. */
  credit(slot: number, sent: number): void {
    this.one.writeInt32LE(sent, SENT);
    writeSync(this.fd, this.one, SENT, 4, slot * SLOT_BYTES + SENT);
  }

  /** The slot is nobody's: no worker's count, and nothing sent to it. */
  clear(slot: number): void {
    writeSync(this.fd, FREE_SLOT, 0, SLOT_BYTES, slot * SLOT_BYTES);
  }

  /**
   * Every slot's count as of now, the connections on their way to it counted in: NOT_ACCEPTING for a
   * free slot, and for a worker whose loop stalls.
   */
  read(): (slot: number) => number {
    readSync(this.fd, this.all, 0, this.all.length, 0);
    const now = clock();
    return (slot) => {
      const at = slot * SLOT_BYTES;
      const count = this.all.readInt32LE(at + COUNT);
      if (count === NOT_ACCEPTING || ((now - this.all.readInt32LE(at + CLOCK)) & 0x7fffffff) >= STALE_MS)
        return NOT_ACCEPTING;
      // `| 0`: both totals wrap alike after 2^31 connections.
      const onTheirWay = (this.all.readInt32LE(at + SENT) - this.all.readInt32LE(at + RECEIVED)) | 0;
      return count + Math.max(0, onTheirWay);
    };
  }
}

/**
 * Opens a new file that no one else has: 'wx' refuses a name that exists, so a name only needs to
 * be unlikely, not secret. (node:crypto would cost every worker about 15 ms of start-up to load.)
 */
function createExclusive(name: (n: string) => string): { fd: number; path: string } {
  for (let attempt = 0; ; attempt++) {
    const path = name(Math.random().toString(36).slice(2, 12));
    try {
      return { fd: openSync(path, 'wx+', 0o600), path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw err;
    }
  }
}
