import { HttpEngine } from '../http/engine.js';
import { withHealthCheckEngine } from '../http/health.js';
import { AsyncWorker } from './async.js';
import { logRefusals } from './hosted.js';
import { forwardToThreads } from './thread-forward.js';
import { ThreadPool } from './thread-pool.js';
import type { WorkerClass, WorkerContext } from './types.js';

/**
 * The `thread` class: a pool of worker_threads in each worker process, each with its own instance
 * of the app (never loaded in the main thread). The main thread runs exactly the `async` class's
 * connection handling, on gserve's engine (so the same keep-alive, pipelining order, limits and
 * errors), with a handler that passes each request to an idle app thread. A handler that blocks
 * its thread (synchronous work, Atomics.wait) holds up neither the other threads nor the I/O.
 */
export class ThreadWorker implements WorkerClass {
  private readonly pool: ThreadPool;
  private readonly connections: AsyncWorker;

  constructor(ctx: Omit<WorkerContext, 'app'>) {
    const { settings, cwd, listeners } = ctx.boot;
    this.pool = new ThreadPool(settings.threads, { settings, cwd, schemes: listeners.map((l) => l.scheme) }, ctx.log);
    this.connections = new AsyncWorker(ctx, (options, listener) => {
      const engine = logRefusals(
        new HttpEngine(
          withHealthCheckEngine(ctx.runtime.health, forwardToThreads(this.pool, listener, ctx.runtime.unixPaths)),
          options,
        ),
        ctx.log,
      );
      engine.prependListener('handler-error', (err: unknown) =>
        ctx.log.error({ err: String(err) }, 'Error forwarding a request to an app thread'),
      );
      return engine;
    });
  }

  async start(): Promise<void> {
    await this.pool.start();
    await this.connections.start();
  }

  async stop(): Promise<void> {
    // Upgraded connections are tunnels to the threads, which hold their WebSockets: told first, or
    // they stay open until the graceful timeout's SIGKILL, closed without a frame.
    this.pool.drain();
    await this.connections.stop();
  }

  /** The app lives in the threads: each runs its shutdown now (run-worker.ts), then ends. */
  async afterAppShutdown(deadline: number): Promise<void> {
    await this.pool.stop(deadline);
  }
}
