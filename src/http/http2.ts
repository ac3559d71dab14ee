import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { settleListenerResult } from './app-values.js';
import { checkHttp2Head, maxHeaderListPairs, maxHeaderListSize } from './h2-limits.js';
import type { HttpLimits } from './limits.js';
import { NodeExchange } from './node-server.js';
import type { ProtocolServer } from './protocol-server.js';
import type { Rejection } from './reject.js';
import { reasonPhrase } from './status.js';
import { bodyTimedOut, timeBody } from './timeouts.js';
import { timeLeft } from './tls.js';
import { bodyTooLarge } from './validate.js';

/** node:http2, loaded when a worker serves HTTP/2 (--http2), not before. */
const http2 = (): typeof import('node:http2') => createRequire(import.meta.url)('node:http2');

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
export type CompatListener = (req: AnyRequest, res: AnyResponse) => unknown;

export interface Http2Options {
  keepAliveTimeout: number;
  limits: HttpLimits;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS: nghttp2 refuses streams beyond it (RST_STREAM REFUSED_STREAM)
   * until the client acknowledged it, and closes the connection of a client that opens more after.
   */
  maxConcurrentStreams: number;
  onError(err: unknown, req: AnyRequest): void;
  /** A connection that sent no complete request head within --header-timeout of its accept. */
  onHeadTimeout(socket: Socket): void;
}

/** The h2 protocol events a ProtocolServer passes on from the HTTP/1.1 server beside it. */
const FORWARDED_EVENTS: readonly string[] = ['request', 'response', 'connection-closed'];

/**
 * `--http2`: TLS connections whose ALPN chose h2 get node's HTTP/2 server (for `node` apps through
 * node's compatibility request/response, `fetch` apps bridged in fetch-compat.ts); those that chose
 * HTTP/1.1 get `http1`, the very server a TLS listener without h2 would use: same limits, same
 * refusals, and WebSocket upgrades for every interface. The TLS handshake happens before, in the
 * edge (tls.ts), which times it. Like the other ProtocolServers it never listens.
 *
 * gserve's limits hold on h2 streams: SETTINGS advertise --http2-max-concurrent-streams and a
 * header-list size derived from the request limits, and each stream's head and body are checked
 * with the statuses HTTP/1.1 gets (h2-limits.ts).
 */
export class Http2ProtocolServer extends EventEmitter implements ProtocolServer {
  private readonly server;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private draining = false;
  private h2InFlight = 0;
  /** The socket accept() is handing to node's server, for its 'session' event. */
  private accepting: Socket | null = null;

