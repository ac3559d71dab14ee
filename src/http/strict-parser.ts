import { HTTPParser } from 'http-parser-js';
import type { HttpLimits } from './limits.js';
import { Rejection, badRequest } from './reject.js';
import { bodyTooLarge, checkChunkLine, checkFieldCount, checkFieldLine, checkHead, checkLineEnding, checkPartialLine, checkRequestLine } from './validate.js';

/**
 * http-parser-js made strict: every line it reads passes through the checks in validate.ts first,
 * the limits are enforced as bytes arrive (a 1 MB request line is refused at its 4 095th byte, not
 * after it ends), and errors come back as a Rejection with the right status. Used by gserve's engine
 * as its parser, and by the node:http path as a guard in front of Node's own parser, so both paths
 * refuse the same requests with the same answers.
 */

export interface HeadInfo {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Raw names and values, alternating, values trimmed of surrounding whitespace. */
  headers: string[];
  upgrade: boolean;
  shouldKeepAlive: boolean;
}

export interface StrictParserEvents {
  /** The head is complete and sound. Returns true when the connection leaves HTTP here (an upgrade). */
  onHead(info: HeadInfo): boolean;
  onBody(chunk: Buffer): void;
  onComplete(): void;
}

// The one method Node knows that http-parser-js does not; the list is the module's shared array.
if (!HTTPParser.methods.includes('QUERY')) (HTTPParser.methods as string[]).push('QUERY');

export type ParsePhase = 'idle' | 'head' | 'body';

/** Thrown through http-parser-js to stop it mid-chunk (it has no other way to stop). */
const END_OF_CONNECTION = Symbol('end of connection');

interface ParserInternals {
  state: string;
  line: string;
  chunk: Buffer;
  offset: number;
  end: number;
  isUserCall: boolean;
  maxHeaderSize: number;
  consumeLine(): string | undefined;
  execute(chunk: Buffer): number | Error;
  info: { headers: string[]; versionMajor: number; versionMinor: number };
}

export class StrictParser {
  private readonly parser = new HTTPParser(HTTPParser.REQUEST) as unknown as ParserInternals & Record<number, unknown>;
  private fields = 0;
  private bodyBytes = 0;
  /** Where, in the chunk being parsed, the current (unfinished) message began. */
  messageStart = 0;
  /** Requests whose head was complete, on this connection. */
  heads = 0;
  failed: Rejection | null = null;
  /** The connection left HTTP after the last head (an upgrade or CONNECT was taken). */
  upgraded = false;
  /** The last request said the connection closes after it: nothing after it is parsed. */
  ended = false;
  private closesAfter = false;
  /** Where, in the chunk given to execute(), the slice now in http-parser-js starts. */
  private base = 0;

  constructor(
    private readonly limits: HttpLimits,
    events: StrictParserEvents,
  ) {
    const parser = this.parser;
    // Our checks bound every line, so http-parser-js's own total-size cap is not needed.
    parser.maxHeaderSize = Number.MAX_SAFE_INTEGER;
    parser.consumeLine = () => this.consumeLine();
    parser[HTTPParser.kOnHeadersComplete] = (info: HeadInfo & { method: number }) => {
      this.heads++;
      this.closesAfter = !info.shouldKeepAlive;
      if (events.onHead({ ...info, method: HTTPParser.methods[info.method] as string })) this.upgraded = true;
      return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => {
      this.bodyBytes += length;
      if (this.limits.requestBody && this.bodyBytes > this.limits.requestBody) throw bodyTooLarge(this.limits.requestBody);
      events.onBody(chunk.subarray(offset, offset + length));
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      this.fields = 0;
      this.bodyBytes = 0;
      this.messageStart = this.base + parser.offset;
      events.onComplete();
      // Bytes after a request that closes the connection are never read as another request.
      if (this.closesAfter) {
        this.ended = true;
        throw END_OF_CONNECTION;
      }
    };
  }

  /**
   * Parses a chunk. Returns the bytes consumed (less than the chunk after an upgrade), or the
   * Rejection that stopped it; after a rejection the parser takes nothing more.
   */
  execute(chunk: Buffer): number | Rejection {
    if (this.failed) return this.failed;
    if (this.ended) return 0;
    this.messageStart = 0;
    this.base = 0;
    // http-parser-js stops after any head that asks for an upgrade; unless the upgrade was taken,
    // the rest of the chunk is more HTTP and is parsed on.
    while (!this.upgraded && !this.ended && this.base < chunk.length) {
      let result: number | Error;
      try {
        result = this.parser.execute(this.base === 0 ? chunk : chunk.subarray(this.base));
      } catch (err) {
        if (err === END_OF_CONNECTION) return this.messageStart;
        // Thrown from one of our callbacks: a Rejection is ours to answer; anything else is a bug upstream.
        if (!(err instanceof Rejection)) throw err;
        result = err;
      }
      if (result instanceof Error) {
        this.failed = result instanceof Rejection ? result : badRequest(`malformed request (${result.message})`);
        return this.failed;
      }
      if (result === 0) break;
      this.base += result;
    }
    return this.base;
  }

  /** Where the connection stands: between requests, inside a head, or inside a body. */
  get phase(): ParsePhase {
    if (this.ended) return 'idle';
    const state = this.parser.state;
    if (state.startsWith('BODY')) return 'body';
    return state === 'REQUEST_LINE' && this.parser.line === '' ? 'idle' : 'head';
  }

  /**
   * Replaces http-parser-js's consumeLine: the same job (return the next line, or undefined when
   * the chunk ends first), plus the checks for the state the parser is in.
   */
  private consumeLine(): string | undefined {
    const p = this.parser;
    const state = p.state;
    const lf = p.chunk.indexOf(0x0a, p.offset);
    if (lf === -1 || lf >= p.end) {
      p.line += p.chunk.toString('latin1', p.offset, p.end);
      p.offset = p.end;
      checkPartialLine(state, p.line, this.limits);
      return undefined;
    }
    let line = p.line + p.chunk.toString('latin1', p.offset, lf);
    p.line = '';
    p.offset = lf + 1;
    const hadCR = line.charCodeAt(line.length - 1) === 0x0d;
    if (hadCR) line = line.slice(0, -1);
    checkLineEnding(hadCR, line);
    switch (state) {
      case 'REQUEST_LINE':
        // Empty lines before a request line are allowed (RFC 9112 §2.2); http-parser-js skips them.
        if (line !== '') checkRequestLine(line, this.limits);
        break;
      case 'HEADER':
        if (line === '') checkHead(`${p.info.versionMajor}.${p.info.versionMinor}`, p.info.headers, this.limits);
        else this.checkField(line);
        break;
      case 'BODY_CHUNKTRAILERS':
        if (line !== '') this.checkField(line);
        break;
      case 'BODY_CHUNKHEAD': {
        const size = checkChunkLine(line);
        if (this.limits.requestBody && this.bodyBytes + size > this.limits.requestBody) throw bodyTooLarge(this.limits.requestBody);
        break;
      }
      case 'BODY_CHUNKEMPTYLINE':
        if (line !== '') throw badRequest('chunk data is longer than its chunk size');
        break;
    }
    return line;
  }

  private checkField(line: string): void {
    checkFieldLine(line, this.limits);
    checkFieldCount(++this.fields, this.limits);
  }
}
