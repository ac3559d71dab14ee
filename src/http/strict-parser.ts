import type { HttpLimits } from './limits.js';
import { MAX_CHUNK_LINE } from './limits.js';
import { latin1Decoder } from './node-internals.js';
import { Rejection, badRequest } from './reject.js';
import {
  bodyTooLarge,
  checkChunkLine,
  checkFieldCount,
  checkFieldLine,
  checkHead,
  bareCrIn,
  checkLineEnding,
  checkPartialLine,
  checkRequestLine,
  checkTrailerField,
} from './validate.js';

/**
 * gserve's own HTTP/1.1 request parser: request line, fields, and a body framed by Content-Length
 * or chunked coding, checked line by line by validate.ts while bytes arrive (a 1 MB request line is
 * refused at its 4 095th byte, not after it ends). Errors come back in a Rejection with the status
 * to answer. It knows nothing of sockets: the engine feeds it chunks and hears about heads, body
 * bytes and message ends through three callbacks.
 */

export interface HeadInfo {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Raw names and values, alternating, values trimmed of surrounding whitespace. */
  headers: string[];
  /** The head asks to leave HTTP: CONNECT, or `Connection: upgrade` with an `Upgrade` field. */
  upgrade: boolean;
  /** A body follows the head (chunked, or a Content-Length above 0), unless the connection leaves HTTP. */
  hasBody: boolean;
  /**
   * The client allows another request after this one (HTTP/1.1 without `Connection: close`, or 1.0
   * with `keep-alive`).
   */
  shouldKeepAlive: boolean;
}

/** What onHead tells the parser about the message whose head it just saw. */
export type HeadVerdict = 0 | 1 | 2;
export const HeadVerdict: { readonly Continue: 0; readonly Upgrade: 1; readonly Last: 2 } = {
  /** Parse its body (if any), then the next request. */
  Continue: 0,
  /** The connection leaves HTTP after this head (an upgrade was taken): parse nothing more. */
  Upgrade: 1,
  /** This is the connection's last request: parse its body, then nothing more. */
  Last: 2,
};

export interface StrictParserEvents {
  /**
   * The head is complete and sound. Returns what happens next (a boolean is read for "upgrade
   * taken" or not). May throw a Rejection to refuse the request.
   */
  onHead(info: HeadInfo): HeadVerdict | boolean;
  onBody(chunk: Buffer): void;
  /** The message ended; `trailers`: the fields after a chunked body's last chunk, names and values alternating. */
  onComplete(trailers: string[]): void;
}

export type ParsePhase = 'idle' | 'head' | 'body';

/** Parser states; the names of the line states are the ones validate.ts's checkPartialLine knows. */
const REQUEST_LINE = 'REQUEST_LINE';
const HEADER = 'HEADER';
const BODY_RAW = 'BODY_RAW';
const BODY_CHUNKHEAD = 'BODY_CHUNKHEAD';
const BODY_CHUNK = 'BODY_CHUNK';
const BODY_CHUNKEMPTYLINE = 'BODY_CHUNKEMPTYLINE';
const BODY_CHUNKTRAILERS = 'BODY_CHUNKTRAILERS';
const DONE = 'DONE';
type State =
  | typeof REQUEST_LINE
  | typeof HEADER
  | typeof BODY_RAW
  | typeof BODY_CHUNKHEAD
  | typeof BODY_CHUNK
  | typeof BODY_CHUNKEMPTYLINE
  | typeof BODY_CHUNKTRAILERS
  | typeof DONE;

const LF = 0x0a;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const latin1 = latin1Decoder();
const CR = 0x0d;
/** The trailers of a message that has none (most): shared, never written to. */
const NO_TRAILERS: string[] = [];

/** The value of a field line (after its colon at `colon`), without the whitespace around it: one slice. */
function fieldValue(line: string, colon: number): string {
  let start = colon + 1;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === 0x20 || line.charCodeAt(start) === 0x09)) start++;
  while (end > start && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
  return line.slice(start, end);
}

/** Whether a comma-separated field value lists `token` (lower-case), case-insensitively. */
export function listHas(value: string, token: string): boolean {
  const lower = value.toLowerCase();
  if (lower === token) return true;
  if (!lower.includes(',')) return lower.trim() === token;
  for (const part of lower.split(',')) if (part.trim() === token) return true;
  return false;
}

export class StrictParser {
  private state: State = REQUEST_LINE;
  /** The start of a line whose end (LF) has not arrived yet, in latin1 text. */
  private partial = '';
  private fields = 0;
  private bodyBytes = 0;
  /** Body bytes still to come: of the Content-Length body, or of the current chunk. */
  private remaining = 0;
  private method = '';
  private url = '';
  private versionMinor = 1;
  private headers: string[] = [];
  /** The trailer fields of the message being parsed, like `headers`; NO_TRAILERS until one comes. */
  private trailers: string[] = NO_TRAILERS;
  private last = false;
  /** Where, in the chunk being parsed, the current (unfinished) message began. */
  messageStart = 0;
  /** Requests whose head was complete, on this connection. */
  heads = 0;
  failed: Rejection | null = null;
  /** The connection left HTTP after the last head (an upgrade or CONNECT was taken). */
  upgraded = false;
  /** The last request said the connection closes after it: nothing after it is parsed. */
  ended = false;

