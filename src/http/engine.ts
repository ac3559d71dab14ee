import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { answerAppFailure, type FailableResponse } from './app-failure.js';
import type { HttpLimits } from './limits.js';
import { type FinishedExchange, type ProtocolServer, rememberPeer, whenListened } from './protocol-server.js';
import { Rejection, refuseAndClose } from './reject.js';
import { checkBodyLength, checkFinalStatus, checkResponseField, checkResponseHead } from './response-framing.js';
import { type SharedReads, readShared } from './shared-reads.js';
import { type HeadInfo, HeadVerdict, StrictParser, listHas } from './strict-parser.js';
import { absoluteTarget, connectNotServed, replaceHost } from './validate.js';
import {
  ConnectionTimer,
  SendWatch,
  bodyTimedOut,
  headerTimedOut,
  truncatedByClient,
  type TimerKind,
} from './timeouts.js';
import { httpDateLine, statusHasNoBody, statusLine } from './status.js';

/**
 * gserve's own HTTP/1.1 engine on its own parser (strict-parser.ts), for the gateway interfaces (fetch, wsgi, asgi).
 * It owns framing, keep-alive and the order of pipelined responses: one request per connection is
 * handed to the app at a time, so responses leave in the order the requests came.
 */

export interface EngineOptions {
  /** Idle time between requests on a keep-alive connection, in ms. */
  keepAliveTimeout: number;
  /** Request limits and the header and body timeouts (limits.ts). */
  limits: HttpLimits;
  scheme: 'http' | 'https';
  /** Whether an access log is written (default: true): then each connection notes its peer at once (rememberPeer). */
  accessLog?: boolean;
}

export type EngineHandler = (req: EngineRequest, res: EngineResponse) => void | Promise<void>;

export class RequestBody extends Readable {
  constructor(private readonly conn: Connection) {
    super();
  }
  override _read(): void {
    this.conn.resumeReading();
  }
}

