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
 * `reframed`: the answer's bytes are read and framed again on their way out (-k thread's engine), so
 * a body that ends with the connection needs no close.
 * `onClose`: told of each response's 'close' before its listeners are, from the response's own
 * emit(): a listener added to every response cost an insertion into its table of events per request.
 */
export function checkedResponse(
  onError: (err: Error, req: IncomingMessage) => void,
  reframed = false,
  onClose?: (this: ServerResponse) => void,
): typeof ServerResponse {
  const { writeHead, write, end } = ServerResponse.prototype;
  /** A slip the app's own call does not get: never thrown (the head, if any, is already out of its hands). */
  const cut = (res: ServerResponse, err: unknown): false => {
    // A client that left mid-answer: what was not written was not counted, and there is no one to tell.
    if (!res.destroyed && err instanceof Error) onError(err, res.req);
    res.destroy();
    return false;
  };
  // Every head passes here: node's implicit one (the first write or end()) calls writeHead too.
  const checkedWriteHead = function (this: ServerResponse, status: number, reason?: unknown, fields?: unknown) {
    if (onClose && this.emit !== checkedEmit) listenForClose(this);
    try {
      if (!(status >= 200)) checkFinalStatus(Number(status));
      checkFraming(this, typeof reason === 'string' ? fields : reason, reframed);
      return Reflect.apply(writeHead, this, [status, reason, fields]) as ServerResponse;
    } catch (err) {
      // node's own refusals too (a status past 999, a bad header byte), which from a timer ended the worker.
      if (isAppsOwn(this)) throw err;
      cut(this, err);
      return this;
    }
  } as ServerResponse['writeHead'];
  const checkedWrite = function (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) {
    const exact = decodedIfEstimated(chunk, encoding);
    if (exact) [chunk, encoding] = [exact, undefined];
    try {
      return Reflect.apply(write, this, [chunk, encoding, callback]) as boolean;
    } catch (err) {
      if (!isLengthMismatch(err) || isAppsOwn(this)) throw err;
      return cut(this, err);
    }
  } as ServerResponse['write'];
  const checkedEnd = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
    const exact = decodedIfEstimated(chunk, encoding);
    if (exact) [chunk, encoding] = [exact, undefined];
    try {
      if (this.strictContentLength && !(this as unknown as NodeOutgoing)._headerSent) {
        if (!checkWholeBody(this, chunk, encoding)) return this;
        if (END_WRITES_TWICE && endInOneWrite(this, chunk, encoding, callback)) return this;
      }
      return Reflect.apply(end, this, [chunk, encoding, callback]) as ServerResponse;
    } catch (err) {
      if (!isLengthMismatch(err) || isAppsOwn(this)) throw err;
      cut(this, err);
      return this;
    }
  } as ServerResponse['end'];
  /**
   * An app that put an emit() of its own on the response, one that calls node's prototype rather
   * than the one it replaced, would leave 'close' unheard: then it is heard as any listener is.
   */
  const listenForClose = (res: ServerResponse) => {
    if (onClose && !res.listeners('close').includes(onClose)) res.on('close', onClose);
  };
  // One function for every response: `this` is the response.
  const lateWrite = function (this: ServerResponse, err: Error) {
    onError(err, this.req);
  };
  /**
   * A write after the end: node raises an 'error' on the next tick, which with nothing listening
   * ends the worker, whichever write it was (ours, or node's own called on the prototype, which
   * gserve's checks never see). Heard here only when no listener of the app's (or of a stream piped
   * in, which re-raises it when none is left) takes it, rather than by a listener added to every
   * response: an insertion into its table of events on each request, for a slip that is rare.
   */
  const nodeEmit = ServerResponse.prototype.emit;
  const checkedEmit = function (this: ServerResponse, event: unknown, err?: unknown) {
    if (event === 'close' && onClose) onClose.call(this);
    else if (event === 'error' && this.listenerCount('error') === 0) {
      Reflect.apply(lateWrite, this, [err]);
      return false;
    }
    // node's own events carry at most one argument: passed as they came, without the arguments
    // object, which is made only for a call with more.
    if (arguments.length < 2) return nodeEmit.call(this, event as string);
    // biome-ignore lint/complexity/noArguments: forwards every argument, without an array per event
    if (arguments.length > 2) return Reflect.apply(nodeEmit, this, arguments) as boolean;
    return nodeEmit.call(this, event as string, err);
  };
  class CheckedResponse extends NodeServerResponse {
    // Named parameters, not a rest parameter, which cost an array per response.
    constructor(req: IncomingMessage, options?: unknown) {
      super(req, options);
      // node's own count of the body against the Content-Length; its throw is caught above.
      this.strictContentLength = true;
      // On the response itself, not its prototype: Express gives each response a prototype of its
      // own (built on node's), which would leave these out.
      const own = this as { writeHead: unknown; write: unknown; end: unknown; emit: unknown };
      own.writeHead = checkedWriteHead;
      own.write = checkedWrite;
      own.end = checkedEnd;
      own.emit = checkedEmit;
    }
  }
  // node's old name for writeHead, on its prototype.
  Reflect.set(CheckedResponse.prototype, 'writeHeader', checkedWriteHead);
  return CheckedResponse as unknown as typeof ServerResponse;
}

