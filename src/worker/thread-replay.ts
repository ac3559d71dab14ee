import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { HTTPParser } from 'http-parser-js';
import { callListener, checkedResponse } from '../http/node-response.js';
import { answerNodeAppFailure } from '../http/app-failure.js';
import { settleListenerResult } from '../http/app-values.js';
import type { HeaderList } from '../http/engine.js';
import { markUnixPeer } from '../http/proxy.js';
import type { HostedApp } from '../interfaces/detect.js';
import { statusHasNoBody } from '../http/status.js';
import { attachNodeUpgrade, type ErrorReporter } from '../interfaces/gateway.js';
import type { WorkerRuntime } from '../interfaces/runtime.js';
import { CreditMeter, type Post, type ThreadResponse } from './thread-exchange.js';
import { Batcher, WINDOW_BYTES, transferOf, type Peer, type RequestHead } from './thread-messages.js';

/**
 * Where an app thread still speaks bytes: a `(req, res)` app needs node:http's own request and
 * response objects, which only exist on a socket; and an upgraded connection (WebSocket) is a byte
 * stream by nature. Both run on an in-memory socket fed from the main thread's messages, with the
 * same credit window that structured requests have.
 */

/** Where the bytes the thread's HTTP implementation writes go. */
interface Sink {
  /** Takes `chunk`; `done` once more may be written (back-pressure holds it). */
  write(chunk: Buffer, done: () => void): void;
  /** The implementation ended or destroyed its side. */
  close(): void;
}

/** The in-memory socket an exchange runs on. */
export class ExchangeSocket extends Duplex {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  remoteFamily = 'IPv4';
  /** Set from the peer: true when the client's connection is TLS. */
  encrypted = false;
  sink!: Sink;
  private meter!: CreditMeter;
  /** Called when the thread's HTTP implementation finished a plain response on this socket. */
  onResponse: (() => void) | null = null;
  /** The app's request now being served on this socket. */
  request: IncomingMessage | null = null;

  constructor(peer: Peer, credit: (bytes: number) => void) {
    super({ allowHalfOpen: true });
    const { unixPeer, unixPath: _path, ...address } = peer;
    Object.assign(this, address);
    if (unixPeer) markUnixPeer(this);
    this.nextExchange(credit);
    this.on('error', () => this.destroy());
  }

  /** The (next) request on this connection: the window it counts toward is its own. */
  nextExchange(credit: (bytes: number) => void): void {
    this.meter = new CreditMeter(this, credit);
  }

  /**
   * The app's request can get no more of its body: its answer ended first, and the main thread
   * dropped the rest. It ends as aborted, as node:http ends one whose client left, so that the app's
   * readers and pipes of it close instead of waiting for ever.
   */
  abortRequest(): void {
    const req = this.request;
    if (req && !req.complete) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  }

  /** Still open both ways: node:http may take another request on it. */
  get reusable(): boolean {
    return !this.destroyed && this.readable && this.writable;
  }

  /** Bytes from the main thread; `counted`: how many of them count toward the window (framing does not). */
  feed(bytes: Uint8Array, counted = bytes.byteLength): void {
    if (this.destroyed) return;
    this.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.meter.pushed(counted);
  }

  override _read(): void {
    this.meter?.update();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sink.write(chunk, () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sink.close();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.sink.close();
    cb(err);
  }

  // What net.Socket users (node:http, the engine) call; there is no real socket under this one.
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address() {
    return { address: this.localAddress ?? '127.0.0.1', port: this.localPort ?? 0, family: 'IPv4' };
  }
}

// ---- (req, res) apps: the request replayed in bytes, the answer parsed back into a structured one ----

const CRLF = '\r\n';
/**
 * Framing is the main thread's engine's business; these headers of node's answer are dropped.
 * Connection goes through: the engine drops it too, but honours a `close` in it (the app's).
 */
const HOP_BY_HOP = new Set(['keep-alive', 'transfer-encoding']);
const LAST_CHUNK = Buffer.from(`0${CRLF}${CRLF}`, 'latin1');

/** The last chunk with the client's trailers after it, which node:http gives the app as `req.trailers`. */
function lastChunk(trailers: string[]): Buffer {
  let text = `0${CRLF}`;
  for (let i = 0; i + 1 < trailers.length; i += 2) text += `${trailers[i]}: ${trailers[i + 1]}${CRLF}`;
  return Buffer.from(text + CRLF, 'latin1');
}

/** The request head the way node:http will read it; `chunked`: the body must get its chunked framing back. */
export function serializeHead(head: RequestHead): { bytes: Buffer; chunked: boolean } {
  let chunked = false;
  let text = `${head.method} ${head.url} HTTP/${head.httpVersion}${CRLF}`;
  const raw = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'transfer-encoding') chunked = true;
    // 100 Continue is the main thread's engine's to send, not the app thread's.
    if (name === 'expect') continue;
    text += `${raw[i]}: ${raw[i + 1]}${CRLF}`;
  }
  return { bytes: Buffer.from(text + CRLF, 'latin1'), chunked };
}