export class EngineRequest {
  /** Created when first asked for (or when body bytes arrive): most requests have no body. */
  private bodyStream: RequestBody | null = null;
  /** Whether the whole body has arrived. */
  complete = false;
  /**
   * The trailer fields after a chunked body, names and values alternating like rawHeaders; known
   * once the body is complete. The gateway interfaces have no notion of them; a node app in an app
   * thread gets them as `req.trailers` (thread-replay.ts).
   */
  rawTrailers: string[] = NO_FIELDS;
  /** The response went out before the body was read, and no one asked for it: drop it. */
  private discarding = false;
  /** Whether the head announced a body (set by the engine from the parser's framing). */
  private announced: boolean | undefined;
  readonly startedAt = performance.now();
  // --- upgrade and disconnect (issue 5) ---
  /** An `Upgrade` request (WebSocket): the parser stopped after its head; see takeSocket(). */
  upgrade = false;
  /** Bytes the client sent after the upgrade request's head. */
  upgradeHead: Buffer = EMPTY;
  /** The client went away before the response was finished. */
  aborted = false;
  private abortListeners: Array<() => void> | null = null;
  private readonly conn: Connection;
  // --- end upgrade and disconnect ---
  /**
   * The request target as the client sent it, where `url` is not it: an absolute-form target,
   * whose authority became Host and whose path and query became `url` (RFC 9112 §3.2.2). WSGI's
   * RAW_URI is the target as sent (as Gunicorn's is); an origin-form request leaves this unset.
   */
  rawTarget: string | undefined = undefined;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly httpVersion: string,
    /** Raw header names and values, alternating, unchanged. */
    readonly rawHeaders: string[],
    readonly keepAlive: boolean,
    readonly socket: Socket,
    readonly scheme: 'http' | 'https',
    conn: Connection,
  ) {
    this.conn = conn;
  }

  /** The body, a stream; ends at once for a request without one. */
  get body(): RequestBody {
    if (this.bodyStream === null) {
      this.bodyStream = new RequestBody(this.conn);
      if (this.complete) this.bodyStream.push(null);
    }
    return this.bodyStream;
  }

  /**
   * Body bytes from the parser; false when the app's buffer is full. `transient`: `chunk` is a view
   * of a read that will be overwritten (shared-reads.ts), so what is kept is a copy.
   */
  pushBody(chunk: Buffer, transient = false): boolean {
    if (this.discarding) return true;
    const body = this.body;
    // The app cancelled its body (a fetch app's request.body): what still comes is dropped. A push
    // refused by a destroyed stream would stop reading for good, and the next request with it.
    if (body.destroyed) return true;
    return body.push(transient ? Buffer.from(chunk) : chunk);
  }

  /**
   * The response is done: whatever of the body the app did not read is dropped as it arrives, and
   * reading goes on, or the connection's next request would never be read. The body stream ends
   * here: a reader of it (a fetch app's request.body wrapper, which pauses it whenever its own
   * queue is full) would otherwise hold reading paused; an ASGI app's receive() now says
   * http.disconnect, as the spec has it once the response is sent.
   */
  discardBody(): void {
    if (this.complete) return;
    this.discarding = true;
    this.bodyStream?.destroy();
    this.conn.resumeReading();
  }

  /** The body was refused or cut under the app (its stream errored); false, without making one, when never asked for. */
  get bodyFailed(): boolean {
    return this.bodyStream !== null && this.bodyStream.errored !== null;
  }

  /** Called by the connection when the whole body has arrived, with its trailers. */
  bodyComplete(trailers: string[] = NO_FIELDS): void {
    this.rawTrailers = trailers;
    this.complete = true;
    this.bodyStream?.push(null);
  }

  /** Called by the connection with what the parser knows of the framing. */
  announceBody(announced: boolean): void {
    this.announced = announced;
  }

  /** Runs `listener` once if the client disconnects before the response is finished. */
  onAbort(listener: () => void): void {
    if (this.aborted) listener();
    else (this.abortListeners ??= []).push(listener);
  }

  /** Called by the connection when its socket closes with this request unanswered. */
  markAborted(): void {
    if (this.aborted) return;
    this.aborted = true;
    for (const listener of this.abortListeners?.splice(0) ?? []) listener();
  }

  /**
   * Takes the socket of an upgrade request away from the HTTP engine (for `ws`'s handleUpgrade):
   * no response will be written, and the connection counts until the socket closes.
   */
  takeSocket(): { socket: Socket; head: Buffer } {
    if (!this.upgrade) throw new Error('takeSocket() is only for Upgrade requests');
    this.conn.detach();
    return { socket: this.socket, head: this.upgradeHead };
  }

  /** The first value of a header, by lower-case name. */
  header(name: string): string | undefined {
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2)
      if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) return raw[i + 1];
    return undefined;
  }

  /** Whether the request announced a body (Content-Length > 0 or Transfer-Encoding). */
  get hasBody(): boolean {
    if (this.announced !== undefined) return this.announced;
    const length = this.header('content-length');
    return (length !== undefined && length !== '0') || this.header('transfer-encoding') !== undefined;
  }
}

export type HeaderList = Array<[string, string]>;

const EMPTY = Buffer.alloc(0);
const NO_FIELDS: string[] = [];
/** Bodies up to this size leave with the head, in one write(2). */
const SINGLE_WRITE_MAX = 16 * 1024;
/**
 * A byte body up to this size joins the head as latin1 text rather than both being copied into a
 * new buffer, as an ASCII string body does: node writes a short string from native memory, where
 * a buffer per response costs the buffer pool and the collector (bench/cpu-per-request.js, one
 * worker: a fetch hello 6% less CPU per request, an asgi hello 1%; a 1 KB body no worse).
 */
const BYTES_AS_TEXT_MAX = 1024;
/** The bytes as latin1 text, one char per byte: they go out unchanged when written as latin1. */
const latin1Text = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

export class EngineResponse implements FinishedExchange, FailableResponse {
  statusCode = 200;
  /** Body bytes written, for the access log. */
  bodyBytes = 0;
  headersSent = false;
  finished = false;
  private head: { status: number; headers: HeaderList; reason?: string } | null = null;
  private chunked = false;
  private readonly noBody: boolean;
  private closeAfter: boolean;
  /** The body length the app's Content-Length declares (response-framing.ts holds it to it). */
  private declared: number | null = null;
  /** Fields to send after the last chunk (addTrailers). */
  private trailers: HeaderList | null = null;

  constructor(
    private readonly conn: Connection,
    readonly req: EngineRequest,
  ) {
    this.noBody = req.method === 'HEAD';
    // After an upgrade request the parser has stopped, so a plain answer ends the connection.
    this.closeAfter = !req.keepAlive || conn.draining || req.upgrade;
  }

