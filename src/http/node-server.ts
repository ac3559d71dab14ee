import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Exchange, ProtocolServer } from './protocol.js';

export interface NodeServerOptions {
  keepAliveTimeout: number;
  headerTimeout: number;
  onError(err: unknown, req: IncomingMessage): void;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * The node:http path, for `(req, res)` apps: frameworks need the real IncomingMessage and
 * ServerResponse. Sockets come from the worker's own listeners.
 */
export class NodeProtocolServer extends EventEmitter implements ProtocolServer {
  /** The node:http server; the gateway layer listens to its 'upgrade' event for WebSocket. */
  readonly server;
  private readonly sockets = new Set<Socket>();
  private readonly active = new Set<ServerResponse>();
  private draining = false;

  constructor(listener: Listener, private readonly options: NodeServerOptions) {
    super();
    this.server = createServer(
      { keepAliveTimeout: options.keepAliveTimeout, headersTimeout: options.headerTimeout, requestTimeout: 0 },
      (req, res) => this.handle(listener, req, res),
    );
    // Node's keep-alive timer also needs a margin below headersTimeout; ours are set together above.
    this.server.keepAliveTimeout = options.keepAliveTimeout;
  }

  private handle(listener: Listener, req: IncomingMessage, res: ServerResponse): void {
    this.active.add(res);
    if (this.draining) res.shouldKeepAlive = false;
    const exchange = new NodeExchange(req, res);
    this.emit('request', req, res);
    res.on('close', () => {
      this.active.delete(res);
      this.emit('response', req, res, exchange);
    });
    try {
      const result = listener(req, res);
      if (result && typeof (result as Promise<unknown>).catch === 'function') {
        (result as Promise<unknown>).catch((err) => this.fail(err, req, res));
      }
    } catch (err) {
      this.fail(err, req, res);
    }
  }

  private fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    this.options.onError(err, req);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain');
      res.setHeader('connection', 'close');
      res.end('Internal Server Error\n');
    } else res.destroy();
  }

  accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.emit('connection-closed');
    });
    this.server.emit('connection', socket);
  }

  drain(): void {
    this.draining = true;
    for (const res of this.active) if (!res.headersSent) res.shouldKeepAlive = false;
    this.emit('draining'); // WebSocket hub: close open sockets with 1001
  }

  closeIdleConnections(): void {
    this.server.closeIdleConnections();
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  get inFlight(): number {
    return this.active.size;
  }
}

/** The access log's view of a node:http request; body bytes are what went on the wire minus the head. */
class NodeExchange implements Exchange {
  readonly startedAt = performance.now();
  private readonly writtenBefore: number;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.writtenBefore = req.socket.bytesWritten;
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
    return this.res.statusCode;
  }
  get socket(): Socket {
    return this.req.socket;
  }
  get bodyBytes(): number {
    if (this.req.method === 'HEAD') return 0;
    const length = this.res.getHeader('content-length');
    if (length !== undefined) return Number(length);
    // `_header` is the serialized head node:http wrote; stable since Node 0.x.
    const head = (this.res as unknown as { _header?: string | null })._header;
    return Math.max(0, this.req.socket.bytesWritten - this.writtenBefore - (head ? Buffer.byteLength(head, 'latin1') : 0));
  }
  requestHeader(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
  responseHeader(name: string): string | undefined {
    const value = this.res.getHeader(name);
    return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
  }
}
