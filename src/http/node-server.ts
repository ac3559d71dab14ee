// Imported rather than the global, which Node 24 defines as a lazy getter: a call on every read.
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OWN_VARIABLES } from '../config/own-variables.js';
import type { HttpLimits } from './limits.js';
import { checkParsedHead, connectRefused, rejectionForParserError } from './node-checks.js';
import { answerNodeAppFailure } from './app-failure.js';
import { settleListenerResult } from './app-values.js';
import { END_WRITES_TWICE, callListener, checkedResponse, oneWriteResponse } from './node-response.js';
import { HeadWatch, noRead } from './node-head-watch.js';
import { bytesWritten, writtenHead } from './node-internals.js';
import { type FinishedExchange, type ProtocolServer, rememberPeer, whenListened } from './protocol-server.js';
import { Rejection, rejectionResponse } from './reject.js';
import { LINGER_MS, bodyTimedOut, headerTimedOut, timeBody } from './timeouts.js';
import { absoluteTarget, bodyTooLarge, replaceHost } from './validate.js';

export interface NodeServerOptions {
  keepAliveTimeout: number;
  limits: HttpLimits;
  onError(err: unknown, req: IncomingMessage): void;
  /**
   * false: node:http alone, without gserve's checks and refusals (llhttp stays strict). Only for
   * measuring what the hardening costs: GSERVE_BENCH_UNHARDENED=1 (bench/, hello-keepalive).
   */
  hardened?: boolean;
  /**
   * Whether an access log is written (default: true). Then each response notes its socket's byte
   * count as it begins, for the body bytes of one without a Content-Length (the log's `B`), a call
   * into node's C++ per request that nothing else needs; and each connection its peer (rememberPeer).
   */
  accessLog?: boolean;
}

/** The environment switch behind NodeServerOptions.hardened, read by the worker (worker/hosted.ts). */
export const UNHARDENED_ENV = OWN_VARIABLES.benchUnhardened;

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** A response being served keeps its exchange (for the access log and the counters) under gserve's own key. */
const kExchange = Symbol('gserve.exchange');
/** Marks a pipelined request waiting for its turn with the app (serveNext), not yet handed to it. */
const kQueued = Symbol('gserve.queued');
type ServedResponse = ServerResponse & { [kExchange]?: NodeExchange; [kQueued]?: boolean };
/**
 * A socket keeps its NodeConnection under gserve's own key: read for every request, where a WeakMap
 * lookup cost more than the property.
 */
const kConnection = Symbol('gserve.connection');
type WatchedSocket = Socket & { [kConnection]?: NodeConnection };

/** What gserve keeps about one connection on the node:http path. */
class NodeConnection {
  /** Responses node:http has open on this socket. */
  open = 0;
  /** A request was refused: nothing more on this connection reaches the app. */
  refused = false;
  /** Requests this connection brought to the app, for --max-keepalive-requests. */
  requests = 0;
  /** A refusal waiting for the responses before it to finish. */
  pending: Rejection | null = null;
  /** The queued request that refusal is for: it never runs. */
  refusedQueued: ServerResponse | null = null;
  /** The request whose body is being read, and its response. */
  current: { req: IncomingMessage; res: ServerResponse } | null = null;
  /**
   * Pipelined requests waiting for their turn with the app (serveNext): each is called with `drop`
   * true when it never will have it (the connection ends first).
   */
  readonly waiting: Array<(drop?: boolean) => void> = [];
  /** A request is with the app and its response has not closed. */
  serving = false;
  /**
   * A response ended the connection (`Connection: close`, HTTP/1.0, a drain): node:http closes it
   * after that answer, so the requests pipelined behind it would run and never be answered.
   */
  ending = false;
  awaitingDrain = false;
  readonly watch: HeadWatch;

  constructor(
    readonly socket: Socket,
    limits: HttpLimits,
    refuse: (conn: NodeConnection, r: Rejection) => void,
    refuseBody: (conn: NodeConnection, r: Rejection) => void,
  ) {
    this.watch = new HeadWatch(
      limits,
      (r) => refuse(this, r),
      (r) => refuseBody(this, r),
    );
  }
}

/**
 * The node:http path, for `(req, res)` apps: frameworks need the real IncomingMessage and
 * ServerResponse. Sockets come from the worker's own listeners. llhttp reads each socket natively
 * (strict mode); gserve adds only what llhttp does not check, on what llhttp has parsed: the limits
 * and head rules of node-checks.ts before the app runs, the line limits of a head still arriving
 * (node-head-watch.ts), a body timeout and size limit, and its own answers to llhttp's errors. The
 * statuses and reasons are the engine's, from the same validate.ts.
 * Events: 'rejected' (Rejection, socket) for each refused request, besides the ProtocolServer ones.
 */
