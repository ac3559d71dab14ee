import type { Socket } from 'node:net';
import { answerAppFailure } from '../http/app-failure.js';
import type { EngineHandler, EngineRequest, EngineResponse } from '../http/engine.js';
import { isUnixPeer } from '../http/proxy.js';
import type { UnixPaths } from '../interfaces/scope.js';
import type { Exchange, ThreadPool } from './thread-pool.js';
import {
  Batcher,
  WINDOW_BYTES,
  transferOf,
  type FromThread,
  type HeaderList,
  type Peer,
  type RequestHead,
} from './thread-messages.js';

const EMPTY = new Uint8Array(0);

const headOf = (req: EngineRequest): RequestHead => ({
  method: req.method,
  url: req.url,
  httpVersion: req.httpVersion,
  rawHeaders: req.rawHeaders,
  rawTarget: req.rawTarget,
  keepAlive: req.keepAlive,
  upgrade: req.upgrade,
});

/** A connection's two ends, read once per connection (each getter is a system call), not per request. */
const peers = new WeakMap<Socket, Peer>();
function peerOf(s: Socket, unixPaths: UnixPaths): Peer {
  let peer = peers.get(s);
  if (peer) return peer;
  peer = {
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    remoteFamily: s.remoteFamily,
    localAddress: s.localAddress,
    localPort: s.localPort,
    encrypted: 'encrypted' in s && s.encrypted === true,
    unixPeer: isUnixPeer(s),
  };
  // A Unix listener's path is known in this thread only (the master's boot message registered it).
  if (peer.localPort === undefined) peer.unixPath = unixPaths.serverAddress(s)[0] || undefined;
  peers.set(s, peer);
  return peer;
}

/**
 * Sends one request body (or a tunnel's client bytes) to the thread, in batches, keeping at most a
 * window unacknowledged: past it the source is paused, so the engine stops reading the client and
 * TCP holds the client back. 1-byte chunks cost one message per turn of the loop, not per byte.
 */
class BodySender {
  private unacked = 0;
  private paused = false;
  /** The exchange is over: the engine drops the rest of the body, and reading must not be paused again. */
  private cleared = false;
  private readonly batcher: Batcher;

  constructor(
    private readonly send: (chunk: Uint8Array | undefined, end: boolean, trailers?: string[]) => void,
    private readonly source: { pause(): unknown; resume(): unknown },
  ) {
    this.batcher = new Batcher((chunk) => this.send(chunk, false));
  }

  add(chunk: Uint8Array): void {
    if (this.cleared) return;
    this.batcher.add(chunk);
    this.unacked += chunk.byteLength;
    if (this.unacked >= WINDOW_BYTES && !this.paused) {
      this.paused = true;
      this.source.pause();
    }
  }

  /** `trailers`: the fields after a chunked body, which go with its end (none: an empty list). */
  end(trailers?: string[]): void {
    this.send(this.batcher.take(), true, trailers?.length ? trailers : undefined);
  }

  credit(bytes: number): void {
    this.unacked -= bytes;
    if (this.paused && this.unacked < WINDOW_BYTES) {
      this.paused = false;
      this.source.resume();
    }
  }

  clear(): void {
    this.cleared = true;
    this.batcher.clear();
  }
}

/**
 * One request on its way through an app thread: the parsed head and the body go to the thread, its
 * status, headers and body come back and are written through the main thread's engine, which owns
 * framing, keep-alive, pipelining order and every limit, like for `async`.
 */
class ForwardedExchange implements Exchange {
  readonly id: number;
  private settled = false;
  private body: BodySender | null = null;

  constructor(
    private readonly pool: ThreadPool,
    private readonly req: EngineRequest,
    private readonly res: EngineResponse,
    private readonly onSettled: () => void,
  ) {
    this.id = pool.newId();
  }

  start(listener: number, unixPaths: UnixPaths): void {
    const { req, pool, id } = this;
    const hasBody = req.hasBody;
    const peer = peerOf(req.socket, unixPaths);
    pool.open(this, { t: 'open', id, listener, head: headOf(req), peer, end: !hasBody });
    req.onAbort(() => {
      if (this.settled) return;
      this.body?.clear();
      pool.send(this, { t: 'abort', id });
      this.settle();
    });
    if (!hasBody) return;
    const body = (this.body = new BodySender(
      (chunk, end, trailers) => pool.send(this, { t: 'body', id, chunk, end, trailers }, transferOf(chunk)),
      req.body,
    ));
    req.body.on('data', (chunk: Buffer) => body.add(chunk));
    // The engine knows the trailers when the body ends, before its stream does.
    req.body.on('end', () => body.end(req.rawTrailers));
    // The engine refused the rest of the body (a limit, a framing error); it answers the client itself.
    req.body.on('error', () => {
      if (this.settled) return;
      body.clear();
      pool.send(this, { t: 'abort', id, refused: true });
    });
  }

