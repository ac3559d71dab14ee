import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { HttpLimits } from '../http/limits.js';
import { handleFd, stopReading } from './node-handles.js';

/**
 * How far a request is read here at most: a larger head is the worker's to read on, and to judge;
 * a body that would end past it is the worker's to read (uploads, which stream).
 */
export const MAX_HELD_BYTES = 64 * 1024;
/** The first read, made at the accept; its bytes are copied out. */
const firstRead = Buffer.allocUnsafe(16 * 1024);
const LF = 0x0a;
const CR = 0x0d;

export interface RequestWaitOptions {
  /** The listener speaks plain HTTP, so the request is read; false (TLS, sealed): only its first bytes. */
  plainHttp: boolean;
  /** --proxy-protocol: a PROXY v1 line may come first, and is skipped (v2, binary, is handed on at once). */
  proxyHeader: boolean;
  /** The line and field limits: a head past one is handed on at once, for the worker to refuse. */
  limits: HeadScanLimits;
  /** --header-timeout in ms, from the accept; 0 waits as long as the client stays. */
  timeoutMs: number;
  /** --request-timeout in ms, for a body from the end of its head; 0: as long as the client stays. */
  bodyTimeoutMs: number;
}

export type RequestOutcome =
  /** What was read; the socket no longer reads, and the rest waits in the kernel for the worker. */
  | { kind: 'arrived'; bytes: Buffer }
  /**
   * A timeout passed: --header-timeout while the head arrived (`sentAny`: some of it came, and is
   * owed a 408, or nothing did), or --request-timeout while its body did.
   */
  | { kind: 'timeout'; part: 'head' | 'body'; sentAny: boolean }
  /** The client left (or closed its side before sending anything): nothing to answer. */
  | { kind: 'gone' };

/** The master's hold on a connection whose request is still arriving. */
export interface RequestWait {
  /**
   * Ends the wait at once, as if the request had arrived, with what has come of it so far: for a
   * master whose workers are about to stop, which hands them every connection it holds.
   */
  handOnNow(): void;
  /** Whether the client has sent a byte yet. */
  sentAny(): boolean;
}

/**
 * The sync class's master holds each new connection here until its request has arrived: its head,
 * and its body when `Content-Length` announces one that ends within MAX_HELD_BYTES. A sync worker
 * serves one connection at a time, so a client that connects and sends nothing, or trickles its
 * head or its body a byte at a time, would hold a worker for the whole --header-timeout or
 * --request-timeout, and a handful of them would stop every request behind them. Gunicorn leaves
 * that to a buffering proxy in front; this is the part of one that the sync class needs. The worker
 * gets these bytes with the connection and parses them as if it had read them itself.
 */
export function waitForRequest(
  socket: Socket,
  opts: RequestWaitOptions,
  done: (outcome: RequestOutcome) => void,
): RequestWait {
  const parts: Buffer[] = [];
  let length = 0;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  /** Where the request ends, once its head is whole and its body is held here too. */
  let requestEnd = -1;
  const scan = new HeadScan(opts.limits, opts.proxyHeader);
  const startTimer = (ms: number, part: 'head' | 'body') =>
    ms > 0 ? setTimeout(() => finish({ kind: 'timeout', part, sentAny: length > 0 }), ms) : undefined;
  const take = (chunk: Buffer) => {
    parts.push(chunk);
    length += chunk.length;
    if (requestEnd < 0) {
      if (opts.plainHttp && length < MAX_HELD_BYTES && !scan.feed(chunk)) return;
      const body = opts.plainHttp ? scan.bodyLength() : null;
      // Handed on early (a TLS listener, a bad byte, a limit, a large head), or nothing to wait for.
      if (!body || scan.headLength + body > MAX_HELD_BYTES) return arrived();
      requestEnd = scan.headLength + body;
      clearTimeout(timer);
      timer = startTimer(opts.bodyTimeoutMs, 'body');
    }
    if (length >= requestEnd) arrived();
  };
  const onData = (chunk: Buffer) => {
    take(chunk);
    if (settled) return;
    // A reset right behind these bytes shows only to the next read, which node makes a turn of the
    // loop later (or not at all, when libuv takes the hang-up for the end, onEnd): the connection
    // would count toward the master's hold meanwhile, and a burst of them fills it.
    const more = readAtOnce(socket);
    if (more === 'reset') finish({ kind: 'gone' });
    else if (more instanceof Buffer) onData(more);
  };
  // The client closed its side: a part of a request goes on to the worker, which reads the end of
  // the stream again and answers as it does to any truncated request. A reset libuv took for the
  // end has no one to answer.
  const onEnd = () => (length > 0 && readAtOnce(socket) !== 'reset' ? arrived() : finish({ kind: 'gone' }));
  const onClose = () => finish({ kind: 'gone' });
  function arrived(): void {
    // Nothing more is read here: a byte read after this would be lost to the worker.
    socket.pause();
    stopReading(socket);
    finish({ kind: 'arrived', bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, length) });
  }
  function finish(outcome: RequestOutcome): void {
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    done(outcome);
  }
  // Nearly every client sends its head with the connection: it is read at once, without waiting
  // for a turn of the event loop (libuv has not started reading a socket accepted paused).
  const wait: RequestWait = {
    handOnNow: () => {
      if (!settled) arrived();
    },
    sentAny: () => length > 0,
  };
  const first = readAtOnce(socket);
  if (first === 'end' || first === 'reset') {
    finish({ kind: 'gone' });
    return wait;
  }
  if (first) onData(first);
  if (settled) return wait;
  if (requestEnd < 0) timer = startTimer(opts.timeoutMs, 'head');
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  socket.resume();
  return wait;
}