  constructor(
    private readonly limits: HttpLimits,
    private readonly events: StrictParserEvents,
  ) {}

  /**
   * Parses a chunk. Returns the bytes consumed (less than the chunk after an upgrade, or after the
   * connection's last request), or the Rejection that stopped it; after a rejection the parser
   * takes nothing more.
   */
  execute(chunk: Buffer): number | Rejection {
    if (this.failed) return this.failed;
    if (this.ended || this.upgraded) return 0;
    this.messageStart = 0;
    try {
      return this.run(chunk);
    } catch (err) {
      // Thrown by a check or a callback: a Rejection is ours to answer; anything else is a bug.
      if (!(err instanceof Rejection)) throw err;
      this.failed = err;
      return err;
    }
  }

  /**
   * Parses nothing more, from inside a callback too (the connection is closing: a response said
   * Connection: close while this chunk was being parsed). execute() then returns where it stopped.
   */
  stop(): void {
    this.ended = true;
    this.state = DONE;
  }

  /** Where the connection stands: between requests, inside a head, or inside a body. */
  get phase(): ParsePhase {
    switch (this.state) {
      case REQUEST_LINE:
        return this.partial === '' ? 'idle' : 'head';
      case HEADER:
        return 'head';
      case DONE:
        return 'idle';
      default:
        return 'body';
    }
  }

  private run(chunk: Buffer): number {
    const end = chunk.length;
    let offset = 0;
    while (offset < end) {
      const state = this.state;
      if (state === BODY_RAW || state === BODY_CHUNK) {
        const take = Math.min(this.remaining, end - offset);
        this.remaining -= take;
        // Content-Length was checked against the limit with the head; chunks with their size lines.
        this.events.onBody(chunk.subarray(offset, offset + take));
        offset += take;
        if (this.ended) return offset;
        if (this.remaining === 0) {
          if (state === BODY_RAW) {
            if (this.complete(chunk, offset)) return offset;
          } else this.state = BODY_CHUNKEMPTYLINE;
        }
        continue;
      }
      if (state === DONE) return offset;
      if (state === REQUEST_LINE && this.partial === '') {
        // The common case: a whole head in this chunk, decoded once and split into lines of text.
        const headEnd = chunk.indexOf(HEAD_END, offset);
        if (headEnd !== -1) {
          const stop = this.head(latin1(chunk, offset, headEnd + 4), chunk, offset);
          if (stop !== -1) return stop;
          offset = headEnd + 4;
          continue;
        }
      }
      const lf = chunk.indexOf(LF, offset);
      if (lf === -1) {
        this.partial += latin1(chunk, offset, end);
        checkPartialLine(state, this.partial, this.limits);
        if (state === BODY_CHUNKHEAD && this.partial.length > MAX_CHUNK_LINE)
          throw badRequest(`a chunk-size line is longer than ${MAX_CHUNK_LINE} bytes`);
        return end;
      }
      const hadCR = lf > offset ? chunk[lf - 1] === CR : this.partial.charCodeAt(this.partial.length - 1) === CR;
      let line =
        this.partial === '' ? latin1(chunk, offset, hadCR ? lf - 1 : lf) : this.partial + latin1(chunk, offset, lf);
      if (this.partial !== '') {
        this.partial = '';
        if (hadCR) line = line.slice(0, -1);
      }
      offset = lf + 1;
      checkLineEnding(hadCR);
      if (this.line(line, chunk, offset)) return offset;
    }
    return end;
  }

  /**
   * The lines of a head given in text (from `base` in `chunk`, up to and including its first
   * CRLFCRLF), through the same line() that any other line goes through. Returns the offset where parsing stops,
   * or -1 to go on after the head.
   */
  private head(text: string, chunk: Buffer, base: number): number {
    let pos = 0;
    while (pos < text.length) {
      const lf = text.indexOf('\n', pos);
      const hadCR = lf > pos && text.charCodeAt(lf - 1) === CR;
      const line = text.slice(pos, hadCR ? lf - 1 : lf);
      pos = lf + 1;
      checkLineEnding(hadCR);
      if (this.line(line, chunk, base + pos)) return base + pos;
    }
    return -1;
  }

  /** One whole line, without its CRLF, in the state the parser is in. Returns true when parsing stops here. */
  private line(line: string, chunk: Buffer, offset: number): boolean {
    try {
      return this.lineIn(line, chunk, offset);
    } catch (err) {
      throw (err instanceof Rejection && bareCrIn(line)) || err;
    }
  }

