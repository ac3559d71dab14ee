import type { Logger } from '../log/error-log.js';
import type { WorkerBoot } from './ipc-messages.js';
import type { HostedApp } from '../interfaces/detect.js';
import type { ProtocolServer } from '../http/protocol-server.js';
import type { WorkerRuntime } from '../interfaces/runtime.js';

export interface WorkerContext {
  boot: WorkerBoot;
  app: HostedApp;
  log: Logger;
  /** The worker's shared state: health check, trusted proxies, Unix listener paths, WebSocket hub. */
  runtime: WorkerRuntime;
  /**
   * Called after every finished response (max-requests counting, the counters and access log, the
   * postRequest hook), with the protocol's (req, res, exchange); it is the 'response' listener
   * itself, so it is called without `this`.
   */
  readonly onResponse: (...reqRes: unknown[]) => void;
  /** Called before the app gets a request (preRequest hook), with the protocol's (req, res). */
  onRequest?(...reqRes: unknown[]): void;
  /** Called with each protocol server the class creates, so the metrics see its in-flight requests. */
  observe?(protocol: ProtocolServer): void;
}

/** A worker class: how a worker process takes connections and runs the app on them. */
export interface WorkerClass {
  /** Start taking connections. */
  start(): Promise<void>;
  /**
   * Stop taking connections; resolve once in-flight requests have finished and connections closed.
   * `deadline` (epoch ms): when no request may start any more, the graceful stop's time nearly out
   * (the app's shutdown runs then, whatever is still open).
   */
  stop(deadline?: number): Promise<void>;
  /**
   * After the app's shutdown ran in this process: resolve once the connections only the app could
   * end (those its own `upgrade` export took) have closed, or, where the app lives in threads, once
   * each has run its own; at `deadline` at the latest.
   */
  afterAppShutdown?(deadline: number): Promise<void>;
}
