import type { Socket } from 'node:net';
import { MAX_CHUNK_LINE, type HttpLimits } from './limits.js';
import {
  isParserCallback,
  parserSlots,
  readCounter,
  socketParser,
  type LlhttpParser,
  type ReadCounter,
  type SocketParser,
} from './node-internals.js';
import { Rejection, badRequest } from './reject.js';
import {
  checkChunkLine,
  checkFieldCount,
  checkFieldLine,
  checkRequestLine,
  checkTrailerField,
  fieldTooLarge,
  lineTooLong,
} from './validate.js';

/**
 * What llhttp cannot tell gserve while a head is still arriving: how long the request line and
 * each field line are. Node reads the socket natively (llhttp consumes the handle, no 'data'
 * events), so this watch hears of each read only after llhttp parsed it, through the parser's
 * `kOnExecute` callback, and only copies the read (`getCurrentBuffer()`) when a head is still
 * open at its end: a head that arrives in one read (nearly all of them) costs two counters.
 *
 * It also answers, when a head completes, whether its request line was written with single spaces:
 * llhttp accepts `GET  / HTTP/1.1`, and nothing parsed shows it. And it reads the chunk-size lines
 * of a chunked body, whose extensions node:http never shows (llhttp accepts `5;=b`).
 *
 * It knows where a head starts only when a read began at a message boundary; a head that begins
 * behind another message in the same read (pipelining) is not followed, and falls back on the
 * checks of the complete head, the head size bound and the header timeout.
 */

/** What headComplete() reads of a request node:http parsed. */
export interface ParsedRequest {
  method?: string;
  url?: string;
  rawHeaders: string[];
  headers: Record<string, string | string[] | undefined>;
}

export class HeadWatch {
  /**
   * Messages llhttp began and heads the server received, on this connection. A begin is heard only
   * while the hook is on (see setBeginHook); one unheard is counted when its head completes, or
   * when a read with no complete head shows a head's first bytes.
   */
  private begun = 0;
  heads = 0;
  /** A message may have begun unheard, behind the last head of a read: not known until the next head. */
  private beginMissed = false;
  /** The last head completed was all of its read so far (by its length): nothing began behind it. */
  private headEndedRead = false;
  /** node:http's parser and the slot of its message-begin callback, once attached. */
  private beginSlot: { parser: LlhttpParser; slot: number } | null = null;
  private hookOn = false;
  private readonly onBegin = () => {
    this.begun++;
  };
  /** Heads received during the current read. */
  private headsThisRead = 0;
  /** The current read began at a message boundary (or on empty lines before one). */
  private readStartedIdle = true;
  /** `begun` when the current read began. */
  private begunBeforeRead = 0;

  /**
   * The current read began at a message boundary (or on empty lines before one): known so when it
   * began, or shown by a begin heard in it before any head, after a read that ended with heads whose
   * begins went unheard (a message begun unheard there would complete in this read before another
   * could begin).
   */
  private get readStartKnown(): boolean {
    return this.readStartedIdle || (this.beginMissed && this.begun > this.begunBeforeRead);
  }
  /** The text so far of the head still open, when it is known from its start; else null. */
  private partial: string | null = null;
  private lineStart = 0;
  private lines = 0;
  /** The request whose body is being read (llhttp marks it complete when the body ends). */
  bodyOf: { readonly complete: boolean } | null = null;

  private get inBody(): boolean {
    return this.bodyOf !== null && !this.bodyOf.complete;
  }
  /** How the last complete head began: after `headPrefix` (earlier reads), or at its read's start. */
  private headPrefix: string | null = null;
  private headAtReadStart = false;
  /** The chunk-size lines of the chunked body being read, when its start was known. */
  private chunks: ChunkLineWatch | null = null;

  constructor(
    private readonly limits: HttpLimits,
    private readonly refuse: (r: Rejection) => void,
    private readonly refuseBody: (r: Rejection) => void,
  ) {}

  /** What counts the socket's bytes read (node-internals.ts), once attached. */
  private reads: ReadCounter | null = null;
  /** socket.bytesRead when the current read began. */
  private bytesBeforeRead = NaN;
  /** node:http's parser of the socket, once attached. */
  private parser: SocketParser | undefined;
  /** The read llhttp is parsing now (a copy: called only when a head must be looked at). */
  readonly currentRead = (): Buffer => this.parser?.getCurrentBuffer() ?? NO_READ;

  /** A head is being read (its first byte arrived, its end has not), or may be. */
  get headOpen(): boolean {
    return this.beginMissed || this.begun > this.heads;
  }

