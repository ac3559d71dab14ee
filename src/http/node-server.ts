import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpLimits } from './limits.js';
import { NodeRequestGuard } from './node-guard.js';
import type { Exchange, ProtocolServer } from './protocol.js';
import { Rejection, badRequest, rejectionResponse } from './reject.js';

export interface NodeServerOptions {
  keepAliveTimeout: number;
  limits: HttpLimits;
  onError(err: unknown, req: IncomingMessage): void;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * The node:http path, for `(req, res)` apps: frameworks need the real IncomingMessage and
 * ServerResponse. Sockets come from the worker's own listeners. Each socket gets a
 * NodeRequestGuard in front of Node's parser, so limits, refusals and timeouts match gserve's engine.
 * Events: 'rejected' (Rejection, socket) for each refused request, besides the ProtocolServer ones.
 */
export class NodeProtocolServer extends EventEmitter implements ProtocolServer {
  /** The node:http server; the gateway layer listens to its 'upgrade' event for WebSocket. */
  readonly server;
  private readonly sockets = new Set<Socket>();
  private readonly active = new Set<ServerResponse>();
  private readonly guards = new WeakMap<Socket, NodeRequestGuard>();
  private draining = false;

  constructor(listener: Listener, private readonly options: NodeServerOptions) {
    super();
    const { limits } = options;
    this.server = createServer(
      {
        keepAliveTimeout: options.keepAliveTimeout,
        // The guard times heads and bodies; Node's own timers would answer differently.
        headersTimeout: 0,
        requestTimeout: 0,
        // The guard checks Host (with the same answer as the engine) and bounds every line.
        requireHostHeader: false,
        maxHeaderSize: headBound(limits),
      },
      (req, res) => this.handle(listener, req, res),
    );
    this.server.keepAliveTimeout = options.keepAliveTimeout;
    this.server.maxHeadersCount = 0; // no silent truncation; the guard counts fields
    this.server.maxRequestsPerSocket = limits.maxKeepaliveRequests;
    // What Node's parser refuses beyond the guard: answered the same way, never with Node's empty 400.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
  }

  private handle(listener: Listener, req: IncomingMessage, res: ServerResponse): void {
    const guard = this.guards.get(req.socket);
    if (guard) {
      guard.open++;
      guard.bodyResponse = res;
    }
    this.active.add(res);
    if (this.draining) res.shouldKeepAlive = false;
    const exchange = new NodeExchange(req, res);
    this.emit('request', req, res);
    res.on('close', () => {
      this.active.delete(res);
      guard?.responseClosed();
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

  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const guard = this.guards.get(socket);
    // After the guard refused, Node may still complain (its parser at EOF, a write after our
    // answer): the refusal is on its way and the guard closes the socket.
    if (guard?.refused) return;
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const r = err.code === 'HPE_HEADER_OVERFLOW' ? new Rejection(431, 'the request head is too large') : badRequest(`malformed request (${err.message})`);
    if (guard) return guard.rejectFromNode(r);
    this.emit('rejected', r, socket);
    socket.end(rejectionResponse(r));
    socket.destroySoon();
  }

  accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.emit('connection-closed');
    });
    const guard = new NodeRequestGuard(socket, this.options.limits, {
      willUpgrade: (method) => this.server.listenerCount(method === 'CONNECT' ? 'connect' : 'upgrade') > 0,
      rejected: (r, s) => this.emit('rejected', r, s),
    });
    this.guards.set(socket, guard);
    guard.attach((s) => this.server.emit('connection', s));
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

/**
 * Node's cap on a whole head: what the guard's limits allow, plus room for line endings. The guard
 * refuses first, with the precise reason; this only keeps Node from refusing earlier.
 */
function headBound(limits: HttpLimits): number {
  if (!limits.requestLine || !limits.requestFieldSize) return 64 * 1024 * 1024;
  return Math.min(64 * 1024 * 1024, limits.requestLine + 2 + limits.requestFields * (limits.requestFieldSize + 2) + 2 + 1024);
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
