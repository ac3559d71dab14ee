import { type IncomingMessage, ServerResponse } from 'node:http';
import { ResponseError } from '../errors.js';
import { checkFinalStatus } from './response-framing.js';

/**
 * The ServerResponse a node app gets: node:http's own, holding the app to an answer that frames
 * the same way the engine's checks hold fetch, ASGI and WSGI apps (response-framing.ts). Without
 * them, an app's slip put bytes on a keep-alive connection that the client read as the start of the
 * next answer: a body longer or shorter than its Content-Length, two different Content-Lengths, a
 * 1xx status given as the answer. And a write after end() raised an 'error' nobody listened to,
 * which took the whole worker down with every request it was serving.
 *
 * None of these may throw where nothing catches it: an app writes from stream, timer and fs
 * callbacks too, and an uncaught exception ends the worker. So a slip is thrown only within the
 * app's own call (callListener), where gserve answers 500; anywhere else the connection is cut,
 * which the client cannot take for a whole answer, and the error is logged.
 *
 * `onError`: told of each slip that is not thrown, and of a write after the end (then ignored).
 */
export function checkedResponse(onError: (err: Error, req: IncomingMessage) => void): typeof ServerResponse {
  // One function for every response: `this` is the response.
  const lateWrite = function (this: ServerResponse, err: Error) {
    onError(err, this.req);
  };
  class CheckedResponse extends ServerResponse {
    // node passes options too (highWaterMark, …), which its types leave out: all go on to node's.
    constructor(...args: [IncomingMessage]) {
      super(...args);
      // node's own count of the body against the Content-Length; its throw is caught below.
      this.strictContentLength = true;
    }
  }
  const proto = CheckedResponse.prototype;
  const { writeHead, write, end, pipe } = ServerResponse.prototype;
  /** A slip in a write or the end: never thrown (the head, if any, is already out of the app's hands). */
  const cut = (res: ServerResponse, err: unknown): false => {
    // A client that left mid-answer: what was not written was not counted, and there is no one to tell.
    if (!res.destroyed && err instanceof Error) onError(err, res.req);
    res.destroy();
    return false;
  };
  // Every head passes here: node's implicit one (the first write or end()) calls writeHead too.
  proto.writeHead = function (this: ServerResponse, status: number, reason?: unknown, fields?: unknown) {
    try {
      if (!(status >= 200)) checkFinalStatus(Number(status));
      checkFraming(this, typeof reason === 'string' ? fields : reason);
    } catch (err) {
      if (appCalls > 0) throw err;
      cut(this, err);
      return this;
    }
    return Reflect.apply(writeHead, this, [status, reason, fields]) as ServerResponse;
  } as ServerResponse['writeHead'];
  // node's old name for it, on its prototype.
  Reflect.set(proto, 'writeHeader', proto.writeHead);
  /**
   * A write after the end (or a pipe() from a response): node raises an 'error' for it, which would
   * end the worker with nothing listening. Listened for where it is made, not on every response.
   */
  const listenForLateWrite = (res: ServerResponse) => {
    if (res.listenerCount('error') === 0) res.on('error', lateWrite);
  };
  proto.pipe = function (this: ServerResponse, ...args: unknown[]) {
    listenForLateWrite(this);
    return Reflect.apply(pipe, this, args);
  } as ServerResponse['pipe'];
  proto.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) {
    if (this.writableEnded) listenForLateWrite(this);
    try {
      return Reflect.apply(write, this, [chunk, encoding, callback]) as boolean;
    } catch (err) {
      if (!isLengthMismatch(err) || appCalls > 0) throw err;
      return cut(this, err);
    }
  } as ServerResponse['write'];
  proto.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
    if (this.writableEnded) listenForLateWrite(this);
    try {
      if (
        this.strictContentLength &&
        !(this as unknown as NodeOutgoing)._headerSent &&
        (chunk as { length?: number })?.length
      ) {
        if (!checkWholeBody(this, chunk, encoding)) return this;
      }
      return Reflect.apply(end, this, [chunk, encoding, callback]) as ServerResponse;
    } catch (err) {
      if (!isLengthMismatch(err) || appCalls > 0) throw err;
      cut(this, err);
      return this;
    }
  } as ServerResponse['end'];
  return CheckedResponse as unknown as typeof ServerResponse;
}

