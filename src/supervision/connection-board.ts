import { existsSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Workers that can take part in balancing; more (TTIN past it) serve unbalanced, and are never given connections. */
export const BOARD_SLOTS = 64;
/** A slot nobody holds, or whose worker no longer accepts. */
export const NOT_ACCEPTING = -1;

/**
 * How many connections each accepting worker holds: one 32-bit number per slot in a small file
 * that the master and its workers share by an inherited descriptor (unlinked at once, so nothing
 * is left on disk, and a worker that dropped its privileges still writes through the open
 * descriptor). Node has no memory shared between processes; a 4-byte pwrite and a 256-byte pread
 * cost about 2 µs each from JavaScript. Writes are whole numbers at fixed offsets, so a reader sees either
 * the old count or the new one.
 */
export class ConnectionBoard {
  private readonly all = Buffer.alloc(BOARD_SLOTS * 4);
  private readonly one = Buffer.alloc(4);

  private constructor(readonly fd: number) {}

  /** The master's board: every slot free. */
  static create(): ConnectionBoard {
    // Memory-backed where there is one: a write to a disk file's page also dirties its inode.
    const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const path = join(dir, `gserve-board-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fd = openSync(path, 'wx+', 0o600);
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

  write(slot: number, connections: number): void {
    this.one.writeInt32LE(connections, 0);
    writeSync(this.fd, this.one, 0, 4, slot * 4);
  }

  /** Every slot's count, as of now (NOT_ACCEPTING for free ones). */
  read(): (slot: number) => number {
    readSync(this.fd, this.all, 0, this.all.length, 0);
    return (slot) => this.all.readInt32LE(slot * 4);
  }
}