/** Names and values, alternating, as pairs. */
function pairsOf(flat: string[]): HeaderList {
  const pairs: HeaderList = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return pairs;
}

interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  headers: string[];
  shouldKeepAlive: boolean;
}

// Header text as bytes, one character each (node writes a string header value as UTF-8 bytes): the
// parser's default, 'ascii', dropped each byte's top bit (`café` went out as `cafC)`).
HTTPParser.encoding = 'latin1';

/** Reads node:http's answer and passes it on: status, headers and body chunks. */
class ResponseReader implements Sink {
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private complete = false;
  /** The answer could not be read to its end: the app's failure was reported instead. */
  private failed = false;
  /** The message being parsed is an interim (1xx) answer, not the response. */
  private interim = false;
  /** node:http keeps the connection open after this answer. */
  private keepAlive = false;

  constructor(
    private readonly res: ThreadResponse,
    private readonly onComplete: (keepAlive: boolean) => void,
  ) {
    const head = res.req.method === 'HEAD';
    this.parser[HTTPParser.kOnHeadersComplete] = (info: ResponseHead) => this.onHead(info, head);
    this.parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) =>
      void this.res.write(chunk.subarray(offset, offset + length));
    // http-parser-js reports a chunked answer's trailers (res.addTrailers()) here, just before its end.
    this.parser[HTTPParser.kOnHeaders] = (trailers: string[]) => this.res.addTrailers(pairsOf(trailers));
    this.parser[HTTPParser.kOnMessageComplete] = () => this.onMessageComplete();
  }

  private onHead(info: ResponseHead, head: boolean): number {
    const headers: HeaderList = [];
    let length = false;
    for (let i = 0; i < info.headers.length; i += 2) {
      const lower = info.headers[i]!.toLowerCase();
      if (lower === 'content-length') length = true;
      if (!HOP_BY_HOP.has(lower)) headers.push([info.headers[i]!, info.headers[i + 1]!]);
    }
    // An interim answer the app wrote (res.writeEarlyHints(), writeProcessing()): passed on before
    // the response. A 100 Continue is the engine's own to send, when the client asked for one.
    if (info.statusCode < 200) {
      this.interim = true;
      if (info.statusCode !== 100) this.res.writeInterim(info.statusCode, headers);
      return 1;
    }
    this.keepAlive = info.shouldKeepAlive;
    // The app's own reason phrase (`res.statusMessage`) goes through, as node would send it.
    this.res.writeHead(info.statusCode, headers, info.statusMessage);
    // node:http answers HEAD without the body it did not send, and without its length unless the app
    // set one: the head goes now, as a body of unknown length, or it would say `content-length: 0`.
    if (head && !length) this.res.write('');
    // No body follows a HEAD's answer, a 204 or a 304, whatever Content-Length says (a 304 may carry
    // the length of what a 200 would have sent): waiting for one failed the answer as a 500.
    return head || statusHasNoBody(info.statusCode) ? 1 : 0;
  }

  private onMessageComplete(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    this.complete = true;
    this.res.end();
    this.onComplete(this.keepAlive);
  }

  write(chunk: Buffer, done: () => void): void {
    if (this.complete) return done();
    if (this.parser.execute(chunk) instanceof Error) {
      this.fail();
      return done();
    }
    // The client is slower than the app: node's writes wait (its stream fills and says so).
    void this.res.drained().then(done);
  }

  close(): void {
    this.end();
  }

  /**
   * The answer can get no more bytes: the connection ended, or node:http finished the app's response
   * (everything it wrote has been read here by then). A body that ends with the connection (HTTP/1.0
   * without a length, or framed by the app's own Transfer-Encoding) ends here; an answer still
   * unfinished never will be (a 1xx set as the final status) and fails, instead of holding the
   * client and the app thread until the client leaves. Returns whether the answer ended well.
   */
  end(): boolean {
    if (this.complete) return !this.failed;
    this.parser.finish();
    if (this.complete) return true;
    this.fail();
    return false;
  }

  /** The answer cannot be read to its end: the app's failure is reported instead. */
  private fail(): void {
    this.complete = true;
    this.failed = true;
    this.res.fail();
  }
}

