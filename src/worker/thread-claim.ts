/**
 * Requests handed to a busy app thread ahead of time, so that the thread starts the next one the
 * moment it finishes the one in hand, instead of waiting a round trip through the main thread, and
 * so that several travel in one message. Until the thread starts one, the main thread may take it
 * back and give it to a thread that came free first: a fast request never waits behind a slow one
 * while another thread idles. Which of the two wins is settled by one compare-and-swap on a cell
 * both threads share. Request ids are unique and never 0 (0 marks a free cell), so a cell reused for
 * a later request is never mistaken for an earlier one.
 */
export class ClaimCells {
  private readonly cells: Int32Array;

  constructor(bufferOrCount: SharedArrayBuffer | number) {
    const buffer = typeof bufferOrCount === 'number' ? new SharedArrayBuffer(4 * bufferOrCount) : bufferOrCount;
    this.cells = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.cells.buffer as SharedArrayBuffer;
  }

  /** Main thread: a cell for request `id`, on its way ahead of time; -1 when none is free. */
  offer(id: number): number {
    const cell = this.cells.indexOf(0);
    if (cell >= 0) Atomics.store(this.cells, cell, id);
    return cell;
  }

  /**
   * Either side: take request `id`, true for exactly one of them. The app thread takes it to start
   * it; the main thread takes it back to give it elsewhere.
   */
  take(cell: number, id: number): boolean {
    return Atomics.compareExchange(this.cells, cell, id, 0) === id;
  }
}

/** Request ids: positive 31-bit integers, as a claim cell holds them, wrapping long before they repeat in use. */
export const nextRequestId = (id: number): number => (id % 0x7fffffff) + 1;
