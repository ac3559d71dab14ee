import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

/**
 * The one answer to an app that threw (or rejected) before its response was complete, for every
 * HTTP path: gserve's engine, node:http and HTTP/2 call these, so a failure looks the same whatever
 * the interface or class. Before anything went out: a plain-text 500 and, on HTTP/1, the connection
 * closes after it, like Gunicorn does (the request's body may be half read and the app's state is
 * unknown). After the head went out nothing honest can be sent any more: the connection is cut, so
 * the client sees a truncated response rather than one that looks complete.
 */

export const APP_FAILURE_STATUS = 500;
export const APP_FAILURE_BODY = 'Internal Server Error\n';
export const APP_FAILURE_TYPE = 'text/plain';

/** What an HTTP path's response offers for this; gserve's EngineResponse has it. */
export interface FailableResponse {
  readonly headersSent: boolean;
  readonly finished: boolean;
  /** Writes the 500 in place of anything the app had set but not sent, then closes the connection. */
  failWith(status: number, contentType: string, body: string): void;
  /** Cuts the connection under a response that has already begun. */
  abort(): void;
}

export function answerAppFailure(res: FailableResponse): void {
  if (res.finished) return;
  if (!res.headersSent) res.failWith(APP_FAILURE_STATUS, APP_FAILURE_TYPE, APP_FAILURE_BODY);
  else res.abort();
}

/** The same answer on node:http's (or its HTTP/2 compatibility layer's) response. */
export function answerNodeAppFailure(res: ServerResponse | Http2ServerResponse): void {
  if (res.writableEnded) return;
  if (res.headersSent) return void res.destroy();
  // Whatever the app set but did not send gives way to the 500.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = APP_FAILURE_STATUS;
  res.setHeader('content-type', APP_FAILURE_TYPE);
  if ('shouldKeepAlive' in res) {
    // The length a failed end() noted for the app's body would hold our 500 to it (node-response.ts).
    res.strictContentLength = false;
    // HTTP/1 (HTTP/2 has no reason phrase): one the app set, or its failed writeHead() did, went out as `500 OK`.
    res.statusMessage = '';
    res.shouldKeepAlive = false;
  }
  res.end(APP_FAILURE_BODY);
}