  onMessage(m: FromThread): void {
    if (this.settled) return;
    if (m.t === 'res') {
      try {
        this.forward(m);
      } catch {
        // The engine refused what the thread's own checks let through (response-framing.ts runs on
        // both sides, so this is a safety net): the same answer as an app failure.
        this.pool.send(this, { t: 'abort', id: this.id });
        this.onFail();
      }
    } else if (m.t === 'credit') this.body?.credit(m.bytes);
    else if (m.t === 'abandon') this.onFail();
  }

  private forward(m: Extract<FromThread, { t: 'res' }>): void {
    const { res } = this;
    if (m.interim) return res.writeInterim(m.status!, m.headers!);
    if (m.headers) res.writeHead(m.status!, m.headers, m.reason);
    if (m.trailers) res.addTrailers(m.trailers);
    if (m.end) {
      // A streamed answer is framed as one (chunked when it has no length), but one whose head,
      // length and whole body are all here is the same bytes either way: one write(2) instead of two.
      const streams = m.stream === true && !(m.headers && hasContentLength(m.headers));
      if (streams && m.chunk) res.write(m.chunk);
      res.end(streams ? undefined : m.chunk);
      this.settle();
      return;
    }
    const bytes = m.chunk?.byteLength ?? 0;
    // A client slower than the app: the credit waits until the socket has drained, which holds the app.
    if (res.write(m.chunk ?? EMPTY)) this.credit(bytes);
    else void res.drained().then(() => this.credit(bytes));
  }

  private credit(bytes: number): void {
    if (bytes > 0 && !this.settled) this.pool.send(this, { t: 'credit', id: this.id, bytes });
  }

  /** The thread died with this request, or gave up on its response. */
  onFail(): void {
    if (this.settled) return;
    answerAppFailure(this.res);
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.body?.clear();
    this.onSettled();
  }
}

/**
 * An upgraded connection (WebSocket): the socket leaves the engine and becomes a byte tunnel to one
 * app thread, whose own HTTP implementation answers the upgrade and speaks the new protocol. The
 * thread is held for the connection's life, like a Gunicorn thread would be. Both directions keep
 * the same window that request bodies have.
 */
class Tunnel implements Exchange {
  readonly id: number;

  constructor(
    private readonly pool: ThreadPool,
    private readonly socket: Socket,
  ) {
    this.id = pool.newId();
  }

  start(listener: number, req: EngineRequest, early: Buffer, unixPaths: UnixPaths): void {
    const { pool, socket, id } = this;
    const first = early.length > 0 ? new Uint8Array(early) : undefined;
    pool.open(
      this,
      { t: 'open', id, listener, head: headOf(req), peer: peerOf(socket, unixPaths), chunk: first },
      transferOf(first),
    );
    const sender = new BodySender(
      (chunk, end) => pool.send(this, { t: 'body', id, chunk, end }, transferOf(chunk)),
      socket,
    );
    this.sender = sender;
    socket.on('data', (data: Buffer) => sender.add(data));
    // The client's FIN goes through too: a WebSocket closing handshake ends on it (ws waits for the
    // end of the socket, up to its 30 s close timeout).
    socket.once('end', () => sender.end());
    socket.resume(); // the engine paused it when it stopped parsing
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      sender.clear();
      pool.send(this, { t: 'abort', id });
    });
  }

  private sender: BodySender | null = null;

  onMessage(m: FromThread): void {
    const { socket } = this;
    if (m.t === 'raw') {
      if (m.chunk) {
        const bytes = m.chunk.byteLength;
        const credit = () => this.pool.send(this, { t: 'credit', id: this.id, bytes });
        if (socket.write(m.chunk)) credit();
        else socket.once('drain', credit);
      }
      if (m.end) socket.end();
    } else if (m.t === 'credit') this.sender?.credit(m.bytes);
    else if (m.t === 'abandon') socket.destroy();
  }

  onFail(): void {
    this.socket.destroy();
  }
}

const hasContentLength = (headers: HeaderList): boolean =>
  headers.some(([name]) => name.length === 14 && name.toLowerCase() === 'content-length');

/** The engine handler of a `thread` worker: every request goes to the pool, and back. */
export function forwardToThreads(pool: ThreadPool, listener: number, unixPaths: UnixPaths): EngineHandler {
  return (req, res) => {
    if (req.upgrade) {
      const { socket, head } = req.takeSocket();
      new Tunnel(pool, socket).start(listener, req, head, unixPaths);
      return;
    }
    return new Promise<void>((resolve) => new ForwardedExchange(pool, req, res, resolve).start(listener, unixPaths));
  };
}
