import type { Socket } from 'node:net';
import { HTTPParser } from 'http-parser-js';
import { reasonPhrase } from '../http/status.js';
import type { Exchange, ThreadPool } from './thread-pool.js';

export interface FramingOptions {
  keepAliveTimeout: number;
  headerTimeout: number;
  listener: number;
}

interface HeadInfo {
  versionMajor: number;
  versionMinor: number;
  headers: string[];
  method: number;
  url: string;
  shouldKeepAlive: boolean;
  upgrade: boolean;
}

const CRLF = '\r\n';

/** One request on its way through a thread: its response bytes wait here until it is its turn. */
class PendingExchange implements Exchange {
  readonly chunks: Uint8Array[] = [];
  done = false;
  close: boolean;
  /** Whether anything of the response reached the client. */
  wrote = false;

  constructor(
    readonly id: number,
    private readonly conn: FramedConnection,
    keepAlive: boolean,
    /** Re-chunk body bytes: the parser removed the client's chunked framing. */
    readonly chunked: boolean,
  ) {
    this.close = !keepAlive;
  }

  onData(chunk: Uint8Array): void {
    this.conn.responseData(this, chunk);
  }

  onDone(close: boolean, aborted: boolean): void {
    this.done = true;
    if (close || aborted) this.close = true;
    this.conn.responseDone(this, aborted);
  }

  onFail(): void {
    this.conn.exchangeFailed(this);
  }
}

/**
 * The main thread's side of a `thread` worker connection: it reads and frames requests itself
 * (so a blocked app thread never stalls I/O), replays each one to the pool as plain HTTP/1.1,
 * and writes the responses back in request order, keeping the connection alive between them.
 */
export class FramedConnection {
  private readonly parser = new HTTPParser(HTTPParser.REQUEST);
  /** Requests in order; the first is the one whose response is being written. */
  private readonly queue: PendingExchange[] = [];
  private parsing: PendingExchange | null = null;
  /** An upgraded connection (WebSocket): from then on, bytes pass both ways unparsed, to one thread. */
  private tunnel: PendingExchange | null = null;
  private upgrading: PendingExchange | null = null;
  private timer: NodeJS.Timeout | null = null;
  private served = 0;
  private closing = false;
  draining = false;