export class NodeProtocolServer extends EventEmitter implements ProtocolServer {
  /** The node:http server; the gateway layer listens to its 'upgrade' event for WebSocket. */
  readonly server;
  private readonly sockets = new Set<Socket>();
  /** Taken over by the app's own `upgrade` export (releaseToApp). */
  private readonly appOwned = new Set<Socket>();
  /**
   * The responses in flight, a list threaded through their exchanges (track, untrack). A Set's
   * delete shrank its table and the next add grew it again as the count rose and fell, a call into
   * V8's runtime on many requests (bench/instructions-per-request.js).
   */
  private firstActive: NodeExchange | null = null;
  private activeCount = 0;
  private draining = false;
  /** Whether anything listens for 'request' (whenListened). */
  private hearsRequests = false;
  private readonly refuse = (conn: NodeConnection, r: Rejection) => this.refuseOpen(conn, r);
  private readonly refuseBody = (conn: NodeConnection, r: Rejection) => {
    if (conn.current) this.refuseDelivered(conn, conn.current.res, r);
  };

  constructor(
    private readonly listener: Listener,
    private readonly options: NodeServerOptions,
  ) {
    super();
    whenListened(this, 'request', () => (this.hearsRequests = true));
    const { limits } = options;
    this.server = createServer({
      // The app's answer is held to one that frames (node-response.ts), unless unhardened.
      ServerResponse:
        options.hardened !== false
          ? checkedResponse(options.onError, false, this.responseEnded)
          : END_WRITES_TWICE
            ? oneWriteResponse()
            : ServerResponse,
      keepAliveTimeout: options.keepAliveTimeout,
      insecureHTTPParser: false,
      // Heads are timed by node:http itself (from a message's first byte, or the accept), checked on
      // an interval fine enough for the shortest header timeout; bodies by gserve (see armBody).
      headersTimeout: limits.headerTimeout,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headerTimeout / 4) || 1000)),
      // Host is checked with the engine's rules and answer (node-checks.ts).
      requireHostHeader: false,
      maxHeaderSize: headBound(limits),
    });
    this.server.keepAliveTimeout = options.keepAliveTimeout;
    this.server.maxHeadersCount = 0; // no silent truncation; the checks count fields
    // --max-keepalive-requests is counted by handle(), as on the engine: node's own count writes
    // `max=` into every response's Keep-Alive field and answers 503 to a request pipelined past it,
    // where the engine reads nothing more. node:http alone (unhardened) keeps node's.
    this.server.maxRequestsPerSocket = options.hardened === false ? limits.maxKeepaliveRequests : 0;
    // Every head node:http completes comes through handle(): a request, a 100-continue, another
    // expectation (refused 417 by the checks).
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, false));
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, true));
    this.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, false));
    this.server.on('connect', (req: IncomingMessage, socket: Socket) => this.connect(req, socket));
    this.server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) =>
      this.clientError(err, socket),
    );
    // node:http starts its connection bookkeeping (header timeouts, closeIdleConnections) when it
    // listens; this server never listens (the worker's listeners hand it sockets), so it is told.
    this.server.emit('listening');
  }

  accept(socket: Socket): void {
    // As node:http's own listeners do: without it, a response written in two parts (a write, then
    // the end) waits for the client's delayed ACK, about 40 ms, on every keep-alive request after the
    // first few. A no-op where the listener already set it at accept.
    socket.setNoDelay(true);
    if (this.options.accessLog !== false) rememberPeer(socket);
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.appOwned.delete(socket);
      // The requests still waiting for their turn never run: no one is left to answer.
      const conn = (socket as WatchedSocket)[kConnection];
      if (conn) this.serveNext(conn);
      this.emit('connection-closed');
    });
    // Without a NodeConnection, handle() passes every request straight to the app.
    if (this.options.hardened === false) return void this.server.emit('connection', socket);
    const conn = new NodeConnection(socket, this.options.limits, this.refuse, this.refuseBody);
    (socket as WatchedSocket)[kConnection] = conn;
    this.server.emit('connection', socket);
    conn.watch.attach(socket);
  }

  private handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const conn = (req.socket as WatchedSocket)[kConnection];
    if (!conn) return void this.serve(req, res, expectsContinue);
    // A request parsed behind a refused one: the connection is closing; it is never answered.
    if (conn.refused) return;
    const max = this.options.limits.maxKeepaliveRequests;
    // Pipelined behind the last one allowed: the connection closes after that one's answer.
    if (max > 0 && conn.requests >= max) return void conn.watch.headComplete(req, noRead);
    const spacing = conn.watch.headComplete(req);
    let framing = spacing ?? checkParsedHead(req, this.options.limits);
    if (!(framing instanceof Rejection) && framing.chunked) framing = conn.watch.followChunkedBody() ?? framing;
    conn.open++;
    if (++conn.requests === max) {
      res.shouldKeepAlive = false;
      // An app's own `Connection: keep-alive` wins over shouldKeepAlive in node:http: the connection
      // still ends after this answer, or the next request on it, never served, would wait for ever.
      res.on('close', () => res.closed && closeAfterLinger(conn.socket));
    }
    if (framing instanceof Rejection) {
      res.on('close', () => this.responseClosed(conn));
      return this.refuseWithResponse(conn, res, framing);
    }
    if (req.url!.charCodeAt(0) !== 0x2f) takeTargetAuthority(req);
    // An Upgrade no one takes (the app listens for none, or asks for h2c): served as a plain request,
    // then closed, as on the engine. llhttp stops parsing after an upgrade head, so a request
    // pipelined behind it would never be answered on a connection left open.
    if (framing.upgrade) res.setHeader('connection', 'close');
    const hasBody = framing.chunked || (framing.contentLength ?? 0) > 0;
    if (hasBody) {
      conn.current = { req, res };
      conn.watch.bodyOf = req;
      req.once('end', () => {
        if (conn.current?.req === req) conn.current = null;
      });
      this.armBody(conn, req, res);
      if (framing.chunked && this.options.limits.requestBody > 0) this.limitChunkedBody(conn, req, res);
    }
    // 100 Continue only where a body is to come, as on the engine: none is owed to a request without one.
    this.serve(req, res, expectsContinue && hasBody, conn);
  }

  /**
   * Heard at every served response's 'close', one function for all (`this` is the response): a
   * closure per request would cost its creation and a lazy compile on its one call. The checked
   * response tells it from its emit(); node:http's own (unhardened) from a listener.
   */
  private readonly responseEnded = ((server: NodeProtocolServer) =>
    function (this: ServedResponse) {
      const exchange = this[kExchange];
      // Refused before the app saw it (refuseWithResponse); an app's own emit('close') (node's sets
      // `closed` first: the answer is not over before it); or heard already, or never run (a request
      // dropped from the line of a connection that ends first).
      if (!exchange || !this.closed || !server.untrack(exchange)) return;
      const { conn } = exchange;
      if (conn) server.responseClosed(conn);
      server.emit('response', this.req, this, exchange);
      if (conn) {
        conn.serving = false;
        if (conn.waiting.length > 0 && endsConnection(this)) conn.ending = true;
        server.serveNext(conn);
      }
    })(this);

  /** node:http finished a response on this connection: a refusal queued behind it may go out. */
  private responseClosed(conn: NodeConnection): void {
    if (--conn.open === 0 && conn.pending) this.answerAndClose(conn, conn.pending);
  }

  private serve(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean, conn?: NodeConnection): void {
    const exchange = new NodeExchange(req, res, conn, this.options.accessLog);
    (res as ServedResponse)[kExchange] = exchange;
    this.track(exchange);
    if (this.draining) endsAfterAnswer(res);
    if (this.options.hardened === false) res.on('close', this.responseEnded);
    if (!conn) return this.callApp(req, res, expectsContinue);
    if (conn.ending) return void this.untrack(exchange); // closes with the connection, never run
    if (!conn.serving && !conn.awaitingDrain && conn.waiting.length === 0 && !conn.socket.writableNeedDrain) {
      conn.serving = true; // the common case, without a closure: nothing before it on this connection
      return this.callApp(req, res, expectsContinue);
    }
    (res as ServedResponse)[kQueued] = true;
    conn.waiting.push((drop?: boolean) => {
      (res as ServedResponse)[kQueued] = false;
      if (drop) return void this.untrack(exchange);
      if (!res.closed && conn.refusedQueued !== res) {
        exchange.countBytesFromHere();
        return this.callApp(req, res, expectsContinue);
      }
      // The client left while this request waited for its turn.
      conn.serving = false;
      this.serveNext(conn);
    });
    this.serveNext(conn);
  }

  private track(x: NodeExchange): void {
    x.next = this.firstActive;
    if (x.next) x.next.prev = x;
    this.firstActive = x;
    this.activeCount++;
  }

  /** Whether `x` was in the list (a response is untracked once). */
  private untrack(x: NodeExchange): boolean {
    if (x.prev) x.prev.next = x.next;
    else if (this.firstActive === x) this.firstActive = x.next;
    else return false; // not in the list
    if (x.next) x.next.prev = x.prev;
    x.prev = x.next = null;
    this.activeCount--;
    return true;
  }

  /**
   * One request of a connection with the app at a time, as on the engine, and the next one only
   * once the answers before it have left the socket's buffer. node:http alone runs every pipelined
   * request it has parsed at once and buffers their answers: a client that pipelines requests for
   * large answers and reads none of them grew a worker by their sum (411 MB for 400 of 1 MiB).
   */
  serveNext(conn: NodeConnection): void {
    if ((conn.ending || conn.socket.destroyed) && conn.waiting.length > 0) {
      for (const dropped of conn.waiting.splice(0)) dropped(true);
    }
    if (conn.serving || conn.awaitingDrain || conn.waiting.length === 0) return;
    const { socket } = conn;
    if (socket.writableNeedDrain) {
      conn.awaitingDrain = true;
      socket.once('drain', () => {
        conn.awaitingDrain = false;
        this.serveNext(conn);
      });
      return;
    }
    conn.serving = true;
    conn.waiting.shift()!();
  }

  private callApp(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    if (this.hearsRequests) this.emit('request', req, res);
    if (expectsContinue) res.writeContinue();
    try {
      const result = this.options.hardened === false ? this.listener(req, res) : callListener(this.listener, req, res);
      // Checked here too, so a listener that returns nothing (most) costs no closure per request.
      if (result !== undefined) settleListenerResult(result, res, (err) => this.fail(err, req, res));
    } catch (err) {
      this.fail(err, req, res);
    }
  }

  private fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    this.options.onError(err, req);
    answerNodeAppFailure(res);
  }

  /**
   * --request-timeout: from the end of a head to the end of its body, while the client is the one
   * holding it up (not while the app holds the client back by not reading).
   */
  private armBody(conn: NodeConnection, req: IncomingMessage, res: ServerResponse): void {
    const ms = this.options.limits.requestTimeout;
    timeBody(
      req,
      ms,
      {
        over: () => req.complete || conn.refused || req.socket.destroyed,
        appHolding: () => req.isPaused() || req.readableLength > 0 || req.socket.isPaused(),
      },
      () => this.refuseDelivered(conn, res, bodyTimedOut(this.options.limits)),
    );
  }

  /** --limit-request-body for a chunked body, counted while llhttp hands the bytes over. */
  private limitChunkedBody(conn: NodeConnection, req: IncomingMessage, res: ServerResponse): void {
    const limit = this.options.limits.requestBody;
    let bytes = 0;
    const push = req.push;
    req.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk !== null && !conn.refused) {
        if (Buffer.isBuffer(chunk)) bytes += chunk.length; // llhttp hands the body over in Buffers
        if (bytes > limit) {
          this.refuseDelivered(conn, res, bodyTooLarge(limit));
          return false;
        }
      }
      return conn.refused ? false : push.call(req, chunk, encoding);
    };
  }

  /** CONNECT: a 4xx, never a silent close. The socket has left node:http. */
  private connect(req: IncomingMessage, socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const conn = (socket as WatchedSocket)[kConnection];
    const checked = checkParsedHead(req, this.options.limits);
    const r = checked instanceof Rejection ? checked : connectRefused();
    if (!conn) {
      this.emit('rejected', r, socket);
      return void socket.end(rejectionResponse(r));
    }
    conn.watch.headComplete(req, noRead);
    this.refuseOpen(conn, r);
  }

  private clientError(err: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void {
    const conn = (socket as WatchedSocket)[kConnection];
    // After a refusal, node:http may still complain (its parser at EOF, a write after the answer):
    // the refusal is on its way and the socket closes after it.
    if (conn?.refused) return;
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    // Bytes after a request that said `Connection: close`: never read for a request; the connection
    // closes once that request is answered, like it would have anyway.
    if (err.code === 'HPE_CLOSED_CONNECTION') return void (conn && conn.open > 0 ? undefined : socket.destroy());
    let r: Rejection;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // A connection that never sent a byte is closed without an answer, like the engine's.
      if (!conn?.watch.headOpen) return void socket.destroy();
      r = headerTimedOut(this.options.limits.headerTimeout);
    } else r = rejectionForParserError(err.code, err.reason ?? err.message);
    if (!conn) {
      this.emit('rejected', r, socket);
      return closeAfterLinger(socket, rejectionResponse(r));
    }
    // llhttp refused bytes of a body whose head the app already has.
    if (conn.current && !conn.current.req.complete && !conn.watch.headOpen)
      return this.refuseDelivered(conn, conn.current.res, r);
    this.refuseOpen(conn, r);
  }

  /** Refuses a head that is still open (or a parser error between requests), in order. */
  private refuseOpen(conn: NodeConnection, r: Rejection): void {
    if (conn.refused) return;
    conn.refused = true;
    this.emit('rejected', r, conn.socket);
    if (conn.open === 0) this.answerAndClose(conn, r);
    else conn.pending = r;
  }

  /** Refuses a complete head before the app sees it, through its response, so it keeps its place. */
  private refuseWithResponse(conn: NodeConnection, res: ServerResponse, r: Rejection): void {
    conn.refused = true;
    this.emit('rejected', r, conn.socket);
    const bytes = rejectionResponse(r);
    const body = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
    res.writeHead(r.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
      connection: 'close',
    });
    res.end(body);
    setTimeout(() => conn.socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Refuses a request the app already has (its body broke a rule or stopped arriving): answered in
   * the app's place when the app has not begun its answer and no answer is queued before it;
   * otherwise the connection is cut, the only honest end for a response already under way.
   */
  private refuseDelivered(conn: NodeConnection, res: ServerResponse, r: Rejection): void {
    if (conn.refused) return;
    conn.refused = true;
    this.emit('rejected', r, conn.socket);
    if ((res as ServedResponse)[kQueued]) {
      // Pipelined behind requests still being answered, and not yet with the app: it never runs,
      // and is refused in its turn, once the answers before it are out (cutting the connection now
      // lost them).
      conn.refusedQueued = res;
      conn.open--;
      if (conn.open === 0) this.answerAndClose(conn, r);
      else conn.pending = r;
      return;
    }
    if (conn.open <= 1 && !res.headersSent) this.answerAndClose(conn, r);
    else conn.socket.destroy();
  }

  private answerAndClose(conn: NodeConnection, r: Rejection): void {
    conn.pending = null;
    if (!conn.socket.destroyed) closeAfterLinger(conn.socket, rejectionResponse(r));
  }

  drain(): void {
    this.draining = true;
    for (let x = this.firstActive; x; x = x.next) {
      const res = x.response as ServerResponse; // on this path, always node:http's
      if (!res.headersSent) endsAfterAnswer(res);
    }
    this.emit('draining'); // WebSocket hub: close open sockets with 1001
  }

  closeIdleConnections(): void {
    this.server.closeIdleConnections();
  }

  /**
   * `socket` was upgraded and the app's own `upgrade` export took it: from now on it no longer
   * holds a graceful stop before the app's close(), which is what ends it (appOwnedCount).
   */
  releaseToApp(socket: Socket): void {
    if (!this.sockets.delete(socket)) return;
    this.appOwned.add(socket);
    this.emit('connection-closed');
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  get appOwnedCount(): number {
    return this.appOwned.size;
  }

  get inFlight(): number {
    return this.activeCount;
  }
}

/**
 * A response after which the connection closes: one node:http decided not to keep alive (HTTP/1.0),
 * one whose app wrote its own `Connection: close`, or one that gserve ends (endsAfterAnswer), whose
 * app's own `Connection: keep-alive` made node:http keep it alive (read only behind a pipelined
 * request). node's `_last` is its own decision, made with the head: an HTTP/1.0 keep-alive request
 * whose answer has no Content-Length of the app's is answered `Connection: close`, shouldKeepAlive
 * left true.
 */
function endsConnection(res: ServerResponse): boolean {
  if (!res.shouldKeepAlive || (res as unknown as { _last: boolean })._last) return true;
  if (res.listeners('close').includes(closeItsConnection)) return true;
  const value = res.getHeader('connection');
  const connection = Array.isArray(value) ? value.join(',') : value;
  return typeof connection === 'string' && /(?:^|,)\s*close\s*(?:,|$)/i.test(connection);
}

/**
 * The connection ends after this answer (draining, and every answer of -k sync): an app's own
 * `Connection: keep-alive` wins over shouldKeepAlive in node:http, and the connection would stay
 * open, a sync worker serving on it requests the master never held.
 */
function endsAfterAnswer(res: ServerResponse): void {
  res.shouldKeepAlive = false;
  res.on('close', closeItsConnection);
}

/** Not at an app's own emit('close') before its answer is out (node sets `closed` before its own). */
const closeItsConnection = function (this: ServerResponse) {
  if (this.closed) closeAfterLinger(this.req.socket);
};

/** Ends the socket (after `last`), and destroys it if the client has not closed within the linger time. */
function closeAfterLinger(socket: Socket, last?: Buffer): void {
  if (last) socket.end(last);
  else socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Node's cap on a whole head (request line and fields, without line endings): what the line limits
 * allow. Lines are judged one by one first, with the precise reason; this bounds the rest.
 */
function headBound(limits: HttpLimits): number {
  if (!limits.requestLine || !limits.requestFieldSize) return 64 * 1024 * 1024;
  return Math.min(64 * 1024 * 1024, limits.requestLine + limits.requestFields * limits.requestFieldSize + 1024);
}

/**
 * The access log's view of a node:http request (and of node's HTTP/2 compatibility request); body
 * bytes are the Content-Length, else what went on the wire minus the head.
 */
/** What NodeExchange reads of a request: node:http's, or HTTP/2's compatibility request. */
interface ExchangeRequest {
  readonly method?: string;
  readonly url?: string;
  readonly httpVersion: string;
  readonly socket: Socket;
  readonly headers: IncomingHttpHeaders;
}

/** What NodeExchange reads of a response, of either kind. */
interface ExchangeResponse {
  readonly statusCode: number;
  getHeader(name: string): number | string | readonly string[] | undefined;
}

export class NodeExchange implements FinishedExchange {
  // Assigned in the constructor, not as class fields: one made per request, and field initializers
  // cost a call of their own.
  readonly startedAt: number;
  private writtenBefore: number;
  private readonly req: ExchangeRequest;
  readonly response: ExchangeResponse;
  /** The HTTP/1 connection it came on, where gserve keeps one. */
  readonly conn: NodeConnection | undefined;
  /** Its neighbours in its server's list of responses in flight (NodeProtocolServer.track). */
  prev: NodeExchange | null;
  next: NodeExchange | null;

  /** `bodyBytes`: whether `bodyBytes` will be asked for a response without a Content-Length (an access log). */
  constructor(req: ExchangeRequest, res: ExchangeResponse, conn?: NodeConnection, bodyBytes = true) {
    this.startedAt = performance.now();
    this.req = req;
    this.response = res;
    this.conn = conn;
    this.prev = null;
    this.next = null;
    this.writtenBefore = bodyBytes ? bytesWritten(req.socket) : Number.NaN;
  }

  /**
   * Its app is called only now (a pipelined request waits for the answers before it): those went out
   * since it was made, and are not its body's bytes.
   */
  countBytesFromHere(): void {
    if (!Number.isNaN(this.writtenBefore)) this.writtenBefore = bytesWritten(this.req.socket);
  }

  get method(): string {
    return this.req.method ?? '';
  }
  get url(): string {
    return this.req.url ?? '';
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
  get status(): number {
    return this.response.statusCode;
  }
  get socket(): Socket {
    return this.req.socket;
  }
  get bodyBytes(): number {
    if (this.req.method === 'HEAD') return 0;
    const length = this.response.getHeader('content-length');
    if (length !== undefined) return Number(length);
    const head = writtenHead(this.response);
    const bytes =
      bytesWritten(this.req.socket) -
      this.writtenBefore -
      (typeof head === 'string' ? Buffer.byteLength(head, 'latin1') : 0);
    // An HTTP/2 stream shares its socket, whose counters say nothing of one stream: unknown, so 0.
    return Number.isFinite(bytes) && typeof head === 'string' ? Math.max(0, bytes) : 0;
  }
  requestHeader(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
  responseHeader(name: string): string | undefined {
    const value = this.response.getHeader(name);
    return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
  }
}

/**
 * RFC 9112 §3.2.2, as the engine does it: an absolute-form target's authority replaces Host, so the
 * app sees one authority (node:http would pass `http://evil.example/x` with `Host: good.example`).
 * The checks have already refused a bad one; `*` (OPTIONS) stays as it is.
 */
function takeTargetAuthority(req: IncomingMessage): void {
  const absolute = absoluteTarget(req.url!);
  if (!absolute) return;
  req.url = absolute.path;
  replaceHost(req.rawHeaders, absolute.authority);
  req.headers.host = absolute.authority;
}
