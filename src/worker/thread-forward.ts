import type { Socket } from 'node:net';
import { HTTPParser } from 'http-parser-js';
import type { EngineHandler, EngineRequest, EngineResponse, HeaderList } from '../http/engine.js';
import type { Exchange, ThreadPool } from './thread-pool.js';
import type { Peer } from './thread-protocol.js';
import { isUnixPeer } from '../http/proxy.js';

const CRLF = '\r\n';
/** Framing is the main thread's engine's business; these headers of the thread's answer are dropped. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

interface ResponseHead {
  statusCode: number;
  headers: string[];
}

/**
 * One request on its way through an app thread. The thread answers in plain HTTP/1.1 bytes,
 * whatever its HTTP implementation; they are parsed back here and written through the main
 * thread's engine, which owns keep-alive, pipelining order and every limit, as for `async`.
 */
class ForwardedExchange implements Exchange {
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private complete = false;
  private settled = false;
  /** The message being parsed is an interim (1xx) answer, not the response. */
  private interim = false;

  constructor(
    readonly id: number,
    private readonly res: EngineResponse,
    private readonly onSettled: () => void,
    /** Tells the app thread that `bytes` it sent are out, so it may send more. */
    private readonly ack: (bytes: number) => void,
  ) {
    const head = res.req.method === 'HEAD';
    this.parser[HTTPParser.kOnHeadersComplete] = (info: ResponseHead) => this.onHead(info, head);
    this.parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => void this.res.write(chunk.subarray(offset, offset + length));
    this.parser[HTTPParser.kOnMessageComplete] = () => this.onComplete();
  }

  private onHead(info: ResponseHead, head: boolean): number {
    // An interim answer (100 Continue): the engine speaks for itself to the client.
    if (info.statusCode < 200 && info.statusCode !== 101) {
      this.interim = true;
      return 1;
    }
    const headers: HeaderList = [];
    for (let i = 0; i < info.headers.length; i += 2) {
      if (!HOP_BY_HOP.has(info.headers[i]!.toLowerCase())) headers.push([info.headers[i]!, info.headers[i + 1]!]);
    }
    this.res.writeHead(info.statusCode, headers);
    return head ? 1 : 0;
  }

  private onComplete(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    this.complete = true;
    this.res.end();
    this.settle();
  }

  onData(chunk: Uint8Array): void {
    if (this.complete) return;
    const result = this.parser.execute(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (result instanceof Error) {
      this.onFail();
      return;
    }
    // A client slower than the app: the ack waits until the socket has drained, which holds the app.
    void this.res.drained().then(() => this.ack(chunk.byteLength));
  }

  onDone(aborted: boolean): void {
    // A body that ends with the connection (an HTTP/1.0 answer without a length) ends here.
    if (!this.complete && !aborted) this.parser.finish();
    if (!this.complete) this.onFail();
  }

  /** The thread died with this request, or answered something unreadable. */
  onFail(): void {
    if (this.complete) return;
    this.complete = true;
    if (!this.res.headersSent) this.res.writeHead(500, [['content-type', 'text/plain']]).end('Internal Server Error\n');
    else this.res.req.socket.destroy();
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettled();
  }
}

/** The request head as the thread's HTTP implementation will read it. */
function serializeHead(req: EngineRequest): { head: Buffer; chunked: boolean } {
  let chunked = false;
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}${CRLF}`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'transfer-encoding') chunked = true;
    // 100 Continue is the main thread's engine's to send, not the app thread's.
    if (name === 'expect') continue;
    head += `${raw[i]}: ${raw[i + 1]}${CRLF}`;
  }
  return { head: Buffer.from(head + CRLF, 'latin1'), chunked };
}

const peerOf = (s: Socket): Peer => ({
  remoteAddress: s.remoteAddress,
  remotePort: s.remotePort,
  remoteFamily: s.remoteFamily,
  localAddress: s.localAddress,
  localPort: s.localPort,
  encrypted: Boolean((s as Socket & { encrypted?: boolean }).encrypted),
  unixPeer: isUnixPeer(s),
});

/**
 * An upgraded connection (WebSocket): the socket leaves the engine and becomes a byte tunnel to one
 * app thread, whose own HTTP implementation answers the upgrade and speaks the new protocol. The
 * thread is held for the connection's life, as a Gunicorn thread would be.
 */
function tunnel(pool: ThreadPool, listener: number, req: EngineRequest): void {
  const { socket, head: early } = req.takeSocket();
  const id = pool.newId();
  const send = (chunk: Uint8Array) => pool.send(exchange, { t: 'data', id, chunk });
  const ack = (bytes: number) => pool.send(exchange, { t: 'ack', id, bytes });
  const exchange: Exchange = {
    id,
    onData(chunk) {
      if (socket.write(chunk)) ack(chunk.byteLength);
      else socket.once('drain', () => ack(chunk.byteLength));
    },
    onDone: () => socket.end(),
    onFail: () => socket.destroy(),
  };
  pool.open(exchange, listener, serializeHead(req).head, peerOf(socket));
  if (early.length > 0) send(Buffer.from(early));
  socket.on('data', (data: Buffer) => send(Buffer.from(data)));
  socket.resume(); // the engine paused it when it stopped parsing
  socket.on('error', () => socket.destroy());
  socket.once('close', () => pool.send(exchange, { t: 'abort', id }));
}

/** The engine handler of a `thread` worker: every request goes to the pool, and back. */
export function forwardToThreads(pool: ThreadPool, listener: number): EngineHandler {
  return (req, res) =>
    new Promise<void>((resolve) => {
      if (req.upgrade) {
        tunnel(pool, listener, req);
        resolve();
        return;
      }
      const abort = () => pool.send(exchange, { t: 'abort', id: exchange.id });
      const exchange: ForwardedExchange = new ForwardedExchange(
        pool.newId(),
        res,
        () => {
          req.socket.off('close', abort);
          resolve();
        },
        (bytes) => pool.send(exchange, { t: 'ack', id: exchange.id, bytes }),
      );
      // The client left: the thread drops the request (and says so, freeing itself).
      req.socket.once('close', abort);
      const { head, chunked } = serializeHead(req);
      pool.open(exchange, listener, head, peerOf(req.socket));
      const send = (chunk: Uint8Array) => pool.send(exchange, { t: 'data', id: exchange.id, chunk });
      // The engine removed the client's chunked framing; the thread's parser needs it back.
      req.body.on('data', (chunk: Buffer) => {
        if (chunked) send(Buffer.from(chunk.length.toString(16) + CRLF, 'latin1'));
        send(Buffer.from(chunk));
        if (chunked) send(Buffer.from(CRLF, 'latin1'));
      });
      req.body.on('end', () => {
        if (chunked) send(Buffer.from(`0${CRLF}${CRLF}`, 'latin1'));
      });
    });
}
