import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { HTTPParser } from 'http-parser-js';
import type { ProtocolServer } from './protocol.js';
import { httpDate, reasonPhrase, statusHasNoBody } from './status.js';

/**
 * gserve's own HTTP/1.1 engine on http-parser-js, for the gateway interfaces (fetch, wsgi, asgi).
 * It owns framing, keep-alive and the order of pipelined responses: one request per connection is
 * handed to the app at a time, so responses leave in the order the requests came.
 */

export interface EngineOptions {
  /** Idle time between requests on a keep-alive connection, in ms. */
  keepAliveTimeout: number;
  /** Time for a new connection to send its first request head, in ms. */
  headerTimeout: number;
  scheme: 'http' | 'https';
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
  readonly body: RequestBody;
  /** Whether the whole body has arrived. */
  complete = false;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly httpVersion: string,
    /** Raw header names and values, alternating, as received. */
    readonly rawHeaders: string[],
    readonly keepAlive: boolean,
    readonly socket: Socket,
    readonly scheme: 'http' | 'https',
    conn: Connection,
  ) {
    this.body = new RequestBody(conn);
  }

  /** The first value of a header, by lower-case name. */
  header(name: string): string | undefined {
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) return raw[i + 1];
    return undefined;
  }

  /** Whether the request announced a body (Content-Length > 0 or Transfer-Encoding). */
  get hasBody(): boolean {
    const length = this.header('content-length');
    return (length !== undefined && length !== '0') || this.header('transfer-encoding') !== undefined;
  }
}

export type HeaderList = Array<[string, string]>;

export class EngineResponse {
  statusCode = 200;
  headersSent = false;
  finished = false;
  private head: { status: number; headers: HeaderList } | null = null;
  private chunked = false;
  private readonly noBody: boolean;
  private closeAfter: boolean;

  constructor(
    private readonly conn: Connection,
    readonly req: EngineRequest,
  ) {
    this.noBody = req.method === 'HEAD';
    this.closeAfter = !req.keepAlive || conn.draining;
  }

  /** Records the status and headers; they leave with the first body bytes, or at end(). */
  writeHead(status: number, headers: HeaderList = []): this {
    if (this.head || this.headersSent) throw new Error('writeHead called twice');
    this.statusCode = status;
    this.head = { status, headers };
    return this;
  }

  private serializeHead(bodyLength: number | null): string {
    const { status, headers } = this.head ?? { status: 200, headers: [] };
    let out = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
    let hasLength = false;
    let hasDate = false;
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') hasLength = true;
      else if (lower === 'transfer-encoding' || lower === 'connection' || lower === 'keep-alive') continue; // framing is ours
      else if (lower === 'date') hasDate = true;
      out += `${name}: ${value}\r\n`;
    }
    if (!hasDate) out += `date: ${httpDate()}\r\n`;
    if (!statusHasNoBody(status) && !hasLength) {
      if (bodyLength !== null) out += `content-length: ${bodyLength}\r\n`;
      else if (this.req.httpVersion === '1.1') {
        this.chunked = true;
        out += 'transfer-encoding: chunked\r\n';
      } else this.closeAfter = true; // HTTP/1.0 without a length: the close ends the body
    }
    if (this.closeAfter) out += 'connection: close\r\n';
    else if (this.req.httpVersion === '1.0') out += 'connection: keep-alive\r\n';
    return out + '\r\n';
  }

  /** Sends a body chunk; returns false when the socket's buffer is full (wait for drained()). */
  write(chunk: Uint8Array | string): boolean {
    if (this.finished) throw new Error('write after end');
    const socket = this.conn.socket;
    if (!this.headersSent) {
      this.headersSent = true;
      socket.write(this.serializeHead(null), 'latin1');
    }
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (size === 0 || this.noBody || statusHasNoBody(this.statusCode)) return !socket.writableNeedDrain;
    if (!this.chunked) return socket.write(chunk);
    socket.write(size.toString(16) + '\r\n', 'latin1');
    socket.write(chunk);
    return socket.write('\r\n', 'latin1');
  }

  /** Resolves when the socket can take more, or when it has closed. */
  drained(): Promise<void> {
    const socket = this.conn.socket;
    if (!socket.writableNeedDrain || socket.destroyed) return Promise.resolve();
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
    if (!this.headersSent) {
      this.headersSent = true;
      const size = chunk === undefined ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      const head = this.serializeHead(size);
      if (size && !this.noBody && !statusHasNoBody(this.statusCode)) {
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(chunk!);
        socket.uncork();
      } else socket.write(head, 'latin1');
    } else {
      if (chunk !== undefined) this.write(chunk);
      if (this.chunked) socket.write('0\r\n\r\n', 'latin1');
    }
    this.finished = true;
    this.conn.responseDone(this.closeAfter);
  }

  /** Whether the connection will close after this response. */
  get willClose(): boolean {
    return this.closeAfter;
  }
}