  /**
   * llhttp calls back into JavaScript at each message's begin only while a function sits in that
   * slot: a call from C++ per request (about 1,600 instructions outside the garbage collector's
   * work; bench/instructions-per-request.js, which counts that work too, shows it within its noise).
   * It is heard only where a read may not begin at a message boundary (a head or a body still open,
   * or a head pipelined behind another); after a read known to end at one, it is off.
   */
  private setBeginHook(on: boolean): void {
    if (on === this.hookOn || !this.beginSlot) return;
    this.hookOn = on;
    this.beginSlot.parser[this.beginSlot.slot] = on ? this.onBegin : null;
  }

  /**
   * Attaches to node:http's parser on `socket` (after node:http took the socket). Returns false
   * where the parser has no such hooks (another runtime, a future Node): the other checks still
   * hold, only the early refusal of an over-long line that never ends is lost.
   */
  attach(socket: Socket): boolean {
    this.reads = readCounter(socket);
    // Bytes read before node:http took the socket (put back into it) belong to the first read.
    this.bytesBeforeRead = socket.bytesRead - socket.readableLength;
    this.parser = socketParser(socket);
    const slots = parserSlots(socket);
    if (!slots) return false;
    const { parser, kOnMessageBegin, kOnExecute } = slots;
    this.beginSlot = { parser, slot: kOnMessageBegin };
    // A new connection is at a message boundary.
    parser[kOnMessageBegin] = null;
    const onExecute = parser[kOnExecute];
    if (slots.consumed && isParserCallback(onExecute)) {
      // llhttp reads the socket itself and reports each read here.
      parser[kOnExecute] = (ret: unknown) => {
        onExecute(ret);
        this.afterRead(this.currentRead);
      };
      // Those bytes (read by the sync class's master, or past a PROXY header) reach llhttp as one
      // 'data' event, which kOnExecute does not report.
      if (socket.readableLength > 0) socket.once('data', (chunk: Buffer) => this.afterRead(() => chunk));
    } else {
      // A socket without a native handle (a stream): node:http reads 'data' events, and so can we,
      // after node:http's own listener has parsed the chunk.
      socket.on('data', (chunk: Buffer) => this.afterRead(() => chunk));
    }
    return true;
  }

  /** A head is complete. `buffer` gives the read it completed in; returns a refusal or null. */
  headComplete(req: ParsedRequest, buffer = this.currentRead): Rejection | null {
    let refusal: Rejection | null = null;
    // The request line must read `METHOD SP TARGET SP HTTP/`: where this head's first bytes are
    // known, compare them.
    if (this.partial !== null) {
      const expected = lineStart(req);
      // It began in an earlier read; its start may still be short of a whole request line.
      let start = this.partial.slice(skipEmptyLines(this.partial));
      if (start.length < expected.length) start += buffer().toString('latin1', 0, expected.length - start.length);
      if (!start.startsWith(expected)) refusal = singleSpaces();
    }
    let endedRead = false;
    const atReadStart = this.partial === null && this.headsThisRead === 0 && this.readStartKnown;
    if (atReadStart) {
      if (this.readIsCanonical(req)) endedRead = true;
      else {
        const b = buffer();
        const at = skipEmptyLinesBuffer(b);
        const expected = lineStart(req);
        if (b.toString('latin1', at, at + expected.length) !== expected) refusal = singleSpaces();
        // llhttp's values are trimmed: a line padded with whitespace is judged by its bytes, as on the engine.
        else refusal = overlongLine(b, at, this.limits);
        const end = b.indexOf('\r\n\r\n', at) + 4;
        const body = Number(req.headers['content-length']) || 0;
        endedRead = end > 3 && (b.length === end || b.length === end + body);
      }
    }
    this.headEndedRead = endedRead;
    this.headPrefix = this.partial;
    this.headAtReadStart = atReadStart;
    this.heads++;
    if (this.begun < this.heads) this.begun = this.heads; // its begin went unheard
    this.beginMissed = false;
    this.headsThisRead++;
    this.partial = null;
    return refusal;
  }

