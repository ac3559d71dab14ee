import type { Server } from 'node:net';
import type { Logger } from '../log/logger.js';
import { ConnectionCap } from './connection-cap.js';
import { closeServer, listenOnFd } from './listen.js';
import { FramedConnection } from './thread-framing.js';
import { ThreadPool } from './thread-pool.js';
import type { WorkerBoot } from './protocol.js';
import type { WorkerClass } from './types.js';

export interface ThreadWorkerContext {
  boot: WorkerBoot;
  log: Logger;
  onResponse(): void;
}

/**
 * The `thread` class: a pool of worker_threads in each worker process, each with its own instance
 * of the app. The main thread accepts, frames and keeps connections alive; app threads only run
 * requests, so one that blocks (synchronous work, Atomics.wait) holds up neither the others nor
 * the process's I/O. The app is never loaded in the main thread.
 */
export class ThreadWorker implements WorkerClass {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<FramedConnection>();
  private readonly pool: ThreadPool;
  private allClosed: (() => void) | null = null;

  constructor(private readonly ctx: ThreadWorkerContext) {
    const { settings, cwd, listeners } = ctx.boot;
    this.pool = new ThreadPool(settings.threads as number, { settings, cwd, schemes: listeners.map((l) => l.scheme) }, ctx.log, ctx.onResponse);
  }

  async start(): Promise<void> {
    await this.pool.start();
    const { settings } = this.ctx.boot;
    const cap = new ConnectionCap(settings.workerConnections as number);
    for (const [index, listener] of this.ctx.boot.listeners.entries()) {
      const options = { keepAliveTimeout: (settings.keepAlive as number) * 1000, headerTimeout: 60_000, listener: index };
      const accept = cap.guard((socket) => this.connections.add(new FramedConnection(socket, this.pool, options, (c) => this.forget(c))));
      this.servers.push(await listenOnFd(listener.fd, accept));
    }
  }

  private forget(conn: FramedConnection): void {
    this.connections.delete(conn);
    if (this.connections.size === 0) this.allClosed?.();
  }

  async stop(): Promise<void> {
    const closing = this.servers.map(closeServer);
    const idle = new Promise<void>((resolve) => (this.allClosed = resolve));
    for (const conn of this.connections) conn.drain();
    await Promise.all(closing);
    if (this.connections.size > 0) await idle;
    await this.pool.stop();
  }
}