/** node:http's fields that the whole-body check reads and sets (node's own names, not in its types). */
interface NodeOutgoing {
  _header: string | null;
  _headerSent: boolean;
  _hasBody: boolean;
  _contentLength: number | null;
  _removedContLen: boolean;
  chunkedEncoding: boolean;
  _implicitHeader(): void;
}

/**
 * end(chunk) with no body written before it, the common answer: its length is checked here, once,
 * and node's own count is turned off for the call. With strictContentLength on, Node ≥ 22 gives up
 * its one-write path for a whole body (head and body in one string) and queues an empty write
 * after it: a writev through JavaScript on every such answer, 9% of the hello rate on Node 24.
 * As node does for end(chunk): a head not yet made is made now, with the chunk's length unless the
 * app set its own.
 */
function checkWholeBody(res: ServerResponse, chunk: unknown, encoding: unknown): boolean {
  // node's end() answers these: a chunk of the wrong type, a second end, a response already gone.
  if ((typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) || res.writableEnded || res.destroyed) return true;
  const out = res as unknown as NodeOutgoing;
  const length =
    typeof chunk === 'string'
      ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : chunk.byteLength;
  if (out._header === null) {
    out._contentLength = length;
    out._implicitHeader();
    if (res.destroyed) return false; // the head broke a rule outside the app's call: cut
  }
  const declared = out._contentLength;
  if (declared !== null && out._hasBody && !out.chunkedEncoding && !out._removedContLen && declared !== length) {
    // Nothing has gone out: the head is un-made, so that a slip in the app's own call is answered 500.
    out._header = null;
    throw Object.assign(
      new Error(
        `Response body's content-length of ${length} byte(s) does not match the content-length of ${declared} byte(s) set in header`,
      ),
      { code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' },
    );
  }
  res.strictContentLength = false;
  return true;
}

const isLengthMismatch = (err: unknown) =>
  err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH';

/** How many calls of an app's listener are on the stack: 0 in the app's callbacks. */
let appCalls = 0;

/** Calls a node app's listener; within it, a response's slip throws, for gserve to answer 500. */
export function callListener(
  listener: (req: IncomingMessage, res: ServerResponse) => unknown,
  req: IncomingMessage,
  res: ServerResponse,
): unknown {
  appCalls++;
  try {
    return listener(req, res);
  } finally {
    appCalls--;
  }
}

/** Two different Content-Lengths, or one beside Transfer-Encoding (RFC 9112 §6.1, §6.3). */
function checkFraming(res: ServerResponse, given: unknown): void {
  // Fields given to writeHead() replace those of the same name set before.
  let length = given ? fieldIn(given, 'content-length') : undefined;
  length ??= res.getHeader('content-length');
  if (Array.isArray(length) && new Set(length.map((v) => String(v).trim())).size > 1)
    throw new ResponseError(
      'GSERVE_E_RESPONSE_HEADER',
      `the response has two different Content-Lengths (${length.join(', ')}); set one, from the body as sent`,
    );
  if (length === undefined) return;
  const coding = (given ? fieldIn(given, 'transfer-encoding') : undefined) ?? res.getHeader('transfer-encoding');
  if (coding !== undefined)
    throw new ResponseError(
      'GSERVE_E_RESPONSE_HEADER',
      'the response has both Transfer-Encoding and Content-Length (RFC 9112 §6.1 forbids it); leave ' +
        'Content-Length out of a chunked response',
    );
}

/** A field's value in writeHead()'s fields: an object, [[name, value], …] or [name, value, …]. */
function fieldIn(fields: unknown, lower: string): unknown {
  if (Array.isArray(fields)) {
    const pairs = Array.isArray(fields[0]);
    const found: unknown[] = [];
    for (let i = 0; i < fields.length; i += pairs ? 1 : 2) {
      const [name, value] = pairs ? (fields[i] as unknown[]) : [fields[i], fields[i + 1]];
      if (sameName(String(name), lower)) found.push(value);
    }
    return found.length === 0 ? undefined : found.length === 1 ? found[0] : found;
  }
  if (typeof fields !== 'object' || fields === null) return undefined;
  for (const name of Object.keys(fields)) {
    if (sameName(name, lower)) return (fields as Record<string, unknown>)[name];
  }
  return undefined;
}

/** Compared by length first: most names are not the one looked for, and lowercasing costs more. */
const sameName = (name: string, lower: string) => name.length === lower.length && name.toLowerCase() === lower;