  /**
   * The head just completed announced a chunked body: follow its chunk-size lines from the rest of
   * this read on. Returns a refusal for a bad line already in this read (the app has not run yet).
   */
  followChunkedBody(buffer = this.currentRead): Rejection | null {
    this.chunks = null;
    if (this.headPrefix === null && !this.headAtReadStart) return null; // where it starts is not known
    const b = buffer();
    let start: number;
    if (this.headPrefix !== null) {
      const end = (this.headPrefix + b.toString('latin1')).indexOf('\r\n\r\n');
      start = end === -1 ? -1 : end + 4 - this.headPrefix.length;
    } else {
      const end = b.indexOf('\r\n\r\n', skipEmptyLinesBuffer(b));
      start = end === -1 ? -1 : end + 4;
    }
    if (start < 0) return null;
    this.chunks = new ChunkLineWatch(this.limits);
    return this.feedChunks(b, start);
  }

  private feedChunks(b: Buffer, from: number): Rejection | null {
    const chunks = this.chunks!;
    const r = chunks.feed(b, from);
    if (r || chunks.done) this.chunks = null;
    // A chunked body that ends its head's read: nothing began behind it.
    if (chunks.done && chunks.endedAt === b.length && this.headsThisRead === 1) this.headEndedRead = true;
    return r;
  }

  /**
   * Whether the read so far is exactly this request written the usual way (`METHOD SP TARGET SP
   * HTTP/1.x`, `Name: value` lines), by its length: then its request line has single spaces, and
   * the read need not be copied to be looked at. Nearly every client writes heads so.
   */
  private readIsCanonical(req: ParsedRequest): boolean {
    const read = (this.reads?.bytesRead ?? NaN) - this.bytesBeforeRead;
    const raw = req.rawHeaders;
    let length = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 14; // 2 SP, HTTP/1.x, 2 CRLF
    for (let i = 0; i < raw.length; i += 2) length += raw[i]!.length + raw[i + 1]!.length + 4;
    if (read === length) return true;
    const contentLength = Number(req.headers['content-length']);
    return contentLength > 0 && read === length + contentLength;
  }

  /** After llhttp parsed a read: follow a head that is still open, and judge its lines so far. */
  private afterRead(buffer: () => Buffer): void {
    if (this.chunks && this.headsThisRead === 0) {
      const r = this.feedChunks(buffer(), 0);
      if (r) return this.refuseBody(r);
    }
    const heard = this.hookOn;
    const headsThisRead = this.headsThisRead;
    this.headsThisRead = 0;
    if (headsThisRead > 0)
      this.partial = null; // a head behind those completed is not followed
    else if (this.partial !== null) this.append(buffer().toString('latin1'));
    else if (this.readStartKnown && !this.inBody && (!heard || this.begun > this.heads)) {
      this.partial = '';
      this.lineStart = 0;
      this.lines = 0;
      this.append(buffer().toString('latin1'));
    }
    // Unheard, a head's first bytes (past empty lines) show that it began.
    if (!heard && this.partial !== null && (this.lines > 0 || this.partial.length > this.lineStart))
      this.begun = Math.max(this.begun, this.heads + 1);
    if (heard || headsThisRead === 0) this.readStartedIdle = !this.headOpen && !this.inBody;
    else {
      // Heads completed in a read whose begins went unheard: another may have begun behind the last
      // one, unless that one was all of the read, or its body is still arriving.
      this.beginMissed = !this.headEndedRead && !this.inBody;
      this.readStartedIdle = this.headEndedRead && !this.inBody;
    }
    this.setBeginHook(!this.readStartedIdle);
    this.bytesBeforeRead = this.reads?.bytesRead ?? NaN;
    this.begunBeforeRead = this.begun;
  }

  private append(text: string): void {
    const before = this.partial ?? ''; // set by the caller, never null here
    let from = before.length;
    const partial = before + text;
    this.partial = partial;
    const { requestLine, requestFieldSize, requestFields } = this.limits;
    for (;;) {
      if (
        this.lines === 0 &&
        this.lineStart === from &&
        (partial.startsWith('\r\n', from) || partial.startsWith('\n', from))
      ) {
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        this.lineStart = from = partial.indexOf('\n', from) + 1;
        continue;
      }
      const lf = partial.indexOf('\n', from);
      const end = lf === -1 ? partial.length : lf;
      const length = end - this.lineStart - (lf !== -1 && partial.charCodeAt(end - 1) === 0x0d ? 1 : 0);
      if (this.lines === 0) {
        if (requestLine > 0 && length > requestLine) return this.refuse(lineTooLong(requestLine));
      } else if (requestFieldSize > 0 && length > requestFieldSize) {
        return this.refuse(fieldTooLarge(requestFieldSize));
      }
      if (lf === -1) return;
      // A request line that has ended is judged now: llhttp would wait out --header-timeout on one
      // that can never become valid (`GET /`, no version), holding a sync worker all that time.
      if (this.lines === 0) {
        const refusal = requestLineRefusal(partial.slice(this.lineStart, this.lineStart + length), this.limits);
        if (refusal) return this.refuse(refusal);
      }
      if (this.lines > 0 && length > 0 && this.lines > requestFields) {
        return this.refuse(new Rejection(431, `more than ${requestFields} header fields (--limit-request-fields)`));
      }
      this.lines++;
      this.lineStart = from = lf + 1;
    }
  }
}