/**
 * What has arrived on a socket that node is not reading, or has just read up to here: a copy of the
 * bytes, null when nothing has (or the descriptor is out of reach), 'end' when the client closed its
 * side, 'reset' when it reset the connection.
 */
export function readAtOnce(socket: Socket): Buffer | null | 'end' | 'reset' {
  const fd = handleFd(socket);
  if (fd === null) return null;
  try {
    const n = readSync(fd, firstRead, 0, firstRead.length, null);
    return n === 0 ? 'end' : Buffer.from(firstRead.subarray(0, n));
  } catch (err) {
    // EAGAIN: nothing yet. A reset is told to one read only: node's own next would see the end.
    return (err as NodeJS.ErrnoException).code === 'EAGAIN' ? null : 'reset';
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
  /** The rest of a PROXY protocol v1 line. */
  ProxyLine,
  Target,
  Version,
  LineCR,
  FieldStart,
  Name,
  Value,
  EndCR,
  /** The empty line came: the head is whole. */
  End,
}

enum Field {
  Other,
  ContentLength,
}
/** A PROXY protocol v1 line's most bytes, CRLF included. */
const MAX_PROXY_LINE = 107;
/** `transfer-encoding`: no longer name needs telling apart. */
const LONGEST_FRAMING_NAME = 17;

/** --limit-request-line, --limit-request-field-size, --limit-request-fields; 0 for none. */
export type HeadScanLimits = Pick<HttpLimits, 'requestLine' | 'requestFieldSize' | 'requestFields' | 'requestBody'>;

/**
 * Follows a head as it arrives, byte by byte, and says when to hand it on: at the empty line that
 * ends it, or at the first byte that a head written to RFC 9112 cannot hold there, or at a line or
 * a field count past the limits. The worker's parser then judges it all again, with the precise
 * answer, at once: a client that sent something wrong is refused without waiting for a head that
 * never ends. Handing on early only costs the protection; it never lets anything through. Of the
 * fields it reads only what says how long the body is, to hold a small body too.
 */
export class HeadScan {
  private at = At.Start;
  private lineLength = 0;
  private fields = 0;
  private versionAt = 0;
  /** Bytes fed before the current chunk. */
  private fed = 0;
  /** The whole head's length, once its empty line came; 0 before, and when handed on early. */
  headLength = 0;
  /** The name of the field being read, lower-cased (as far as a framing field's name goes). */
  private name = '';
  private field = Field.Other;
  private contentLength = -1;
  /** Space came after the `Content-Length` digits: nothing else may follow. */
  private lengthEnded = false;
  /** Framing only the worker can judge (`Transfer-Encoding`, a second or odd `Content-Length`), or `Expect`. */
  private framingUnclear = false;
  private hostSeen = false;
  /** The first bytes of the request line, as far as telling `PROXY` apart goes. */
  private method = '';

  constructor(
    private readonly limits: HeadScanLimits,
    /** A PROXY protocol v1 line may come before the request line. */
    private proxyLine = false,
  ) {}

  /** Whether this chunk ends the head, or holds what only the worker can answer. */
  feed(chunk: Buffer): boolean {
    for (let i = 0; i < chunk.length; i++) {
      if (!this.step(chunk[i]!)) continue;
      if (this.at === At.End) this.headLength = this.fed + i + 1;
      return true;
    }
    this.fed += chunk.length;
    return false;
  }

  /**
   * The body to wait for after a whole head: `Content-Length`'s, or 0; null when only the worker can
   * tell (chunked, an odd length), when the client waits for an answer first (`Expect`), or when the
   * head alone is refused (a body past --limit-request-body, no Host): 413 or 400 at once, not a 408
   * once the body never came.
   */
  bodyLength(): number | null {
    if (this.headLength === 0 || this.framingUnclear || !this.hostSeen) return null;
    const limit = this.limits.requestBody;
    if (limit > 0 && this.contentLength > limit) return null;
    return Math.max(0, this.contentLength);
  }

  private step(byte: number): boolean {
    this.lineLength++;
    switch (this.at) {
      case At.Start:
        if (byte === CR) return this.go(At.StartCR);
        this.lineLength = 1;
        if (!TCHAR[byte]) return true;
        this.method = String.fromCharCode(byte);
        return this.go(At.Method);
      case At.StartCR:
        if (byte !== LF) return true;
        return this.go(At.Start);
      case At.Method:
        if (byte === SP) {
          if (!this.proxyLine || this.method !== 'PROXY') return this.go(At.Target);
          this.proxyLine = false; // one, before the first request line
          return this.go(At.ProxyLine);
        }
        if (this.method.length <= 5) this.method += String.fromCharCode(byte);
        return !TCHAR[byte] || this.tooLong(this.limits.requestLine);
      case At.ProxyLine:
        if (byte === LF) return this.go(At.Start);
        return byte < 0x20 ? byte !== CR : byte > 0x7e || this.lineLength > MAX_PROXY_LINE;
      case At.Target:
        if (byte === SP) {
          this.versionAt = 0;
          return this.go(At.Version);
        }
        return byte < 0x21 || byte > 0x7e || this.tooLong(this.limits.requestLine);
      case At.Version: {
        if (this.versionAt === VERSION.length) return byte !== CR || this.go(At.LineCR);
        // A line that passes the limit inside its version is refused there too, not at its CR.
        if (this.tooLong(this.limits.requestLine)) return true;
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
        this.name = String.fromCharCode(byte | 0x20);
        return this.go(At.Name);
      case At.Name:
        if (byte === COLON) {
          this.beginValue();
          return this.go(At.Value);
        }
        if (this.name.length <= LONGEST_FRAMING_NAME) this.name += String.fromCharCode(byte | 0x20);
        return !TCHAR[byte] || this.tooLong(this.limits.requestFieldSize);
      case At.Value:
        if (byte === CR) {
          if (this.field === Field.ContentLength && this.contentLength < 0) this.framingUnclear = true;
          return this.go(At.LineCR);
        }
        if (byte < 0x20 ? byte !== HTAB : byte === 0x7f) return true;
        if (this.field === Field.ContentLength) this.lengthByte(byte);
        return this.tooLong(this.limits.requestFieldSize);
      case At.EndCR:
        // The head's end, or a CR without its LF: the worker's either way.
        if (byte === LF) this.at = At.End;
        return true;
      case At.End:
        return true;
    }
  }

  private beginValue(): void {
    const name = this.name;
    this.name = '';
    this.field = Field.Other;
    if (name === 'content-length') {
      if (this.contentLength >= 0) this.framingUnclear = true; // a second one
      this.field = Field.ContentLength;
    } else if (name === 'transfer-encoding' || name === 'expect') this.framingUnclear = true;
    else if (name === 'host') this.hostSeen = true;
  }

  /** A byte of a `Content-Length` value: digits, maybe with spaces around them. */
  private lengthByte(byte: number): void {
    if (byte === SP || byte === HTAB) {
      this.lengthEnded = this.contentLength >= 0;
      return;
    }
    if (byte < 0x30 || byte > 0x39 || this.lengthEnded || this.contentLength > MAX_HELD_BYTES) {
      this.framingUnclear = true;
      this.field = Field.Other;
      return;
    }
    this.contentLength = Math.max(0, this.contentLength) * 10 + (byte - 0x30);
  }

  private go(at: At): false {
    this.at = at;
    return false;
  }

  private tooLong(limit: number): boolean {
    return limit > 0 && this.lineLength > limit;
  }
}