class Connection {
  private readonly parser = new HTTPParser(HTTPParser.REQUEST);
  /** Requests parsed but not yet answered; the first is the one the app is handling. */
  private readonly queue: EngineRequest[] = [];
  private parsing: EngineRequest | null = null;
  private timer: NodeJS.Timeout | null = null;
  private served = 0;
  private paused = false;
  private closed = false;
  draining = false;

  constructor(
    readonly socket: Socket,
    private readonly engine: HttpEngine,
  ) {
    this.parser[HTTPParser.kOnHeadersComplete] = (info: HeadersInfo) => this.onHead(info);
    this.parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => this.onBody(chunk.subarray(offset, offset + length));
    this.parser[HTTPParser.kOnMessageComplete] = () => this.onComplete();
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
    this.draining = engine.draining;
    this.armIdleTimer();
  }

  private onData(data: Buffer): void {
    this.clearTimer();
    const result = this.parser.execute(data);
    if (result instanceof Error) this.fail(400, 'Bad Request');
  }

  private onEnd(): void {
    // The client half-closed: answer what it sent, then close.
    if (this.queue.length === 0) this.socket.destroy();
    else this.socket.once('finish', () => this.socket.destroy());
  }

  private onHead(info: HeadersInfo): number {
    const method = HTTPParser.methods[info.method] as string;
    const version = `${info.versionMajor}.${info.versionMinor}`;
    const keepAlive = info.shouldKeepAlive && !this.draining;
    const req = new EngineRequest(method, info.url, version, info.headers, keepAlive, this.socket, this.engine.options.scheme, this);
    this.parsing = req;
    this.queue.push(req);
    if (this.queue.length === 1) this.dispatch(req);
    return 0;
  }

  private onBody(chunk: Buffer): void {
    const req = this.parsing;
    if (req && !req.body.push(Buffer.from(chunk))) this.pauseReading();
  }

  private onComplete(): void {
    const req = this.parsing;
    if (!req) return;
    req.complete = true;
    req.body.push(null);
    this.parsing = null;
  }

  private dispatch(req: EngineRequest): void {
    this.clearTimer();
    const res = new EngineResponse(this, req);
    this.engine.inFlight++;
    this.engine.emit('request', req, res);
    let outcome: void | Promise<void>;
    try {
      outcome = this.engine.handler(req, res);
    } catch (err) {
      this.engine.emit('handler-error', err, req, res);
      return;
    }
    if (outcome && typeof outcome.then === 'function') outcome.catch((err: unknown) => this.engine.emit('handler-error', err, req, res));
  }

  /** Called by EngineResponse.end(). */
  responseDone(close: boolean): void {
    if (this.closed) return; // already counted out when the socket closed
    this.engine.inFlight--;
    this.served++;
    const req = this.queue.shift()!;
    if (!req.complete) req.body.resume(); // discard what the app did not read
    this.engine.emit('response', req);
    if (close || this.draining) {
      this.socket.end();
      return;
    }
    const next = this.queue[0];
    if (next) this.dispatch(next);
    else this.armIdleTimer();
  }

  pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resumeReading(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private armIdleTimer(): void {
    this.clearTimer();
    const ms = this.served > 0 || this.draining ? this.engine.options.keepAliveTimeout : this.engine.options.headerTimeout;
    this.timer = setTimeout(() => this.socket.destroy(), ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A request the parser could not read: answer it, then close, since the framing is lost. */
  private fail(status: number, text: string): void {
    this.socket.removeAllListeners('data');
    if (this.queue.length > 0) {
      this.socket.destroy();
      return;
    }
    const body = `${text}\n`;
    this.socket.end(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  }

  /** A graceful stop began: no new requests after the one in hand; idle connections close. */
  drain(): void {
    this.draining = true;
    if (this.queue.length === 0) this.armIdleTimer();
  }

  closeIfIdle(): void {
    if (this.queue.length === 0) this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    this.clearTimer();
    for (const req of this.queue) {
      if (!req.complete) req.body.destroy();
    }
    if (this.queue.length > 0) this.engine.inFlight -= 1;
    this.queue.length = 0;
    this.engine.connections.delete(this);
    this.engine.emit('connection-closed');
  }
}

interface HeadersInfo {
  versionMajor: number;
  versionMinor: number;
  headers: string[];
  method: number;
  url: string;
  upgrade: boolean;
  shouldKeepAlive: boolean;
}

export class HttpEngine extends EventEmitter implements ProtocolServer {
  readonly connections = new Set<Connection>();
  inFlight = 0;
  draining = false;

  constructor(
    readonly handler: EngineHandler,
    readonly options: EngineOptions,
  ) {
    super();
    this.on('handler-error', (_err: unknown, _req: EngineRequest, res: EngineResponse) => {
      if (!res.headersSent) res.writeHead(500, [['content-type', 'text/plain']]).end('Internal Server Error\n');
      else res.req.socket.destroy();
    });
  }

  accept(socket: Socket): void {
    this.connections.add(new Connection(socket, this));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  drain(): void {
    this.draining = true;
    for (const conn of this.connections) conn.drain();
  }

  closeIdleConnections(): void {
    for (const conn of this.connections) conn.closeIfIdle();
  }
}
