import type { Server } from 'node:net';
import { setForwardedAllowIps } from '../http/proxy.js';
import { tlsOptions, type TlsSettings } from '../http/tls.js';
import { http2Protocol, networkEdge } from './edge.js';
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
    setForwardedAllowIps(settings.forwardedAllowIps as string[]);
    const tls = tlsOptions(settings as unknown as TlsSettings);
    const http2 = Boolean(tls && settings.http2);
    for (const listener of this.ctx.boot.listeners) {
      const options = {
        keepAliveTimeout: (settings.keepAlive as number) * 1000,
        headerTimeout: 60_000,
        scheme: listener.scheme,
        log: this.ctx.log,
      };
      const protocol = http2 ? http2Protocol(this.ctx.app, tls!, options) : protocolFor(this.ctx.app, options);
      protocol.on('response', () => this.ctx.onResponse());
      this.protocols.push(protocol);
      const edge = networkEdge(protocol, { tls, http2, proxyProtocol: settings.proxyProtocol as boolean, unix: listener.address.startsWith('unix:'), log: this.ctx.log });
      this.servers.push(await listenOnFd(listener.fd, edge, settings.backlog as number));
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
