import { Duplex } from 'node:stream';
import { parseResponses } from './raw.js';

/**
 * In-memory connections for in-process tests of the engine and the adapters: no process, no port,
 * every byte and every close under the test's control.
 */

/** The server's end of an in-memory connection: what the engine writes is collected in `sent`. */
export class MemorySocket extends Duplex {
  readonly sent: Buffer[] = [];
  remoteAddress = '127.0.0.1';
  remotePort = 50000;
  localAddress = '127.0.0.1';
  localPort = 8000;
  ended = false;
  constructor() {
    super({ allowHalfOpen: true });
    this.on('finish', () => (this.ended = true));
  }
  setNoDelay(): this {
    return this;
  }
  override _read(): void {}
  /** While set, the client reads nothing: each write stays unfinished until release(). */
  private held: Array<() => void> | null = null;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.sent.push(Buffer.from(chunk));
    this.finishWrite(done);
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) this.sent.push(Buffer.from(chunk));
    this.finishWrite(done);
  }
  private finishWrite(done: () => void): void {
    if (this.held) this.held.push(done);
    else done();
  }
  /** The client stops reading. */
  stall(): void {
    this.held ??= [];
  }
  /** The client reads again, everything held first. */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const done of held) done();
  }
  /** The client sends bytes (latin1 text). */
  send(text: string): void {
    this.push(Buffer.from(text, 'latin1'));
  }
  get text(): string {
    return Buffer.concat(this.sent).toString('latin1');
  }
  get responses() {
    return parseResponses(Buffer.concat(this.sent));
  }
}

export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Waits until `predicate` holds, a turn of the event loop at a time (the sockets are in memory). */
export async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (predicate()) return;
    await tick();
  }
  throw new Error(`never happened: ${what}`);
}
