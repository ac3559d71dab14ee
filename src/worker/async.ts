import { Socket, type Server } from 'node:net';
import { type HttpLimits, httpLimits } from '../http/limits.js';
import { protocolFor, type ProtocolOptions } from './hosted.js';
import { ConnectionCap } from './connection-cap.js';
import { ConnectionBalance } from './balance.js';
import { ConnectionBoard } from '../supervision/connection-board.js';
import type { MasterMessage } from './ipc-messages.js';
import { edgeFor, edgeSettings, http2Protocol } from './edge.js';
import { closeServer, listenOnFd } from './listen.js';
import type { ProtocolServer } from '../http/protocol-server.js';
import type { HostedApp } from '../interfaces/detect.js';
import type { WorkerRuntime } from '../interfaces/runtime.js';
import type { Logger } from '../log/error-log.js';
import type { WorkerClass, WorkerContext } from './types.js';
import type { BootSettings } from './boot.js';
import { settleWithin } from '../supervision/settle-within.js';

/** The HTTP settings every class gives its HTTP implementation. */
export function protocolOptions(
  settings: BootSettings,
  log: Logger,
  scheme: 'http' | 'https',
  runtime: WorkerRuntime,
): ProtocolOptions {
  return {
    keepAliveTimeout: settings.keepAlive * 1000,
    limits: settings.workerClass === 'sync' ? syncWorkerLimits(settings) : httpLimits(settings),
    scheme,
    log,
    runtime,
    accessLog: Boolean(settings.accessLogfile),
  };
}

/**
 * A sync worker waiting for a body serves no one else, as it does while its app blocks: the wait is
 * held to --timeout too, as Gunicorn's sync worker, blocked in recv(), is killed at its timeout. With
 * --request-timeout alone (300 s), a few clients that sent a head with a large or chunked body (the
 * master hands those on at once) and then nothing stopped the server for five minutes.
 */
export function syncWorkerLimits(settings: BootSettings): HttpLimits {
  let limits = httpLimits(settings);
  const timeout = Math.round(settings.timeout * 1000);
  if (timeout > 0 && (limits.requestTimeout === 0 || timeout < limits.requestTimeout))
    limits = { ...limits, requestTimeout: timeout, requestTimeoutSetting: '--timeout' };
  // So is an answer the client does not take (Gunicorn's worker, blocked in send(), is killed at its
  // timeout): the worker serves no one else while it waits (worker/sync.ts watches every interface).
  if (timeout > 0 && (limits.sendTimeout === 0 || timeout < limits.sendTimeout))
    limits = { ...limits, sendTimeout: timeout };
  return limits;
}

/** Makes the HTTP implementation for one listener (by its index in boot.listeners). */
export type ProtocolFactory = (options: ProtocolOptions, listener: number) => ProtocolServer;

/** The default class: many connections on one event loop. */
export class AsyncWorker implements WorkerClass {
  private readonly servers: Server[] = [];
  private readonly protocols: ProtocolServer[] = [];
  private balance: ConnectionBalance | null = null;
  private cap: ConnectionCap | null = null;

  constructor(
    private readonly ctx: Omit<WorkerContext, 'app'> & { app?: HostedApp },
    /** The thread class swaps in an engine that forwards requests to its app threads. */
    private readonly makeProtocol: ProtocolFactory = (options) => protocolFor(ctx.app!, options),
  ) {}