  private lineIn(line: string, chunk: Buffer, offset: number): boolean {
    switch (this.state) {
      case REQUEST_LINE: {
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        if (line === '') return false;
        const { method, target, version } = checkRequestLine(line, this.limits);
        this.method = method;
        this.url = target;
        this.versionMinor = version === '1.1' ? 1 : 0;
        this.headers = [];
        this.fields = 0;
        this.state = HEADER;
        return false;
      }
      case HEADER:
        if (line !== '') {
          this.field(line);
          const colon = line.indexOf(':');
          this.headers.push(line.slice(0, colon), fieldValue(line, colon));
          return false;
        }
        return this.headComplete(chunk, offset);
      case BODY_CHUNKHEAD: {
        if (line.length > MAX_CHUNK_LINE) throw badRequest(`a chunk-size line is longer than ${MAX_CHUNK_LINE} bytes`);
        const size = checkChunkLine(line);
        if (this.limits.requestBody && this.bodyBytes + size > this.limits.requestBody)
          throw bodyTooLarge(this.limits.requestBody);
        this.bodyBytes += size;
        if (size === 0) {
          this.fields = 0;
          this.state = BODY_CHUNKTRAILERS;
        } else {
          this.remaining = size;
          this.state = BODY_CHUNK;
        }
        return false;
      }
      case BODY_CHUNKEMPTYLINE:
        if (line !== '') throw badRequest('chunk data is longer than its chunk size');
        this.state = BODY_CHUNKHEAD;
        return false;
      case BODY_CHUNKTRAILERS:
        if (line === '') return this.complete(chunk, offset);
        this.trailer(line);
        return false;
      default:
        return false;
    }
  }

  /** A trailer field, kept for the app (node's `req.trailers`) once it passed the same checks as a header. */
  private trailer(line: string): void {
    this.field(line);
    const colon = line.indexOf(':');
    checkTrailerField(line.slice(0, colon));
    if (this.trailers === NO_TRAILERS) this.trailers = [];
    this.trailers.push(line.slice(0, colon), fieldValue(line, colon));
  }

  private field(line: string): void {
    checkFieldLine(line, this.limits);
    checkFieldCount(++this.fields, this.limits);
  }

  /** The blank line after the fields: judge the whole head, hand it over, set up the body. */
  private headComplete(chunk: Buffer, offset: number): boolean {
    const version = this.versionMinor === 1 ? '1.1' : '1.0';
    const headers = this.headers;
    const framing = checkHead(version, headers, this.limits);
    const { connection, upgrade: hasUpgrade } = framing;
    const shouldKeepAlive =
      this.versionMinor === 1
        ? connection === '' || !listHas(connection, 'close')
        : connection !== '' && listHas(connection, 'keep-alive');
    const hasBody = framing.chunked || !!framing.contentLength;
    // A request with a body is served as an ordinary one, its Upgrade ignored (RFC 9110 §7.8 allows
    // it): the switch could only come after the body, and WebSocket, the one protocol gserve's own
    // interfaces switch to, sends none. Taken as an upgrade, its body was never read, and an app
    // waiting for it held its worker until the client left.
    const upgrade =
      this.method === 'CONNECT' || (hasUpgrade && !hasBody && connection !== '' && listHas(connection, 'upgrade'));
    this.heads++;
    this.last = !shouldKeepAlive;
    const verdict = this.events.onHead({
      method: this.method,
      url: this.url,
      versionMajor: 1,
      versionMinor: this.versionMinor,
      headers,
      upgrade,
      shouldKeepAlive,
      hasBody,
    });
    if (this.ended) return true; // stopped from inside onHead
    if (verdict === true || verdict === HeadVerdict.Upgrade) {
      this.upgraded = true;
      this.state = DONE;
      return true;
    }
    if (verdict === HeadVerdict.Last) this.last = true;
    this.bodyBytes = 0;
    if (framing.chunked) {
      this.state = BODY_CHUNKHEAD;
      return false;
    }
    if (framing.contentLength) {
      this.remaining = framing.contentLength;
      this.state = BODY_RAW;
      return false;
    }
    return this.complete(chunk, offset);
  }

  /** The message ended at `offset`. Returns true when nothing after it is parsed. */
  private complete(_chunk: Buffer, offset: number): boolean {
    this.fields = 0;
    this.bodyBytes = 0;
    this.headers = [];
    this.messageStart = offset;
    this.state = REQUEST_LINE;
    const trailers = this.trailers;
    this.trailers = NO_TRAILERS;
    this.events.onComplete(trailers);
    // Bytes after a request that closes the connection are never read for another request.
    if (this.last || this.ended) {
      this.ended = true;
      this.state = DONE;
      return true;
    }
    return false;
  }
}