/** node:http's ServerResponse as node calls it: with options too (highWaterMark, …), which its types leave out. */
const NodeServerResponse = ServerResponse as unknown as new (req: IncomingMessage, options?: unknown) => ServerResponse;

/** node:http's fields that the whole-body check reads and sets (node's own names, not in its types). */
interface NodeOutgoing {
  /** end() was called (node's own field; writableEnded reads it). */
  finished: boolean;
  _header: string | null;
  _headerSent: boolean;
  _hasBody: boolean;
  _contentLength: number | null;
  _removedContLen: boolean;
  chunkedEncoding: boolean;
  _implicitHeader(): void;
}

/**
 * A string chunk in an encoding whose length Buffer.byteLength() only estimates (where node counts a
 * body and sizes a chunk with it), decoded; null for any other chunk. Written as given, its
 * Content-Length or chunk size would be wrong (and, on Node 20, a bad hex string aborted the process).
 */
function decodedIfEstimated(chunk: unknown, encoding: unknown): Buffer | null {
  if (typeof encoding !== 'string' || typeof chunk !== 'string') return null;
  if (!ESTIMATED.has(encoding) && !ESTIMATED.has(encoding.toLowerCase())) return null;
  return Buffer.from(chunk, encoding as BufferEncoding);
}
const ESTIMATED = new Set(['base64', 'base64url', 'hex']);

/**
 * end() with no body written before it, the common answer: its length is checked here, once, and
 * node's own count is turned off for the call. With strictContentLength on, Node ≥ 22 gives up its
 * one-write path for a whole body (head and body in one string) and queues an empty write after it:
 * a writev through JavaScript on every such answer, 9% of the hello rate on Node 24. As node does
 * for end(): a head not yet made is made now, with the body's length unless the app set its own.
 * A mismatch un-makes the head (nothing has gone out), so that the app's call is answered 500.
 */
