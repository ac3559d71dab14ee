import type { Server } from 'node:net';
import { httpLimits } from '../http/limits.js';
import { protocolFor } from './hosted.js';
import { closeServer, listenOnFd } from './listen.js';
import type { ProtocolServer } from '../http/protocol.js';
import type { WorkerClass, WorkerContext } from './types.js';

/** The default class: many connections on one event loop. */
export class AsyncWorker implements WorkerClass {
  private readonly servers: Server[] = [];
  private readonly protocols: ProtocolServer[] = [];

  constructor(private readonly ctx: WorkerContext) {}

  async start(): Promise<void> {
    const { settings } = this.ctx.boot;
    for (const listener of this.ctx.boot.listeners) {
      const protocol = protocolFor(this.ctx.app, {
        keepAliveTimeout: (settings.keepAlive as number) * 1000,
        limits: httpLimits(settings),
        scheme: listener.scheme,
        log: this.ctx.log,
      });
      protocol.on('response', () => this.ctx.onResponse());
      this.protocols.push(protocol);
      this.servers.push(await listenOnFd(listener.fd, (socket) => protocol.accept(socket)));
    }
  }

  async stop(): Promise<void> {
    const closing = this.servers.map(closeServer);
    for (const protocol of this.protocols) protocol.drain();
    // Idle keep-alive clients get one keep-alive period to send a last request (answered with
    // Connection: close); closing them at once would race with requests already on the wire.
    const keepAlive = (this.ctx.boot.settings.keepAlive as number) * 1000;
    const idleTimer = setTimeout(() => this.protocols.forEach((p) => p.closeIdleConnections()), keepAlive);
    await Promise.all(closing);
    await Promise.all(this.protocols.map(waitForNoConnections));
    clearTimeout(idleTimer);
  }
}

function waitForNoConnections(protocol: ProtocolServer): Promise<void> {
  if (protocol.connectionCount === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (protocol.connectionCount === 0) {
        protocol.off('connection-closed', check);
        resolve();
      }
    };
    protocol.on('connection-closed', check);
  });
}