/**
 * Reads a chunked body's framing, skipping the data: each chunk-size line must pass the engine's
 * check (validate.ts), and so must each trailer field after the last chunk: its size, the field
 * count, and no field a trailer may not carry (`Host`, `Cookie`, …), which llhttp lets through
 * (it refuses only `Content-Length`). llhttp checks the rest (the CRLF after each chunk).
 */
class ChunkLineWatch {
  private line = '';
  /** Bytes of chunk data (and its CRLF) still to skip. */
  private remaining = 0;
  /** Past the last chunk: the lines are trailer fields, up to an empty one. */
  private trailers = false;
  private trailerCount = 0;
  done = false;
  /** Where the message ended in the buffer last fed, once done. */
  endedAt = -1;

  constructor(private readonly limits: HttpLimits) {}

  feed(b: Buffer, from: number): Rejection | null {
    let i = from;
    while (i < b.length && !this.done) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, b.length - i);
        i += take;
        this.remaining -= take;
        continue;
      }
      const lf = b.indexOf(0x0a, i);
      this.line += b.toString('latin1', i, lf === -1 ? b.length : lf);
      // A trailer field is held to the field size, as in a head; a chunk-size line to its own bound.
      const { requestFieldSize } = this.limits;
      if (this.trailers) {
        if (requestFieldSize > 0 && this.line.length > requestFieldSize + 1) return fieldTooLarge(requestFieldSize);
      } else if (this.line.length > MAX_CHUNK_LINE + 1)
        return badRequest(`a chunk-size line is longer than ${MAX_CHUNK_LINE} bytes`);
      if (lf === -1) return null;
      i = lf + 1;
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      try {
        if (this.trailers) {
          this.trailer(line);
          if (this.done) this.endedAt = i;
        } else {
          const size = checkChunkLine(line);
          if (size === 0) this.trailers = true;
          else this.remaining = size + 2;
        }
      } catch (err) {
        if (err instanceof Rejection) return err;
        throw err;
      }
    }
    return null;
  }

  /** A line after the last chunk, with the engine's rules; the empty one ends the message. */
  private trailer(line: string): void {
    if (line === '') {
      this.done = true;
      return;
    }
    checkFieldLine(line, this.limits);
    checkFieldCount(++this.trailerCount, this.limits);
    checkTrailerField(line.slice(0, line.indexOf(':')));
  }
}

/** The first line of the head at `at` in `b` that is longer than its limit, refused; null if none is. */
function overlongLine(b: Buffer, at: number, limits: HttpLimits): Rejection | null {
  for (let start = at, first = true; ; first = false) {
    const lf = b.indexOf(0x0a, start);
    if (lf === -1) return null;
    const length = (lf > start && b[lf - 1] === 0x0d ? lf - 1 : lf) - start;
    if (length === 0) return null; // the head's end
    if (first && limits.requestLine > 0 && length > limits.requestLine) return lineTooLong(limits.requestLine);
    if (!first && limits.requestFieldSize > 0 && length > limits.requestFieldSize)
      return fieldTooLarge(limits.requestFieldSize);
    start = lf + 1;
  }
}

function requestLineRefusal(line: string, limits: HttpLimits): Rejection | null {
  try {
    checkRequestLine(line, limits);
    return null;
  } catch (err) {
    if (err instanceof Rejection) return err;
    throw err;
  }
}

/** How a request line with single spaces begins. */
const lineStart = (req: ParsedRequest) => `${req.method ?? ''} ${req.url ?? ''} HTTP/`;

const NO_READ = Buffer.alloc(0);
/** The read of a head that left the parser (CONNECT, a request node:http drops): nothing. */
export const noRead = (): Buffer => NO_READ;

const singleSpaces = () => badRequest('the request line must be METHOD, TARGET and VERSION separated by single spaces');

function skipEmptyLines(text: string): number {
  let at = 0;
  while (text.startsWith('\r\n', at)) at += 2;
  return at;
}

function skipEmptyLinesBuffer(b: Buffer): number {
  let at = 0;
  while (b[at] === 0x0d && b[at + 1] === 0x0a) at += 2;
  return at;
}