  async start(): Promise<void> {
    const { settings, board } = this.ctx.boot;
    const edge = edgeSettings(settings, this.ctx.log, this.ctx.app, this.ctx.runtime);
    this.balance = board ? new ConnectionBalance(ConnectionBoard.open(board.fd), board.slot) : null;
    const cap = new ConnectionCap(settings.workerConnections, this.balance);
    this.cap = cap;
    const accepts: Array<(socket: Socket) => void> = [];
    // edgeSettings() offers HTTP/2 only to these two kinds of app.
    const { app } = this.ctx;
    const h2App = app?.kind === 'node' || app?.kind === 'fetch' ? app : null;
    for (const [index, listener] of this.ctx.boot.listeners.entries()) {
      const options = protocolOptions(settings, this.ctx.log, listener.scheme, this.ctx.runtime);
      const http1 = this.makeProtocol(options, index);
      const protocol =
        edge.http2 && h2App
          ? await http2Protocol(h2App, http1, { ...options, maxConcurrentStreams: edge.maxConcurrentStreams })
          : http1;
      protocol.on('response', this.ctx.onResponse);
      if (this.ctx.onRequest) protocol.on('request', this.ctx.onRequest);
      this.ctx.observe?.(protocol);
      this.protocols.push(protocol);
      const accept = edgeFor(protocol, edge, listener);
      accepts.push(accept);
      this.servers.push(
        await listenOnFd(
          listener.fd,
          cap.guard(accept, index, listener.scheme === 'https'),
          settings.backlog,
          listener.port,
          this.balance !== null,
        ),
      );
    }
    process.on('message', (message: MasterMessage, handle: unknown) => {
      if (message?.t !== 'conn' || !(handle instanceof Socket)) return;
      const accept = accepts[message.listener];
      this.ctx.runtime.unixPaths.handedOver(handle, message.listener);
      if (accept) cap.take(handle, accept, this.ctx.boot.listeners[message.listener]?.scheme === 'https');
    });
  }

  async stop(): Promise<void> {
    this.balance?.withdraw();
    // Every connection closed, as each listener and protocol count them; or, where the app's own
    // `upgrade` took some (which those counts include), every other one.
    const everyConnection = Promise.all(this.servers.map(closeServer)).then(() =>
      Promise.all(this.protocols.map(waitForNoConnections)),
    );
    const closing = this.cap
      ? Promise.race([everyConnection, onlyTheAppsLeft(this.cap, this.protocols)])
      : everyConnection;
    for (const protocol of this.protocols) protocol.drain();
    // Idle keep-alive clients get one keep-alive period to send a last request (answered with
    // Connection: close); closing them at once would race with requests already on the wire.
    const keepAlive = this.ctx.boot.settings.keepAlive * 1000;
    const idleTimer = setTimeout(() => this.protocols.forEach((p) => p.closeIdleConnections()), keepAlive);
    await closing;
    clearTimeout(idleTimer);
  }

  async afterAppShutdown(deadline: number): Promise<void> {
    await settleWithin(Promise.all(this.protocols.map((p) => untilNone(p, 'appOwnedCount'))), deadline - Date.now());
  }
}

/**
 * Resolves once the worker holds connections the app's own `upgrade` took, and no other: the app's
 * close() is what ends those, and it runs after this (afterAppShutdown), so a listener's own count,
 * which includes them, would never come to 0. Counted on the raw sockets (ConnectionCap), which
 * include those still in their TLS handshake or PROXY header and those the master passed on, which
 * no protocol counts. Without such connections it never resolves: the listeners' count decides.
 */
function onlyTheAppsLeft(cap: ConnectionCap, protocols: ProtocolServer[]): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (protocols.some((p) => p.connectionCount > 0)) return;
      const appOwned = protocols.reduce((n, p) => n + p.appOwnedCount, 0);
      if (appOwned === 0 || cap.held !== appOwned) return;
      for (const p of protocols) p.off('connection-closed', check);
      cap.onClosed = null;
      resolve();
    };
    for (const p of protocols) p.on('connection-closed', check);
    cap.onClosed = check;
    check();
  });
}

export const waitForNoConnections = (protocol: ProtocolServer) => untilNone(protocol, 'connectionCount');

/** Resolves once `protocol` has no connection left of the kind `count` counts. */
function untilNone(protocol: ProtocolServer, count: 'connectionCount' | 'appOwnedCount'): Promise<void> {
  if (protocol[count] === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (protocol[count] === 0) {
        protocol.off('connection-closed', check);
        resolve();
      }
    };
    protocol.on('connection-closed', check);
  });
}