function checkWholeBody(res: ServerResponse, chunk: unknown, encoding: unknown): boolean {
  if (res.writableEnded || res.destroyed) return true; // node's end() answers these
  const length = wholeLength(chunk, encoding);
  if (length === null) return true; // node's end() refuses it
  const out = res as unknown as NodeOutgoing;
  if (out._header === null) {
    makeHead(out, length);
    if (res.destroyed) return false; // the head broke a rule outside the app's call: cut
  }
  const declared = out._contentLength;
  if (declared !== null && out._hasBody && !out.chunkedEncoding && !out._removedContLen && declared !== length) {
    out._header = null;
    // The reason phrase of the head un-made, or the app's next head would keep it (`500 OK`).
    res.statusMessage = undefined as unknown as string;
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

/** The length in bytes of the body given to end(chunk, encoding); null for a chunk node refuses. */
function wholeLength(chunk: unknown, encoding: unknown): number | null {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return 0;
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : null;
}

/** As node's end(body) makes a head not yet made: with the body's length unless the app set its own. */
function makeHead(out: NodeOutgoing, length: number): void {
  out._contentLength = length;
  out._implicitHeader();
}

/**
 * Node 20's end(body) sends the answer as a writev(2) of it and an empty chunk that carries its
 * 'finish', through JavaScript that gathers the two; Node ≥ 22 writes it once (its end() attaches
 * 'finish' to the last chunk). On Node 20, then, an answer whose whole body comes with end() goes out
 * through write() (head and body in one string), flushed at once; end() then finds nothing left to
 * send and finishes on the next tick, as node's own end() does after a flushed write. Measured with
 * one node:http process on Node 20 (pinned, wrk -c50 on the other core): 40.4k req/s before, 44.3k after.
 */
export const END_WRITES_TWICE = Number(process.versions.node.split('.', 1)[0]) < 22;

/**
 * end(chunk, encoding, callback) in one write, when nothing has been written before it and the
 * answer is a plain body of known length; false, having done nothing, when node's end() should do it.
 */
function endInOneWrite(res: ServerResponse, chunk: unknown, encoding: unknown, callback: unknown): boolean {
  const { socket } = res;
  // A socket corked by someone else would be flushed early by this uncork; a queued pipelined answer
  // has none yet. Node's own count of the body (an app's strictContentLength; the checks turn it off
  // once they have counted) judges the whole body only in end(), after write() had sent it.
  if (!socket || socket.destroyed || socket.writableCorked > 0 || res.writableEnded || res.destroyed) return false;
  if (res.strictContentLength) return false;
  if (typeof encoding === 'function') [callback, encoding] = [encoding, undefined];
  // No body (node's end() sends the head in one write already), or one node refuses.
  const length = wholeLength(chunk, encoding);
  if (!length) return false;
  const out = res as unknown as NodeOutgoing;
  if (out._header === null) makeHead(out, length);
  if (!out._hasBody || out.chunkedEncoding || res.destroyed) return false;
  // Corked here, write() leaves the cork alone (it would take one until the next tick, and then undo
  // a cork the app takes meanwhile); the answer goes at the uncork, and end() has nothing to add.
  socket.cork();
  Reflect.apply(ServerResponse.prototype.write, res, [chunk, encoding]);
  socket.uncork();
  Reflect.apply(ServerResponse.prototype.end, res, typeof callback === 'function' ? [callback] : []);
  return true;
}

/**
 * node:http's own response, but for end(body) on Node 20 (END_WRITES_TWICE): what the unhardened
 * path (NodeServerOptions.hardened) serves with, so that it differs from the hardened one only by the checks.
 */
export function oneWriteResponse(): typeof ServerResponse {
  const { end } = ServerResponse.prototype;
  class OneWriteResponse extends ServerResponse {}
  OneWriteResponse.prototype.end = function (
    this: ServerResponse,
    chunk?: unknown,
    encoding?: unknown,
    callback?: unknown,
  ) {
    if ((this as unknown as NodeOutgoing)._headerSent || !endInOneWrite(this, chunk, encoding, callback))
      Reflect.apply(end, this, [chunk, encoding, callback]);
    return this;
  } as ServerResponse['end'];
  return OneWriteResponse as unknown as typeof ServerResponse;
}

const isLengthMismatch = (err: unknown) =>
  err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH';

/**
 * The responses whose app listener is running (a stack, for a listener that runs another's):
 * a slip on one of them is thrown, for gserve to answer 500; a slip on any other response (ended
 * from a callback, or from another request's listener) is not that call's to answer.
 */
const appCalls: ServerResponse[] = [];
const isAppsOwn = (res: ServerResponse) => appCalls.includes(res);

/** Calls a node app's listener; within it, a slip on its response throws, for gserve to answer 500. */
export function callListener(
  listener: (req: IncomingMessage, res: ServerResponse) => unknown,
  req: IncomingMessage,
  res: ServerResponse,
): unknown {
  appCalls.push(res);
  try {
    return listener(req, res);
  } finally {
    appCalls.pop();
  }
}

/**
 * A Content-Length that is one decimal number, and not beside Transfer-Encoding (RFC 9112 §6.1,
 * §6.3); node writes whatever it is given, and compares the body with `+value` ('0x5' is 5).
 * A Transfer-Encoding whose last coding is not chunked leaves the body's end to the connection's
 * close (§6.3), so the connection closes after it, unless the answer is framed again.
 */
function checkFraming(res: ServerResponse, given: unknown, reframed: boolean): void {
  // Fields given to writeHead() replace those of the same name set before.
  const found = given ? framingFieldsIn(given) : NONE_GIVEN;
  const length = found.length ?? res.getHeader('content-length');
  const coding = found.coding ?? res.getHeader('transfer-encoding');
  if (length !== undefined) {
    if (Array.isArray(length) && length.length !== 1)
      throw new ResponseError(
        'GSERVE_E_RESPONSE_HEADER',
        `the response has ${length.length} Content-Lengths (${length.join(', ')}); set one, from the body as sent`,
      );
    const value: unknown = Array.isArray(length) ? length[0] : length;
    if (typeof value === 'number' ? !(Number.isSafeInteger(value) && value >= 0) : !DECIMAL.test(String(value)))
      throw new ResponseError(
        'GSERVE_E_RESPONSE_HEADER',
        `the response's Content-Length ${JSON.stringify(value)} is not a number of bytes; set the body's length in decimal digits`,
      );
    if (coding !== undefined)
      throw new ResponseError(
        'GSERVE_E_RESPONSE_HEADER',
        'the response has both Transfer-Encoding and Content-Length (RFC 9112 §6.1 forbids it); leave ' +
          'Content-Length out of a chunked response',
      );
  }
  if (!reframed && coding !== undefined && !LAST_CODING_CHUNKED.test(String(coding))) res.shouldKeepAlive = false;
}

const DECIMAL = /^[ \t]*\d+[ \t]*$/;
const LAST_CODING_CHUNKED = /(?:^|,)[ \t]*chunked[ \t]*$/i;

interface FramingFields {
  length?: unknown;
  coding?: unknown;
}
const NONE_GIVEN: FramingFields = Object.freeze({});

/**
 * Content-Length and Transfer-Encoding in writeHead()'s fields (an object, [[name, value], …] or
 * [name, value, …]), in one pass: a name given more than once in an array gives all its values.
 */
function framingFieldsIn(fields: unknown): FramingFields {
  const found: FramingFields = {};
  if (Array.isArray(fields)) {
    const pairs = Array.isArray(fields[0]);
    for (let i = 0; i < fields.length; i += pairs ? 1 : 2) {
      const [name, value] = pairs ? (fields[i] as unknown[]) : [fields[i], fields[i + 1]];
      const key = framingKey(String(name));
      if (key) addFramingValue(found, key, value);
    }
  } else if (typeof fields === 'object' && fields !== null) {
    // Its own keys, as node's writeHead() reads them.
    for (const name of Object.keys(fields)) {
      const key = framingKey(name);
      if (key) found[key] ??= (fields as Record<string, unknown>)[name];
    }
  }
  return found;
}

/** A framing field's value, beside those of the same name found before it. */
function addFramingValue(found: FramingFields, key: keyof FramingFields, value: unknown): void {
  const had = found[key];
  found[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
}

/**
 * Which framing field a name is: by length first, as most names are neither, then as apps write it,
 * as lowercasing makes a string of its own.
 */
function framingKey(name: string): keyof FramingFields | null {
  if (name.length === 14)
    return name === 'content-length' || name === 'Content-Length' || name.toLowerCase() === 'content-length'
      ? 'length'
      : null;
  if (name.length === 17)
    return name === 'transfer-encoding' || name === 'Transfer-Encoding' || name.toLowerCase() === 'transfer-encoding'
      ? 'coding'
      : null;
  return null;
}