/** How many idle in-memory connections an app thread keeps for the client connections it served last. */
const KEPT_CONNECTIONS = 32;

/**
 * The app thread's in-memory connections to its node:http server, one per client connection, kept
 * open between requests the way the client's own connection is. node:http then keeps its parser and
 * socket set-up for the next request instead of making them anew each time; and since a connection
 * only ever carries one client's requests, `req.socket` says the same peer for as long as the app
 * holds it, like on a real socket.
 */
export class ReplayConnections {
  /** Idle connections by their client's peer, least recently used first. */
  private readonly idle = new Map<string, ExchangeSocket>();

  constructor(private readonly server: Server) {}

  /** The idle connection for `peer`'s client connection, or a new one. */
  take(key: string, peer: Peer, credit: (bytes: number) => void): ExchangeSocket {
    const kept = this.idle.get(key);
    if (kept) {
      this.idle.delete(key);
      if (kept.reusable) {
        kept.nextExchange(credit);
        return kept;
      }
    }
    const socket = new ExchangeSocket(peer, credit);
    this.server.emit('connection', socket);
    return socket;
  }

  /** `socket` is idle again: kept for its client's next request, the oldest let go past the limit. */
  keep(key: string, socket: ExchangeSocket): void {
    this.idle.set(key, socket);
    if (this.idle.size > KEPT_CONNECTIONS) {
      const [oldestKey, oldest] = this.idle.entries().next().value!;
      this.idle.delete(oldestKey);
      oldest.destroy();
    }
  }
}

/** Which client connection a request came on: one in-memory connection serves only that one. */
const peerKey = (peer: Peer): string =>
  `${peer.remoteAddress}|${peer.remotePort}|${peer.localAddress}|${peer.localPort}|${peer.encrypted}|${peer.unixPath}`;

/** Feeds one request to node:http on an in-memory connection and reads its answer. */
export class ReplayedRequest {
  private readonly socket: ExchangeSocket;
  private readonly chunked: boolean;
  /** The whole request is in node's hands: once answered, the connection is ready for the next one. */
  private fedEnd: boolean;

  /**
   * `whole`: the request's message has all of it, fed right after the head; known here because node
   * may answer as soon as it has the head.
   */
  constructor(
    connections: ReplayConnections,
    head: RequestHead,
    peer: Peer,
    private readonly res: ThreadResponse,
    credit: (bytes: number) => void,
    whole: boolean,
  ) {
    const key = peerKey(peer);
    const socket = (this.socket = connections.take(key, peer, credit));
    this.fedEnd = whole;
    const reader = new ResponseReader(res, (keepAlive) => {
      // A request whose body node has not had in full cannot be followed by another on its connection.
      if (keepAlive && this.fedEnd && socket.reusable) connections.keep(key, socket);
      else
        setImmediate(() => {
          if (!this.fedEnd) socket.abortRequest();
          socket.destroy();
        });
    });
    socket.sink = reader;
    // An answer node finished that could not end well leaves this connection unusable.
    socket.onResponse = () => {
      if (!reader.end()) setImmediate(() => socket.destroy());
    };
    const { bytes, chunked } = serializeHead(head);
    this.chunked = chunked;
    socket.feed(bytes, 0);
  }

  /** `trailers`: with `end`, the fields the client sent after its chunked body. */
  receive(chunk: Uint8Array | undefined, end: boolean, trailers?: string[]): void {
    if (chunk && chunk.byteLength > 0) {
      if (this.chunked) {
        // The engine removed the client's chunked framing; node's parser needs it back.
        this.socket.feed(Buffer.from(chunk.byteLength.toString(16) + CRLF, 'latin1'), 0);
        this.socket.feed(chunk);
        this.socket.feed(Buffer.from(CRLF, 'latin1'), 0);
      } else this.socket.feed(chunk);
    }
    if (end) {
      this.fedEnd = true;
      if (this.chunked) this.socket.feed(trailers ? lastChunk(trailers) : LAST_CHUNK, 0);
    }
  }

  /** The client left: node's request sees the socket close. */
  abort(): void {
    this.res.abandon();
    this.socket.destroy();
  }

  credit(bytes: number): void {
    this.res.credit(bytes);
  }
}

