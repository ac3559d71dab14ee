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
      this.on('error', lateWrite);
    }
  }
  const proto = CheckedResponse.prototype;
  const { writeHead, write, end } = ServerResponse.prototype;
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
  proto.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) {
    try {
      return Reflect.apply(write, this, [chunk, encoding, callback]) as boolean;
    } catch (err) {
      if (!isLengthMismatch(err) || appCalls > 0) throw err;
      return cut(this, err);
    }
  } as ServerResponse['write'];
  proto.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
    try {
      return Reflect.apply(end, this, [chunk, encoding, callback]) as ServerResponse;
    } catch (err) {
      if (!isLengthMismatch(err) || appCalls > 0) throw err;
      cut(this, err);
      return this;
    }
  } as ServerResponse['end'];
  return CheckedResponse as unknown as typeof ServerResponse;
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
      if (String(name).toLowerCase() === lower) found.push(value);
    }
    return found.length === 0 ? undefined : found.length === 1 ? found[0] : found;
  }
  if (typeof fields !== 'object' || fields === null) return undefined;
  for (const name of Object.keys(fields)) {
    if (name.toLowerCase() === lower) return (fields as Record<string, unknown>)[name];
  }
  return undefined;
}
