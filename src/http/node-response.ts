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
 * `onLateWrite`: told of a write or end() after the response ended, which is then ignored.
 */
export function checkedResponse(onLateWrite: (err: Error, req: IncomingMessage) => void): typeof ServerResponse {
  // One function for every response: `this` is the response.
  const lateWrite = function (this: ServerResponse, err: Error) {
    onLateWrite(err, this.req);
  };
  class CheckedResponse extends ServerResponse {
    // node passes options too (highWaterMark, …), which its types leave out: all go on to node's.
    constructor(...args: [IncomingMessage]) {
      super(...args);
      // node's own check: a write past the Content-Length, or an end() short of it, throws in the app.
      this.strictContentLength = true;
      this.on('error', lateWrite);
    }
  }
  // Every head passes here: node's implicit one (the first write or end()) calls writeHead too.
  const nodeWriteHead = ServerResponse.prototype.writeHead;
  CheckedResponse.prototype.writeHead = function (
    this: ServerResponse,
    status: number,
    reason?: unknown,
    fields?: unknown,
  ) {
    if (!(status >= 200)) checkFinalStatus(Number(status));
    checkFraming(this, typeof reason === 'string' ? fields : reason);
    return Reflect.apply(nodeWriteHead, this, [status, reason, fields]) as ServerResponse;
  } as ServerResponse['writeHead'];
  return CheckedResponse as unknown as typeof ServerResponse;
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
