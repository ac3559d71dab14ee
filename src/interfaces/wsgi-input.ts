import { readSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const EMPTY = Buffer.alloc(0);

/**
 * `wsgi.input`: WSGI apps read the body synchronously, so the body is received before the app
 * runs. Up to `spoolSize` bytes stay in memory; past that the body goes to a temporary file
 * (unlinked once it is opened, so nothing is left behind even after a crash) and `read(n)`
 * becomes a synchronous `readSync` at the current offset. Memory stays flat for any body size.
 */
export class WsgiInput {
  private position = 0;
  private constructor(
    private readonly memory: Buffer | null,
    private readonly file: FileHandle | null,
    readonly length: number,
  ) {}

  /** A request without a body: its stream is never made. */
  static empty(): WsgiInput {
    return new WsgiInput(EMPTY, null, 0);
  }

  static async receive(body: Readable, spoolSize: number): Promise<WsgiInput> {
    const chunks: Buffer[] = [];
    let length = 0;
    let file: FileHandle | null = null;
    try {
      for await (const data of body) {
        // A request body stream gives Buffers; anything else is copied into one.
        const chunk: Buffer = Buffer.isBuffer(data) ? data : Buffer.from(data);
        length += chunk.byteLength;
        if (file) await file.write(chunk);
        else {
          chunks.push(chunk);
          if (length > spoolSize) {
            const path = join(tmpdir(), `gserve-wsgi-${process.pid}-${Math.random().toString(36).slice(2)}`);
            file = await open(path, 'w+', 0o600);
            unlinkSync(path);
            await file.write(Buffer.concat(chunks));
            chunks.length = 0;
          }
        }
      }
    } catch (err) {
      await file?.close();
      throw err;
    }
    // The FileHandle's descriptor serves synchronous reads (readSync); the handle closes it.
    if (file) return new WsgiInput(null, file, length);
    return new WsgiInput(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), null, length);
  }

  private readAt(size: number): Buffer {
    const n = Math.max(0, Math.min(size, this.length - this.position));
    if (n === 0) return Buffer.alloc(0);
    let out: Buffer;
    if (this.memory) out = this.memory.subarray(this.position, this.position + n);
    else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) got += readSync(this.file!.fd, out, got, n - got, this.position + got);
    }
    this.position += n;
    return out;
  }

  /** Up to `size` bytes (all that is left when `size` is omitted or negative); empty at the end. */
  read(size = -1): Buffer {
    return this.readAt(size === null || size < 0 ? this.length - this.position : size);
  }

  /** One line, with its `\n`; at most `size` bytes when given. */
  readline(size = -1): Buffer {
    const limit = size === null || size < 0 ? this.length - this.position : Math.min(size, this.length - this.position);
    if (this.memory) {
      const nl = this.memory.indexOf(10, this.position);
      const end = nl < 0 ? this.position + limit : Math.min(nl + 1 - this.position, limit) + this.position;
      return this.readAt(end - this.position);
    }
    const parts: Buffer[] = [];
    let taken = 0;
    while (taken < limit) {
      const block = this.readAt(Math.min(8192, limit - taken));
      if (block.length === 0) break;
      const nl = block.indexOf(10);
      if (nl >= 0) {
        parts.push(block.subarray(0, nl + 1));
        this.position -= block.length - (nl + 1); // give back what follows the newline
        break;
      }
      parts.push(block);
      taken += block.length;
    }
    return Buffer.concat(parts);
  }

  /** The remaining lines; stops once about `hint` bytes were read, when given. */
  readlines(hint = -1): Buffer[] {
    const lines: Buffer[] = [];
    let total = 0;
    for (let line = this.readline(); line.length > 0; line = this.readline()) {
      lines.push(line);
      total += line.length;
      if (hint > 0 && total >= hint) break;
    }
    return lines;
  }

  *[Symbol.iterator](): Iterator<Buffer> {
    for (let line = this.readline(); line.length > 0; line = this.readline()) yield line;
  }

  /** Whether the body went to a spool file, which dispose() closes. */
  get spooled(): boolean {
    return this.file !== null;
  }

  /** Frees the spool file, if any. */
  async dispose(): Promise<void> {
    await this.file?.close();
  }
}