  constructor(
    readonly socket: Socket,
    private readonly pool: ThreadPool,
    private readonly options: FramingOptions,
    private readonly onClose: (conn: FramedConnection) => void,
  ) {
    this.parser[HTTPParser.kOnHeadersComplete] = (info: HeadInfo) => this.onHead(info);
    this.parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => this.onBody(chunk.subarray(offset, offset + length));
    this.parser[HTTPParser.kOnMessageComplete] = () => this.onComplete();
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.closed());
    this.armIdleTimer();
  }

  private onData(data: Buffer): void {
    if (this.tunnel) {
      this.pool.send(this.tunnel, { t: 'data', id: this.tunnel.id, chunk: Buffer.from(data) });
      return;
    }
    if (this.closing) return;
    this.clearTimer();
    const result = this.parser.execute(data);
    if (result instanceof Error) this.badRequest();
    else if (this.upgrading) {
      // The parser stops after an upgrade head; what follows it belongs to the new protocol.
      this.tunnel = this.upgrading;
      this.upgrading = null;
      const rest = data.subarray(result);
      if (rest.length > 0) this.pool.send(this.tunnel, { t: 'data', id: this.tunnel.id, chunk: Buffer.from(rest) });
    }
  }

  private onEnd(): void {
    // The client half-closed: answer what it sent, then close.
    this.closing = true;
    if (this.tunnel) this.pool.send(this.tunnel, { t: 'abort', id: this.tunnel.id });
    if (this.queue.length === 0) this.socket.destroy();
  }

  private onHead(info: HeadInfo): number {
    const method = HTTPParser.methods[info.method] as string;
    const keepAlive = info.shouldKeepAlive && !this.draining && !info.upgrade;
    const raw = info.headers;
    let chunked = false;
    let head = `${method} ${info.url} HTTP/${info.versionMajor}.${info.versionMinor}${CRLF}`;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (name === 'transfer-encoding') chunked = true;
      // Our decision about keep-alive is the one the thread's server must answer with.
      if (name === 'connection' && !keepAlive && !info.upgrade) continue;
      head += `${raw[i]}: ${raw[i + 1]}${CRLF}`;
    }
    if (!keepAlive && !info.upgrade) head += `connection: close${CRLF}`;
    head += CRLF;
    const exchange = new PendingExchange(this.pool.newId(), this, keepAlive, chunked);
    this.parsing = exchange;
    this.queue.push(exchange);
    if (info.upgrade) this.upgrading = exchange;
    const s = this.socket;
    this.pool.open(exchange, this.options.listener, Buffer.from(head, 'latin1'), {
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      localAddress: s.localAddress,
      localPort: s.localPort,
    });
    return 0;
  }

  private onBody(chunk: Buffer): void {
    const exchange = this.parsing;
    if (!exchange) return;
    const copy = Buffer.from(chunk);
    if (exchange.chunked) this.pool.send(exchange, { t: 'data', id: exchange.id, chunk: Buffer.from(`${copy.length.toString(16)}${CRLF}`, 'latin1') });
    this.pool.send(exchange, { t: 'data', id: exchange.id, chunk: copy });
    if (exchange.chunked) this.pool.send(exchange, { t: 'data', id: exchange.id, chunk: Buffer.from(CRLF, 'latin1') });
  }

  private onComplete(): void {
    const exchange = this.parsing;
    if (!exchange) return;
    if (exchange.chunked) this.pool.send(exchange, { t: 'data', id: exchange.id, chunk: Buffer.from(`0${CRLF}${CRLF}`, 'latin1') });
    this.parsing = null;
    // After a request that ends the connection, nothing more is read.
    if (exchange.close) this.closing = true;
  }

  responseData(exchange: PendingExchange, chunk: Uint8Array): void {
    if (this.queue[0] === exchange) {
      exchange.wrote = true;
      this.socket.write(chunk);
    } else exchange.chunks.push(chunk);
  }

  responseDone(exchange: PendingExchange, aborted: boolean): void {
    if (this.queue[0] !== exchange) return; // written when its turn comes
    if (aborted && !exchange.wrote) {
      this.exchangeFailed(exchange);
      return;
    }
    this.finishHead();
  }

  /** The head of the queue is complete: end the connection, or move on to the next response. */
  private finishHead(): void {
    for (;;) {
      const first = this.queue[0];
      if (!first?.done) break;
      this.queue.shift();
      this.served++;
      if (first.close || (this.draining && this.queue.length === 0)) {
        this.endConnection();
        return;
      }
      const next = this.queue[0];
      if (!next) break;
      for (const chunk of next.chunks.splice(0)) {
        next.wrote = true;
        this.socket.write(chunk);
      }
    }
    if (this.queue.length === 0) {
      if (this.closing) this.endConnection();
      else this.armIdleTimer();
    }
  }

  /** The thread died with this request: a 500 if nothing was sent yet, else the connection is cut. */
  exchangeFailed(exchange: PendingExchange): void {
    exchange.done = true;
    exchange.close = true;
    if (this.queue[0] !== exchange) return;
    if (exchange.wrote) {
      this.socket.destroy();
      return;
    }
    this.queue.shift();
    const body = 'Internal Server Error\n';
    this.socket.write(`HTTP/1.1 500 ${reasonPhrase(500)}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`, 'latin1');
    this.endConnection();
  }

  private endConnection(): void {
    this.closing = true;
    for (const rest of this.queue.splice(0)) this.pool.send(rest, { t: 'abort', id: rest.id });
    this.socket.end();
  }

  private badRequest(): void {
    this.closing = true;
    if (this.queue.length > 0) {
      this.socket.destroy();
      return;
    }
    const body = 'Bad Request\n';
    this.socket.end(`HTTP/1.1 400 ${reasonPhrase(400)}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  }

  private armIdleTimer(): void {
    this.clearTimer();
    const ms = this.served > 0 || this.draining ? this.options.keepAliveTimeout : this.options.headerTimeout;
    this.timer = setTimeout(() => this.socket.destroy(), ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A graceful stop began: finish the requests in hand, then close; idle connections close now. */
  drain(): void {
    this.draining = true;
    // An idle client gets one keep-alive period for a last request (answered with Connection: close).
    if (this.queue.length === 0) this.armIdleTimer();
  }

  private closed(): void {
    this.clearTimer();
    for (const rest of this.queue.splice(0)) if (!rest.done) this.pool.send(rest, { t: 'abort', id: rest.id });
    this.onClose(this);
  }
}
