import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { handleFd, stopReading } from './node-handles.js';

/** How far a head is read here at most: a larger one is the worker's to read on, and to judge. */
const MAX_HEAD_BYTES = 64 * 1024;
/** The first read, made at the accept; its bytes are copied out. */
const firstRead = Buffer.allocUnsafe(16 * 1024);
const LF = 0x0a;
const CR = 0x0d;

export interface HeadWaitOptions {
  /** Until the empty line that ends the head; false (a TLS listener, whose bytes are sealed): the first bytes. */
  wholeHead: boolean;
  /** The line and field limits: a head past one is handed on at once, for the worker to refuse. */
  limits: HeadScanLimits;
  /** --header-timeout in ms, from the accept; 0 waits as long as the client stays. */
  timeoutMs: number;
}

export type HeadOutcome =
  /** What was read; the socket no longer reads, and the rest waits in the kernel for the worker. */
  | { kind: 'arrived'; bytes: Buffer }
  /** --header-timeout passed; `sentAny`: some of a head came (it is owed a 408), or nothing did. */
  | { kind: 'timeout'; sentAny: boolean }
  /** The client left (or closed its side before sending anything): nothing to answer. */
  | { kind: 'gone' };

/**
 * The sync class's master holds each new connection here until its request head has arrived: a
 * sync worker serves one connection at a time, so a client that connects and sends nothing, or
 * trickles its head a byte at a time, would hold a worker for the whole --header-timeout, and a
 * handful of them would stop every request behind them. Gunicorn leaves that to a buffering proxy
 * in front; this is the part of one that the sync class needs. The worker gets these bytes with the
 * connection and parses them as if it had read them itself.
 */
export function waitForHead(socket: Socket, opts: HeadWaitOptions, done: (outcome: HeadOutcome) => void): void {
  const parts: Buffer[] = [];
  let length = 0;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const scan = new HeadScan(opts.limits);
  const onData = (chunk: Buffer) => {
    parts.push(chunk);
    length += chunk.length;
    if (!opts.wholeHead || length >= MAX_HEAD_BYTES || scan.feed(chunk)) arrived();
  };
  // The client closed its side: a part of a head goes on to the worker, which reads the end of the
  // stream again and answers as it does to any truncated head.
  const onEnd = () => (length > 0 ? arrived() : finish({ kind: 'gone' }));
  const onClose = () => finish({ kind: 'gone' });
  function arrived(): void {
    // Nothing more is read here: a byte read after this would be lost to the worker.
    socket.pause();
    stopReading(socket);
    finish({ kind: 'arrived', bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, length) });
  }
  function finish(outcome: HeadOutcome): void {
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    done(outcome);
  }
  // Nearly every client sends its head with the connection: it is read at once, without waiting
  // for a turn of the event loop (libuv has not started reading a socket accepted paused).
  const first = readAtOnce(socket);
  if (first === 'end') return finish({ kind: 'gone' });
  if (first) onData(first);
  if (settled) return;
  if (opts.timeoutMs > 0) timer = setTimeout(() => finish({ kind: 'timeout', sentAny: length > 0 }), opts.timeoutMs);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  socket.resume();
}

/**
 * What has already arrived on a socket that node has not started reading: a copy of the bytes,
 * null when nothing has (or the descriptor is out of reach), 'end' when the client closed it.
 */
function readAtOnce(socket: Socket): Buffer | null | 'end' {
  const fd = handleFd(socket);
  if (fd === null) return null;
  try {
    const n = readSync(fd, firstRead, 0, firstRead.length, null);
    return n === 0 ? 'end' : Buffer.from(firstRead.subarray(0, n));
  } catch {
    return null; // EAGAIN: nothing yet; anything else shows again on node's own read
  }
}

/** RFC 9110 tchar: the bytes of a method and of a field name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const VERSION = 'HTTP/d.d';

enum At {
  /** Before the request line, where empty lines are allowed. */
  Start,
  StartCR,
  Method,
  Target,
  Version,
  LineCR,
  FieldStart,
  Name,
  Value,
  EndCR,
}

export interface HeadScanLimits {
  /** --limit-request-line, --limit-request-field-size, --limit-request-fields; 0 for none. */
  requestLine: number;
  requestFieldSize: number;
  requestFields: number;
}

/**
 * Follows a head as it arrives, byte by byte, and says when to hand it on: at the empty line that
 * ends it, or at the first byte that a head written to RFC 9112 cannot hold there, or at a line or
 * a field count past the limits. The worker's parser then judges it all again, with the precise
 * answer, at once: a client that sent something wrong is refused without waiting for a head that
 * never ends. Handing on early only costs the protection; it never lets anything through.
 */
export class HeadScan {
  private at = At.Start;
  private lineLength = 0;
  private fields = 0;
  private versionAt = 0;

  constructor(private readonly limits: HeadScanLimits) {}

  /** Whether this chunk ends the head, or holds what only the worker can answer. */
  feed(chunk: Buffer): boolean {
    for (let i = 0; i < chunk.length; i++) if (this.step(chunk[i]!)) return true;
    return false;
  }

  private step(byte: number): boolean {
    this.lineLength++;
    switch (this.at) {
      case At.Start:
        if (byte === CR) return this.go(At.StartCR);
        this.lineLength = 1;
        if (!TCHAR[byte]) return true;
        return this.go(At.Method);
      case At.StartCR:
        if (byte !== LF) return true;
        return this.go(At.Start);
      case At.Method:
        if (byte === SP) return this.go(At.Target);
        return !TCHAR[byte] || this.tooLong(this.limits.requestLine);
      case At.Target:
        if (byte === SP) {
          this.versionAt = 0;
          return this.go(At.Version);
        }
        return byte < 0x21 || byte > 0x7e || this.tooLong(this.limits.requestLine);
      case At.Version: {
        if (this.versionAt === VERSION.length) return byte !== CR || this.go(At.LineCR);
        const expected = VERSION.charCodeAt(this.versionAt++);
        return expected === 0x64 /* d */ ? byte < 0x30 || byte > 0x39 : byte !== expected;
      }
      case At.LineCR:
        if (byte !== LF) return true;
        this.lineLength = 0;
        return this.go(At.FieldStart);
      case At.FieldStart:
        if (byte === CR) return this.go(At.EndCR);
        if (!TCHAR[byte]) return true; // obs-fold, a bare LF, a stray byte
        this.fields++;
        if (this.limits.requestFields > 0 && this.fields > this.limits.requestFields) return true;
        return this.go(At.Name);
      case At.Name:
        if (byte === COLON) return this.go(At.Value);
        return !TCHAR[byte] || this.tooLong(this.limits.requestFieldSize);
      case At.Value:
        if (byte === CR) return this.go(At.LineCR);
        if (byte < 0x20 ? byte !== HTAB : byte === 0x7f) return true;
        return this.tooLong(this.limits.requestFieldSize);
      case At.EndCR:
        return true; // the head's end, or a CR without its LF: the worker's either way
    }
  }

  private go(at: At): false {
    this.at = at;
    return false;
  }

  private tooLong(limit: number): boolean {
    return limit > 0 && this.lineLength > limit;
  }
}