  /**
   * Records the status and headers; they leave with the first body bytes, or at end(). `reason`: the
   * app's own reason phrase (a WSGI status line), checked by the caller; the standard one otherwise.
   */
  writeHead(status: number, headers: HeaderList = [], reason?: string): this {
    if (this.head || this.headersSent) throw new Error('writeHead called twice');
    this.statusCode = status;
    this.head = { status, headers, reason };
    return this;
  }

  /** Whether body bytes go out at all: not for HEAD, nor after a status that has no body. */
  private get bodyAllowed(): boolean {
    return !this.noBody && !statusHasNoBody(this.statusCode);
  }

  /**
   * The head as it will go out, its fields checked on the way (response-framing.ts: it throws, and
   * then nothing was sent); `declared` is set from the app's Content-Length.
   */
  private serializeHead(bodyLength: number | null): string {
    const { status, headers, reason } = this.head ?? { status: 200, headers: [] };
    checkFinalStatus(status);
    let out = reason ? `HTTP/1.1 ${status} ${reason}\r\n` : statusLine(status);
    let declared: number | null = null;
    let hasDate = false;
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      declared = checkResponseField(name, lower, value, declared);
      if (lower === 'transfer-encoding' || lower === 'connection' || lower === 'keep-alive') {
        // Framing is ours, but an app's Connection: close is honoured, as node:http and Gunicorn do.
        if (lower === 'connection' && listHas(value, 'close')) this.closeAfter = true;
        continue;
      }
      if (lower === 'date') hasDate = true;
      out += `${name}: ${value}\r\n`;
    }
    // A length the body cannot have (HEAD, 204, 304) is the app's to state, and is not held to.
    this.declared = this.bodyAllowed ? declared : null;
    if (!hasDate) out += httpDateLine();
    // HEAD of a body of unknown length gets no framing, as from node:http: a chunked one would end
    // with a last chunk that a HEAD answer must not carry, bytes the client reads as the next answer.
    if (!statusHasNoBody(status) && declared === null && (bodyLength !== null || !this.noBody)) {
      if (bodyLength !== null) out += `content-length: ${bodyLength}\r\n`;
      else if (this.req.httpVersion === '1.1') {
        this.chunked = true;
        out += 'transfer-encoding: chunked\r\n';
      } else this.closeAfter = true; // HTTP/1.0 without a length: the close ends the body
    }
    // A graceful stop that began while the app was working still gets its Connection: close.
    if (this.conn.draining) this.closeAfter = true;
    if (this.closeAfter) out += 'connection: close\r\n';
    else {
      if (this.req.httpVersion === '1.0') out += 'connection: keep-alive\r\n';
      // As node:http does: clients that honour the hint (Node's Agent among them) stop reusing an
      // idle connection before we close it, instead of racing a request against our close.
      out += this.conn.engine.keepAliveLine;
    }
    return out + '\r\n';
  }

  /**
   * A 1xx answer before the response (103 Early Hints), written at once. Not to an HTTP/1.0 client,
   * which knows none (RFC 9110 §15.2), nor once the response has begun.
   */
  writeInterim(status: number, headers: HeaderList): void {
    const socket = this.conn.socket;
    if (this.headersSent || this.finished || this.req.httpVersion === '1.0' || gone(socket)) return;
    checkResponseHead(headers);
    let out = statusLine(status);
    for (const [name, value] of headers) out += `${name}: ${value}\r\n`;
    socket.write(`${out}\r\n`, 'latin1');
  }

  /**
   * Fields to send after the body, as node's `res.addTrailers()` does: only a chunked body can
   * carry them (without one, as from node:http, they are dropped). Checked like header fields, so a
   * line break in one cannot write a response of its own.
   */
  addTrailers(trailers: HeaderList): void {
    checkResponseHead(trailers);
    this.trailers = this.trailers ? [...this.trailers, ...trailers] : trailers;
  }

  /** The last chunk of a chunked body, with the trailers after it. */
  private lastChunk(): string {
    let out = '0\r\n';
    for (const [name, value] of this.trailers ?? []) out += `${name}: ${value}\r\n`;
    return out + '\r\n';
  }

  /** Sends a body chunk; returns false when the socket's buffer is full (wait for drained()). */
  write(chunk: Uint8Array | string): boolean {
    if (this.finished) throw new Error('write after end');
    if (this.conn.closing) return false; // the connection already answered (a refusal) and is closing
    const socket = this.conn.socket;
    if (gone(socket)) return false;
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    const head = this.headersSent ? null : this.serializeHead(null);
    const counts = size > 0 && this.bodyAllowed;
    if (counts && this.declared !== null) checkBodyLength(this.declared, this.bodyBytes, size, false);
    if (head !== null) {
      this.headersSent = true;
      socket.write(head, 'latin1');
    }
    if (!counts) return !socket.writableNeedDrain;
    this.bodyBytes += size;
    if (!this.chunked) return socket.write(chunk);
    // One packet per chunk: corked, the size line, the data and the CRLF leave in one writev.
    socket.cork();
    socket.write(size.toString(16) + '\r\n', 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  /** Resolves when the socket can take more, or when it has closed. */
  drained(): Promise<void> {
    const socket = this.conn.socket;
    if (gone(socket)) return new Promise((resolve) => setImmediate(resolve));
    if (!socket.writableNeedDrain) return Promise.resolve();
    this.conn.sendWatch.start();
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  end(chunk?: Uint8Array | string): void {
    if (this.finished) return;
    const socket = this.conn.socket;
    if (this.conn.closing) {
      this.finished = true;
      this.conn.responseDone(true, this);
      return;
    }
    // Trailers need a chunked body: the head goes first as one of unknown length, as node:http
    // frames an answer that has them (whose length it knew) too.
    if (this.trailers !== null && !this.headersSent) this.write(EMPTY);
    const size = chunk === undefined ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    const head = this.headersSent ? null : this.serializeHead(size);
    // Short of its length, the response cannot end: the app's failure then cuts the connection.
    if (this.declared !== null) checkBodyLength(this.declared, this.bodyBytes, size, true);
    if (head !== null) {
      this.headersSent = true;
      if (size && this.bodyAllowed) {
        this.bodyBytes = size;
        if (typeof chunk === 'string' && size === chunk.length && size <= SINGLE_WRITE_MAX) {
          // An ASCII body (its UTF-8 length is its length) joins the head as one latin1 string:
          // node writes a short string from native memory, with no buffer made here.
          socket.write(head + chunk, 'latin1');
        } else if (typeof chunk !== 'string' && size <= BYTES_AS_TEXT_MAX) {
          socket.write(head + latin1Text(chunk!), 'latin1');
        } else if (size <= SINGLE_WRITE_MAX) {
          // Head and a small body in one buffer, one write(2): a corked pair costs a writev per response.
          const out = Buffer.allocUnsafe(head.length + size);
          out.write(head, 0, 'latin1');
          if (typeof chunk === 'string') out.write(chunk, head.length, 'utf8');
          else out.set(chunk!, head.length);
          socket.write(out);
        } else {
          socket.cork();
          socket.write(head, 'latin1');
          socket.write(chunk!);
          socket.uncork();
        }
      } else socket.write(head, 'latin1');
    } else {
      if (chunk !== undefined) this.write(chunk);
      if (this.chunked) socket.write(this.trailers === null ? '0\r\n\r\n' : this.lastChunk(), 'latin1');
    }
    this.finished = true;
    this.conn.responseDone(this.closeAfter, this);
  }

  /** app-failure.ts: the app failed before anything went out; its head, if it set one, gives way. */
  failWith(status: number, contentType: string, body: string): void {
    if (this.headersSent || this.finished) return;
    this.head = null;
    this.closeAfter = true;
    this.writeHead(status, [['content-type', contentType]]).end(body);
  }

  /** app-failure.ts: the response has begun and cannot be finished honestly. */
  abort(): void {
    this.conn.socket.destroy();
  }

  /** Whether the connection will close after this response. */
  get willClose(): boolean {
    return this.closeAfter;
  }

  // ---- FinishedExchange: what the access log and metrics read ----
  get method(): string {
    return this.req.method;
  }
  get url(): string {
    return this.req.url;
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
  get status(): number {
    return this.statusCode;
  }
  get startedAt(): number {
    return this.req.startedAt;
  }
  get socket(): Socket {
    return this.req.socket;
  }
  requestHeader(name: string): string | undefined {
    return this.req.header(name);
  }
  responseHeader(name: string): string | undefined {
    for (const [key, value] of this.head?.headers ?? [])
      if (key.length === name.length && key.toLowerCase() === name) return value;
    return undefined;
  }
}

/**
 * The client is gone: a write failed (EPIPE), or the socket is destroyed. A failed write marks the
 * socket errored at once, but destroys it on the next tick: a writer that loops on writes that all
 * "succeed" (an ASGI app's sends, a stream's pump) would never let that tick, nor the 'close' that
 * tells the app, come. So write() says false and drained() waits a turn of the event loop.
 */
const gone = (socket: Socket): boolean => socket.destroyed || socket.errored !== null;

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
/** Pipelined requests parsed ahead of their answers; past this, reading waits, so memory stays bounded. */
const MAX_PIPELINED = 64;
/** How often a connection whose reading is paused is asked whether its client reset it (probePaused). */
const PAUSED_PROBE_MS = 1000;
class Connection {
  private readonly parser: StrictParser;
  /** Requests parsed but not yet answered; the first is the one the app is handling. */
  private readonly queue: EngineRequest[] = [];
  /** The request whose body is being read. */
  private parsing: EngineRequest | null = null;
  /** The response to queue[0], once dispatched. */
  private current: EngineResponse | null = null;
  /** The socket is read into the worker's shared buffer (shared-reads.ts); null: its 'data' events. */
  private readonly sharedReads: SharedReads | null;
  /** The bytes being parsed are a view of the shared buffer: what is kept of them must be copied. */
  private parsingView = false;
  private readonly timer = new ConnectionTimer(
    (kind) => this.onTimer(kind),
    () => performance.now(),
  );
  private paused = false;
  /** The next probePaused(), while one is due. */
  private probe: NodeJS.Timeout | null = null;
  private closed = false;
  /** An upgrade request whose head was just parsed; dispatched once its trailing bytes are known. */
  private upgrading: EngineRequest | null = null;
  /** An upgrade request's head is parsed and its socket not yet taken: see stopForUpgrade(). */
  private awaitingUpgrade = false;
  /** Handed over to a WebSocket: no HTTP timers, and a graceful stop is the WebSocket hub's to do (1001). */
  private detached = false;
  /** A refusal waiting for the requests before it to be answered. */
  private pending: Rejection | null = null;
  /** Parsing stopped (a refusal): later bytes are read and dropped. */
  private stopped = false;
  /** --send-timeout: a client that takes no byte of what waits for it is cut. */
  readonly sendWatch: SendWatch;
  /** The next request waits for the socket's buffer to drain (responseDone). */
  private waitingForDrain = false;
  /** gserve wrote the connection's last bytes itself (a refusal): the app's writes are dropped. */
  closing = false;
  draining = false;

  constructor(
    readonly socket: Socket,
    readonly engine: HttpEngine,
  ) {
    this.parser = new StrictParser(engine.options.limits, {
      onHead: (info) => this.onHead(info),
      onBody: (chunk) => this.onBody(chunk),
      onComplete: (trailers) => this.onComplete(trailers),
    });
    socket.setNoDelay(true);
    if (engine.options.accessLog !== false) rememberPeer(socket);
    this.sharedReads = readShared(socket, (view) => {
      this.parsingView = true;
      try {
        this.onData(view);
      } finally {
        this.parsingView = false;
      }
    });
    if (!this.sharedReads) socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
    this.draining = engine.draining;
    this.sendWatch = new SendWatch(socket, engine.options.limits.sendTimeout, () => socket.destroy());
    // A new connection has the header timeout to send its first request.
    this.timer.arm('header', engine.options.limits.headerTimeout);
  }

  private get limits(): HttpLimits {
    return this.engine.options.limits;
  }

  private onData(data: Buffer): void {
    if (this.stopped) return;
    const wasIdle = this.timer.kind === 'idle';
    const heads = this.parser.heads;
    if (wasIdle) this.timer.clear();
    const result = this.parser.execute(data);
    if (result instanceof Rejection) return this.reject(result);
    if (this.upgrading) return this.stopForUpgrade(data.subarray(result));
    if (this.queue.length >= MAX_PIPELINED) this.pauseReading();
    const phase = this.parser.phase;
    // The first bytes of a head start its clock; later bytes do not reset it (slowloris).
    if (phase === 'head' && this.timer.kind !== 'header') this.timer.arm('header', this.limits.headerTimeout);
    // A synchronous app (WSGI, a fetch handler returning its Response) answered inside this chunk's
    // parsing, where responseDone() found the parser still in the message: the idle time starts here.
    else if (phase === 'idle' && this.queue.length === 0 && this.timer.kind === null && !this.stopped) {
      // Empty lines between requests (RFC 9112 §2.2 lets a client send some) are no request: the idle
      // time runs on from the last answer, or two bytes a second would hold a connection for ever.
      if (!(wasIdle && this.parser.heads === heads && this.timer.restore('idle'))) this.armIdle();
    }
  }

  /** The rest of the stream is not HTTP any more: stop parsing, keep the bytes for the new protocol. */
  private stopForUpgrade(head: Buffer): void {
    const req = this.upgrading!;
    this.upgrading = null;
    req.upgradeHead = this.parsingView ? Buffer.from(head) : head;
    this.sharedReads?.handOver();
    this.socket.removeAllListeners('data');
    // Until the app takes the socket (or answers), its bytes are kept for the new protocol, and it is
    // read on: a paused socket hears no FIN nor reset, and an ASGI app that awaits receive() before
    // its accept was never told of a client that left. A client must wait for the 101 before it
    // sends more (RFC 6455 §4.1): one past UPGRADE_HOLD_BYTES is not waiting, and is cut off.
    this.awaitingUpgrade = true;
    const overHold = () => req.upgradeHead.length > UPGRADE_HOLD_BYTES && this.socket.destroy();
    this.socket.on('data', (chunk: Buffer) => {
      req.upgradeHead = req.upgradeHead.length > 0 ? Buffer.concat([req.upgradeHead, chunk]) : chunk;
      overHold();
    });
    overHold();
    if (this.queue[0] === req) this.dispatch(req);
  }

  /** The socket now belongs to someone else (a WebSocket); it still counts until it closes. */
  detach(): void {
    this.detached = true;
    this.awaitingUpgrade = false;
    this.socket.removeAllListeners('data');
    this.socket.pause();
    this.current = null; // the upgrade's request is not a response to log when the socket closes
    this.timer.stop();
    this.socket.removeAllListeners('end');
    if (this.queue.length > 0) this.engine.inFlight--;
    this.queue.length = 0;
  }

  private onEnd(): void {
    // A client that leaves before its WebSocket opens: no one is left to answer.
    if (this.awaitingUpgrade) return void this.socket.destroy();
    if (this.closing || this.stopped) return; // our own answer is on its way; the close follows
    // A request cut off by the client's FIN can never complete.
    if (this.parser.phase !== 'idle') return this.reject(truncatedByClient());
    // A FIN is the client leaving, as node:http, nginx and Uvicorn take it (`printf | nc -N` gets only
    // answers given at once): Node ends our side too, and the close aborts what is still running
    // (a fetch app's request.signal, ASGI's http.disconnect).
    if (this.queue.length === 0) this.socket.destroy();
    else this.socket.once('finish', () => this.socket.destroy());
  }

  private onHead(info: HeadInfo): HeadVerdict {
    // The gateway interfaces have no tunnel to offer; a Rejection thrown here is the parser's to report.
    if (info.method === 'CONNECT') throw connectNotServed();
    const version = info.versionMinor === 1 ? '1.1' : '1.0';
    const max = this.limits.maxKeepaliveRequests;
    const keepAlive = info.shouldKeepAlive && !this.draining && !(max > 0 && this.parser.heads >= max);
    const absolute = absoluteTarget(info.url);
    const req = new EngineRequest(
      info.method,
      absolute?.path ?? info.url,
      version,
      info.headers,
      keepAlive,
      this.socket,
      this.engine.options.scheme,
      this,
    );
    if (absolute) {
      // RFC 9112 §3.2.2: the target's authority replaces Host, so the app sees one authority only.
      replaceHost(info.headers, absolute.authority);
      req.rawTarget = info.url;
    }
    req.announceBody(info.hasBody);
    if (this.timer.kind === 'header') this.timer.clear();
    if (info.hasBody) this.timer.arm('body', this.limits.requestTimeout);
    this.parsing = req;
    this.queue.push(req);
    if (info.upgrade) {
      req.upgrade = true;
      this.upgrading = req; // dispatched by onData once the bytes after the head are known
      return HeadVerdict.Upgrade;
    }
    if (this.queue.length === 1) this.dispatch(req);
    // A request answered with Connection: close is the last one read: anything pipelined after it
    // would reach the app although its answer can never be sent.
    return keepAlive ? HeadVerdict.Continue : HeadVerdict.Last;
  }

  private onBody(chunk: Buffer): void {
    const req = this.parsing;
    if (req && !req.pushBody(chunk, this.parsingView)) this.pauseReading();
  }

  private onComplete(trailers: string[]): void {
    if (this.timer.kind === 'body') this.timer.clear();
    const req = this.parsing;
    if (!req) return;
    req.bodyComplete(trailers);
    this.parsing = null;
  }

  private dispatch(req: EngineRequest): void {
    // As node:http does: the client waiting on `Expect: 100-continue` may send its body now.
    if (!req.complete && req.hasBody && req.httpVersion === '1.1' && req.header('expect') !== undefined)
      this.socket.write(CONTINUE);
    const res = new EngineResponse(this, req);
    this.current = res;
    this.engine.inFlight++;
    if (this.engine.hearsRequests) this.engine.emit('request', req, res);
    let outcome: void | Promise<void>;
    try {
      outcome = this.engine.handler(req, res);
    } catch (err) {
      this.engine.emit('handler-error', err, req, res);
      return;
    }
    if (outcome && typeof outcome.then === 'function')
      outcome.catch((err: unknown) => this.engine.emit('handler-error', err, req, res));
  }

  /** Called by EngineResponse.end(). */
  responseDone(close: boolean, res: EngineResponse): void {
    if (this.closed) return; // already counted out when the socket closed
    this.engine.inFlight--;
    this.current = null;
    const req = this.queue.shift()!;
    req.discardBody();
    this.engine.emit('response', req, res, res);
    // What is still unsent must reach a client that takes it, whatever comes next.
    if (this.socket.writableLength > 0) this.sendWatch.start();
    // Only a response that said Connection: close may end the connection. One that promised
    // keep-alive before a graceful stop began leaves it open like an idle one: its next request
    // (perhaps already on the wire) is answered with Connection: close, or the keep-alive period
    // ends it. Ending it here would reset that request.
    if (close || this.closing) {
      // Nothing after this response is read for a request; what the client still sends is drained.
      this.stopped = true;
      this.parser.stop();
      this.resumeReading();
      this.socket.end();
      return;
    }
    // A client that does not read its answers (it pipelines requests, or a slow reader) is given no
    // further one, and nothing more is read from it, until its socket's buffer drains: what waits for
    // it stays about one answer, not one per request it sent. The idle timer watches it meanwhile.
    if (this.socket.writableNeedDrain) {
      this.waitingForDrain = true;
      this.pauseReading();
      this.armIdle();
      this.socket.once('drain', this.afterDrain);
      return;
    }
    this.next();
  }

  private readonly afterDrain = (): void => {
    this.waitingForDrain = false;
    if (this.closed) return;
    this.timer.clear();
    this.next();
  };

  /** After a response: the next request in line, a refusal waiting for its turn, or the idle time. */
  private next(): void {
    if (this.paused && !this.parsing && this.queue.length < MAX_PIPELINED) this.resumeReading();
    const next = this.queue[0];
    if (next) this.dispatch(next);
    else if (this.pending) this.answerAndClose(this.pending);
    else if (this.parser.phase === 'idle') this.armIdle();
  }

  /** The keep-alive time starts; whatever is still unsent is watched from here (onTimer). */
  private armIdle(): void {
    this.timer.arm('idle', this.engine.options.keepAliveTimeout);
  }

  pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
      // Left to fire when reading resumes meanwhile, with nothing to do: a body read in windows pauses
      // at each one, and a timer per pause would cost more than the probe.
      this.probe ??= setTimeout(this.probePaused, PAUSED_PROBE_MS).unref();
    }
  }

  /**
   * A paused socket hears no FIN nor reset: a client that reset its connection while gserve held its
   * body back (its app not reading it) went unnoticed and its request was never aborted, so an app
   * waiting for the client to leave (request.signal, req 'close') waited for ever, and under
   * -k thread so did the app thread the request held. An empty write asks the kernel without
   * reading: it puts nothing on the wire, and fails once the connection is reset, which closes the
   * socket and aborts the request as a read would have. Where bytes wait to be sent, their write
   * fails already. Not seen this way: a FIN behind unread bytes (only reading them shows it, as
   * with node:http and Gunicorn), and a reset under TLS (an empty TLS write reaches no socket).
   */
  private readonly probePaused = (): void => {
    this.probe = null;
    if (!this.paused || this.closed || this.detached) return;
    if (this.socket.writable && this.socket.writableLength === 0) this.socket.write(EMPTY);
    this.probe = setTimeout(this.probePaused, PAUSED_PROBE_MS).unref();
  };

  resumeReading(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private onTimer(kind: TimerKind): void {
    if (kind === 'idle') {
      // An answer still on its way to a slow reader is not idleness: destroying the socket would cut
      // it short. The connection waits while the reader takes bytes (the send watch, started when
      // the answer ended, cuts one that takes none); the idle time then runs from after the last byte.
      // Drained but not yet told ('drain' comes on a later tick), with requests still in line: not idle.
      if (this.socket.writableLength > 0 || this.waitingForDrain)
        return this.timer.arm('idle', this.engine.options.keepAliveTimeout);
      return void this.socket.destroy();
    }
    // While gserve itself holds the client back (the app is not reading the body), the client is not slow.
    if (this.paused)
      return this.timer.arm(kind, kind === 'header' ? this.limits.headerTimeout : this.limits.requestTimeout);
    if (kind === 'header') {
      // A connection that never sent a byte is simply closed, like an idle one would be.
      if (this.parser.phase === 'idle' && this.queue.length === 0) return void this.socket.destroy();
      if (this.parser.phase === 'head') this.reject(headerTimedOut(this.limits.headerTimeout));
    } else if (this.parser.phase === 'body') this.reject(bodyTimedOut(this.limits));
  }

  /**
   * Refuses the request being read. The requests before it are answered first, in order; the
   * connection then closes, since nothing after a framing error can be trusted.
   */
  private reject(r: Rejection): void {
    this.stopped = true;
    this.timer.stop();
    this.resumeReading(); // keep draining what the client sends, so closing does not reset the connection
    this.engine.emit('rejected', r, this.socket);
    const req = this.parsing;
    if (req && !req.complete) {
      // The head was fine and the request is queued, or already with the app; its body is not.
      this.parsing = null;
      req.body.on('error', () => {}); // the app may not be reading the body; the refusal is logged already
      req.body.destroy(r);
      if (req !== this.queue[0]) this.queue.splice(this.queue.indexOf(req), 1);
      else if (this.current?.headersSent) return void this.socket.destroy();
      else return this.answerAndClose(r);
    }
    if (this.queue.length === 0) this.answerAndClose(r);
    else this.pending = r;
  }

  private answerAndClose(r: Rejection): void {
    this.closing = true;
    this.timer.stop();
    refuseAndClose(this.socket, r);
  }

  /** A graceful stop began: no new requests after the one in hand; idle connections close. */
  drain(): void {
    this.draining = true;
    if (this.queue.length === 0 && !this.detached && this.parser.phase === 'idle') this.armIdle();
  }

  closeIfIdle(): void {
    if (this.queue.length === 0 && !this.detached) this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    this.timer.stop();
    if (this.probe) clearTimeout(this.probe);
    this.sendWatch.stop();
    for (const req of this.queue) {
      if (!req.complete) req.body.destroy();
      req.markAborted();
    }
    // The response the app was giving when the client left is over too: it is logged and counted,
    // as node:http's are, with what it had sent.
    const cut = this.current;
    this.current = null;
    if (cut) this.engine.emit('response', cut.req, cut, cut);
    // Only a dispatched request was counted in: one pipelined behind a closing answer (or behind
    // one waiting for the client to drain) never reached the app.
    if (cut) this.engine.inFlight -= 1;
    this.queue.length = 0;
    this.engine.connections.delete(this);
    this.engine.emit('connection-closed');
  }
}

/** The most bytes kept from a client after its upgrade request's head, before its socket is taken. */
const UPGRADE_HOLD_BYTES = 64 * 1024;

export class HttpEngine extends EventEmitter implements ProtocolServer {
  readonly connections = new Set<Connection>();
  inFlight = 0;
  draining = false;
  /** The Keep-Alive line of a keep-alive head, CRLF included (whole seconds): made once, not per response. */
  readonly keepAliveLine: string;
  /** Whether anything listens for 'request' (whenListened). */
  hearsRequests = false;

  constructor(
    readonly handler: EngineHandler,
    readonly options: EngineOptions,
  ) {
    super();
    this.keepAliveLine = `keep-alive: timeout=${Math.floor(options.keepAliveTimeout / 1000)}\r\n`;
    whenListened(this, 'request', () => (this.hearsRequests = true));
    this.on('handler-error', (_err: unknown, _req: EngineRequest, res: EngineResponse) => answerAppFailure(res));
  }

  accept(socket: Socket): void {
    this.connections.add(new Connection(socket, this));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The engine's WebSockets are gserve's own (closed with 1001 at a drain): none is the app's. */
  readonly appOwnedCount = 0;

  drain(): void {
    this.draining = true;
    for (const conn of this.connections) conn.drain();
    this.emit('draining'); // WebSocket hub: close open sockets with 1001
  }

  closeIdleConnections(): void {
    for (const conn of this.connections) conn.closeIfIdle();
  }
}
