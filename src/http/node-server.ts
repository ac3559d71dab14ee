import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProtocolServer } from './protocol.js';

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
  private readonly server;
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
    this.emit('request', req, res);
    res.on('close', () => {
      this.active.delete(res);
      this.emit('response', req, res);
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