  constructor(
    listener: CompatListener,
    private readonly http1: ProtocolServer,
    private readonly options: Http2Options,
  ) {
    super();
    const { limits } = options;
    this.server = http2().createServer(
      {
        settings: {
          maxConcurrentStreams: options.maxConcurrentStreams,
          maxHeaderListSize: maxHeaderListSize(limits),
          // RFC 8441 (WebSocket over HTTP/2) is not offered: clients open WebSockets over HTTP/1.1.
          enableConnectProtocol: false,
        },
        maxHeaderListPairs: maxHeaderListPairs(limits),
      },
      (req, res) => this.handle(listener, req, res),
    );
    this.server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      // Emitted while accept() hands the socket over. (session.socket is a proxy that refuses
      // destroy() and is not the key the accept time is recorded under.)
      this.closeWhenIdle(session, this.accepting!);
      session.on('close', () => this.sessions.delete(session));
      // A protocol error on one connection only ends that connection.
      session.on('error', () => session.destroy());
      if (this.draining) session.close();
    });
    for (const event of FORWARDED_EVENTS) http1.on(event, (...args: unknown[]) => this.emit(event, ...args));
  }

  /**
   * The first complete request head must arrive within --header-timeout of the accept (the TLS
   * handshake, the connection preface and SETTINGS count against it); after that a connection with
   * no open stream is closed (GOAWAY) after --keep-alive, like an idle HTTP/1.1 connection. Node's
   * own session timeout would also cut streams still waiting for a slow app, so it is not used.
   */
  private closeWhenIdle(session: Http2Session, socket: Socket): void {
    let open = 0;
    let timer: NodeJS.Timeout | null = null;
    const arm = (ms: number, onFire: () => void) => {
      if (ms <= 0) return;
      timer = setTimeout(onFire, ms);
      timer.unref();
    };
    session.on('stream', (stream) => {
      open++;
      if (timer) clearTimeout(timer);
      timer = null;
      stream.on('close', () => {
        if (--open > 0 || session.closed) return;
        // --keep-alive 0: no idle connections at all, like on HTTP/1.1.
        if (this.options.keepAliveTimeout <= 0) session.close();
        else arm(this.options.keepAliveTimeout, () => session.close());
      });
    });
    session.on('close', () => timer && clearTimeout(timer));
    arm(timeLeft(socket, this.options.limits.headerTimeout), () => {
      this.options.onHeadTimeout(socket);
      session.destroy();
      // The session ends its socket gracefully, which a peer that does not read can stall.
      socket.destroy();
    });
  }

  private handle(listener: CompatListener, req: Http2ServerRequest, res: Http2ServerResponse): void {
    const refusal = checkHttp2Head(req.rawHeaders, this.options.limits);
    if (refusal) return this.refuse(req, res, refusal);
    this.h2InFlight++;
    const exchange = new NodeExchange(req, res);
    this.emit('request', req, res);
    res.on('close', () => {
      this.h2InFlight--;
      this.emit('response', req, res, exchange);
    });
    this.limitBody(req, res);
    this.armBody(req, res);
    this.watchSend(res);
    const fail = (err: unknown) => {
      this.options.onError(err, req);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal Server Error\n');
      } else res.stream.close(http2().constants.NGHTTP2_INTERNAL_ERROR);
    };
    try {
      settleListenerResult(listener(req, res), res, fail);
    } catch (err) {
      fail(err);
    }
  }

  /**
   * A body longer than --limit-request-body (without a Content-Length saying so) is cut at the
   * limit: 413, and the app sees no byte past the limit and no end of the body, only 'aborted'
   * once the stream closes, like an HTTP/1.1 request cut by a refusal. The count sits in the
   * stream's push(), which node's HTTP/2 core calls for every DATA frame, before the compatibility
   * request (which listens to 'data') sees anything.
   */
  private limitBody(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const limit = this.options.limits.requestBody;
    if (!limit) return;
    const stream = req.stream;
    const push = stream.push;
    let bytes = 0;
    let refused = false;
    stream.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (refused) return true; // swallowed, the end of the body included
      if (chunk !== null && chunk !== undefined) {
        if (Buffer.isBuffer(chunk)) bytes += chunk.length; // DATA frames arrive in Buffers
        if (bytes > limit) {
          refused = true;
          this.refuse(req, res, bodyTooLarge(limit));
          return true;
        }
      }
      return push.call(stream, chunk, encoding);
    };
  }

  /**
   * --request-timeout for each stream: its body must end within it while the app reads it (time the
   * app spends not reading what came holds the client back by flow control, and does not count). A stream
   * that stalls its body is refused (408) and reset, as an HTTP/1.1 connection would be closed;
   * its session's other streams go on.
   */
  private armBody(req: Http2ServerRequest, res: Http2ServerResponse): void {
    // No body (END_STREAM on the HEADERS). `complete` alone is no guide: it waits for the app to read
    // the body's end, which an app answering a GET never does (a slow one got a 408).
    if (req.complete || req.stream.endAfterHeaders) return;
    const ms = this.options.limits.requestTimeout;
    timeBody(
      req,
      ms,
      {
        // The body has all arrived (the client closed its side), or the stream is gone.
        over: () => req.complete || res.stream.destroyed || res.stream.state.remoteClose === 1,
        // Bytes the app has not read yet: it, not the client, holds the body up.
        appHolding: () => req.readableLength > 0 || req.stream.readableLength > 0,
      },
      () => this.refuse(req, res, bodyTimedOut(this.options.limits)),
    );
  }

  /**
   * --send-timeout for each stream: a client that lets a stream's flow-control window stay shut
   * (it reads nothing of it) while the answer waits is reset (CANCEL), freeing what the answer
   * holds. Node's stream timeout counts the time without a frame on the stream, and does not fire
   * while queued data is still going out; it is only heeded while data waits, not while the app
   * is slow.
   */
  private watchSend(res: Http2ServerResponse): void {
    const ms = this.options.limits.sendTimeout;
    if (ms <= 0) return;
    const stream = res.stream;
    const onTimeout = () => {
      if (stream.destroyed) return;
      if (stream.writableLength > 0) return void stream.close(http2().constants.NGHTTP2_CANCEL);
      stream.setTimeout(ms, onTimeout); // nothing waits: the app is working, which is not the client's doing
    };
    stream.setTimeout(ms, onTimeout);
  }

  /**
   * The refusal HTTP/1.1 would get, in a response on this stream; then RST_STREAM (NO_ERROR, after
   * the response) tells the client to stop sending (RFC 9113 §8.1). Other streams carry on.
   */
  private refuse(req: Http2ServerRequest, res: Http2ServerResponse, r: Rejection): void {
    this.emit('rejected', r, req.socket);
    const stream = res.stream;
    if (stream.destroyed) return;
    if (res.headersSent) return void stream.close(http2().constants.NGHTTP2_CANCEL);
    const body = `${reasonPhrase(r.status)}: ${r.reason}\n`;
    res.writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body, () => stream.close(http2().constants.NGHTTP2_NO_ERROR));
  }

  accept(socket: Socket): void {
    // The edge's TLS layer hands over a TLSSocket: its ALPN choice picks the protocol.
    const h2 = 'alpnProtocol' in socket && socket.alpnProtocol === 'h2';
    if (!h2) return this.http1.accept(socket);
    const tls = socket;
    this.sockets.add(tls);
    tls.on('close', () => {
      this.sockets.delete(tls);
      this.emit('connection-closed');
    });
    this.accepting = tls;
    try {
      this.server.emit('connection', tls);
    } finally {
      this.accepting = null;
    }
  }

  drain(): void {
    this.draining = true;
    // GOAWAY: streams already open finish, no new ones start.
    for (const session of this.sessions) session.close();
    this.http1.drain();
  }

  closeIdleConnections(): void {
    for (const session of this.sessions) session.close();
    this.http1.closeIdleConnections();
  }

  get connectionCount(): number {
    return this.sockets.size + this.http1.connectionCount;
  }

  get appOwnedCount(): number {
    return this.http1.appOwnedCount;
  }

  get inFlight(): number {
    return this.h2InFlight + this.http1.inFlight;
  }
}
