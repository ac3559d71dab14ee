import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TlsOptions, TLSSocket } from 'node:tls';
import { inheritPeer } from './proxy-protocol.js';
import { NodeExchange } from './node-server.js';
import type { ProtocolServer } from './protocol.js';

/** node:http2, loaded when a worker serves HTTP/2 (--http2), not before. */
const http2 = (): typeof import('node:http2') => createRequire(import.meta.url)('node:http2');

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
export type CompatListener = (req: AnyRequest, res: AnyResponse) => unknown;

export interface Http2Options {
  tls: TlsOptions;
  keepAliveTimeout: number;
  headerTimeout: number;
  onError(err: unknown, req: AnyRequest): void;
  onClientError(err: Error): void;
}

/**
 * `--http2`: node's HTTP/2 server over TLS, with ALPN choosing h2 or HTTP/1.1 per connection, for
 * `node` apps (through node's compatibility request/response) and `fetch` apps (bridged below).
 * Like the other ProtocolServers it never listens: the worker feeds it accepted raw sockets.
 */
export class Http2ProtocolServer extends EventEmitter implements ProtocolServer {
  private readonly server;
  private readonly sockets = new Set<TLSSocket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly active = new Map<Socket, number>();
  private draining = false;
  inFlight = 0;

  constructor(listener: CompatListener, private readonly options: Http2Options) {
    super();
    this.server = http2().createSecureServer({ ...options.tls, allowHTTP1: true }, (req, res) => this.handle(listener, req, res));
    Object.assign(this.server, { keepAliveTimeout: options.keepAliveTimeout, headersTimeout: options.headerTimeout });
    this.server.prependListener('secureConnection', (socket: TLSSocket) => {
      inheritPeer((socket as TLSSocket & { _parent: Socket })._parent, socket);
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.emit('connection-closed');
      });
    });
    this.server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      this.closeWhenIdle(session);
      session.on('close', () => this.sessions.delete(session));
      if (this.draining) session.close();
    });
    this.server.on('tlsClientError', options.onClientError);
  }

  /**
   * An HTTP/2 connection with no open stream is closed (GOAWAY) after the first-request time, then
   * after --keep-alive between streams, like an idle HTTP/1.1 connection. Node's own session
   * timeout would also cut streams still waiting for a slow app, so it is not used.
   */
  private closeWhenIdle(session: Http2Session): void {
    let open = 0;
    let timer: NodeJS.Timeout | null = null;
    const arm = (ms: number) => {
      timer = setTimeout(() => session.close(), ms);
      timer.unref();
    };
    session.on('stream', (stream) => {
      open++;
      if (timer) clearTimeout(timer);
      timer = null;
      stream.on('close', () => {
        if (--open === 0 && !session.closed) arm(this.options.keepAliveTimeout);
      });
    });
    session.on('close', () => timer && clearTimeout(timer));
    arm(this.options.headerTimeout);
  }

  private handle(listener: CompatListener, req: AnyRequest, res: AnyResponse): void {
    const socket = req.socket as Socket;
    const http1 = req.httpVersionMajor === 1;
    this.inFlight++;
    this.active.set(socket, (this.active.get(socket) ?? 0) + 1);
    if (http1 && this.draining) (res as ServerResponse).shouldKeepAlive = false;
    const exchange = new NodeExchange(req as IncomingMessage, res as ServerResponse);
    res.on('close', () => {
      this.inFlight--;
      const left = (this.active.get(socket) ?? 1) - 1;
      if (left > 0) this.active.set(socket, left);
      else this.active.delete(socket);
      this.emit('response', req, res, exchange);
    });
    const fail = (err: unknown) => {
      this.options.onError(err, req);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal Server Error\n');
      } else res.destroy();
    };
    try {
      const result = listener(req, res);
      if (result && typeof (result as Promise<unknown>).catch === 'function') (result as Promise<unknown>).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  drain(): void {
    this.draining = true;
    // GOAWAY: streams already open finish, no new ones start.
    for (const session of this.sessions) session.close();
  }

  closeIdleConnections(): void {
    for (const session of this.sessions) session.close();
    for (const socket of this.sockets) if (socket.alpnProtocol !== 'h2' && !this.active.has(socket)) socket.destroy();
  }

  get connectionCount(): number {
    return this.sockets.size;
  }
}