/**
 * The node:http server of an app thread for a `(req, res)` app. The main thread's engine already
 * checked every limit and timed the client, so node's own limits and timers are off here; app
 * errors get the same 500 (or cut-short response) that the other classes give.
 */
export function nodeServerFor(
  runtime: WorkerRuntime,
  app: Extract<HostedApp, { kind: 'node' }>,
  reportError: ErrorReporter,
  /** An app's failure to answer a request (hosted.ts words it, as on the other classes). */
  reportRequestError: (err: unknown, req: IncomingMessage) => void,
): Server {
  const server = createServer(
    {
      headersTimeout: 0,
      requestTimeout: 0,
      requireHostHeader: false,
      maxHeaderSize: 2 ** 30,
      keepAliveTimeout: 0,
      ServerResponse: checkedResponse(reportRequestError, true),
    },
    (req: IncomingMessage, res: ServerResponse) => {
      // A tunnelled request that node answered like a plain one (no upgrade handler): the tunnel ends with it.
      if (req.socket instanceof ExchangeSocket) req.socket.request = req;
      res.once('finish', () => {
        if (req.socket instanceof ExchangeSocket) req.socket.onResponse?.();
      });
      const fail = (err: unknown) => {
        reportRequestError(err, req);
        answerNodeAppFailure(res);
      };
      try {
        settleListenerResult(callListener(app.listener, req, res), res, fail);
      } catch (err) {
        fail(err);
      }
    },
  );
  server.maxHeadersCount = 0;
  attachNodeUpgrade(runtime, server, app, reportError);
  return server;
}

// ---- upgraded connections: raw bytes both ways ----

/** The thread's side of a tunnel: what its HTTP implementation writes goes out in `raw` messages. */
class TunnelSink implements Sink {
  private unacked = 0;
  private held: Array<() => void> = [];
  private closed = false;
  private readonly batcher: Batcher;

  constructor(
    private readonly id: number,
    private readonly post: Post,
    /** After the end went out: the main thread forgets the tunnel, and sends nothing more on it. */
    private readonly onClosed: () => void,
  ) {
    this.batcher = new Batcher((chunk) => {
      this.unacked += chunk.byteLength;
      this.post({ t: 'raw', id: this.id, chunk }, transferOf(chunk));
    });
  }

  write(chunk: Buffer, done: () => void): void {
    if (this.closed) return done();
    this.batcher.add(chunk);
    if (this.unacked + this.batcher.pendingBytes < WINDOW_BYTES) done();
    else this.held.push(done);
  }

  credit(bytes: number): void {
    this.unacked -= bytes;
    if (this.unacked + this.batcher.pendingBytes < WINDOW_BYTES) for (const done of this.held.splice(0)) done();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Writes the window held back complete now, as a real socket's do when it is destroyed: ws calls
    // its send()s back from them, and an ASGI app awaiting one would wait for ever once the client
    // left (the credit for them never comes).
    for (const done of this.held.splice(0)) done();
    const chunk = this.batcher.take();
    this.post({ t: 'raw', id: this.id, chunk, end: true }, transferOf(chunk));
    this.onClosed();
  }
}

/** An upgraded connection, tunnelled to the thread's own HTTP implementation (`accept` a socket). */
export class Tunnel {
  private readonly socket: ExchangeSocket;
  private readonly sink: TunnelSink;

  constructor(id: number, head: RequestHead, peer: Peer, accept: (socket: ExchangeSocket) => void, post: Post) {
    const socket = (this.socket = new ExchangeSocket(peer, (bytes) => post({ t: 'credit', id, bytes })));
    // Once this side has ended, no byte or FIN of the client's will follow: the socket's readable
    // side ends too, so it closes, and ws emits 'close' at once instead of after its 30 s timeout.
    this.sink = socket.sink = new TunnelSink(id, post, () => {
      if (!socket.destroyed) socket.push(null);
    });
    // Answered like a plain request (no upgrade handler): the connection ends with that answer.
    socket.onResponse = () => {
      this.sink.close();
      setImmediate(() => socket.destroy());
    };
    accept(socket);
    socket.feed(serializeHead(head).bytes, 0);
  }

  /** The client's bytes; `end`: its FIN, which ends the socket's readable side (it is half-open). */
  receive(chunk: Uint8Array | undefined, end: boolean): void {
    if (chunk) this.socket.feed(chunk);
    if (end && !this.socket.destroyed) this.socket.push(null);
  }

  abort(): void {
    this.socket.destroy();
  }

  credit(bytes: number): void {
    this.sink.credit(bytes);
  }
}
