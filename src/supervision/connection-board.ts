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
const SLOT_BYTES = 8;
/** Milliseconds, as a 31-bit number every process reads alike (it wraps every 24 days; differences stay right). */
const clock = () => Date.now() & 0x7fffffff;

/**
 * How many connections each accepting worker holds, and when its event loop last turned: two
 * 32-bit numbers per slot in a small file that the master and its workers share by an inherited
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
    board.all.fill(0xff); // NOT_ACCEPTING in every slot
    writeSync(fd, board.all, 0, board.all.length, 0);
    return board;
  }

  /** A worker's view of the board it inherited at `fd`. */
  static open(fd: number): ConnectionBoard {
    return new ConnectionBoard(fd);
  }

  /** The worker in `slot` holds `connections`, and its loop turns now. */
  write(slot: number, connections: number): void {
    this.one.writeInt32LE(connections, 0);
    this.one.writeInt32LE(clock(), 4);
    writeSync(this.fd, this.one, 0, SLOT_BYTES, slot * SLOT_BYTES);
  }

  /** The worker in `slot`'s loop turns now. */
  beat(slot: number): void {
    this.one.writeInt32LE(clock(), 4);
    writeSync(this.fd, this.one, 4, 4, slot * SLOT_BYTES + 4);
  }

  /** Someone else (the master) counts one more connection for `slot`, without vouching for its loop. */
  credit(slot: number, connections: number): void {
    this.one.writeInt32LE(connections, 0);
    writeSync(this.fd, this.one, 0, 4, slot * SLOT_BYTES);
  }

  /** Every slot's count, as of now: NOT_ACCEPTING for a free slot, and for a worker whose loop stalls. */
  read(): (slot: number) => number {
    readSync(this.fd, this.all, 0, this.all.length, 0);
    const now = clock();
    return (slot) => {
      const at = slot * SLOT_BYTES;
      const count = this.all.readInt32LE(at);
      return count !== NOT_ACCEPTING && ((now - this.all.readInt32LE(at + 4)) & 0x7fffffff) < STALE_MS
        ? count
        : NOT_ACCEPTING;
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
