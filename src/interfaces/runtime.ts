import type { Settings } from '../config/settings/index.js';
import { HealthCheck } from '../http/health.js';
import { TrustedPeers } from '../http/proxy.js';
import type { FetchServer } from './fetch.js';
import { UnixPaths, type ListenerAddress } from './scope.js';
import type { WebSocketHub } from './websocket.js';

/** The settings a worker's runtime is made from: a part of the worker's boot settings. */
export type RuntimeSettings = Pick<
  Settings,
  | 'healthPath'
  | 'forwardedAllowIps'
  | 'forwardedHeaders'
  | 'wsMaxSize'
  | 'wsPingInterval'
  | 'wsPingTimeout'
  | 'wsPerMessageDeflate'
  | 'wsgiSpoolSize'
  | 'workers'
  | 'workerClass'
  | 'overrideGlobalObjects'
>;

/**
 * The state one worker shares between its listeners, its HTTP implementations and the app's
 * adapter: made once per worker process (and once per app thread of the thread class, each its
 * own module world) from its boot settings, then handed to the code that needs it. Nothing of it
 * lives at module level, so two runtimes in one process (tests, threads) never see each other's.
 */
export class WorkerRuntime {
  /** The `--health-path` answer, or null when there is none. */
  readonly health: HealthCheck | null;
  /** `--forwarded-allow-ips`: whose proxy headers and PROXY protocol headers are believed. */
  readonly trustedPeers: TrustedPeers;
  /** The path of each `unix:` listener, by its inherited fd. */
  readonly unixPaths: UnixPaths;
  readonly settings: RuntimeSettings;
  /** The open WebSockets of this worker, made by the gateway on the first need (interfaces/gateway.ts). */
  hub: WebSocketHub | null = null;
  /** Bun's `server` argument, one per worker so every listener and protocol share its topics (interfaces/fetch.ts). */
  fetchServer: FetchServer | null = null;

  constructor(settings: RuntimeSettings, listeners: readonly ListenerAddress[] = []) {
    this.settings = settings;
    this.health = settings.healthPath ? new HealthCheck(settings.healthPath) : null;
    this.trustedPeers = new TrustedPeers(settings.forwardedAllowIps, settings.forwardedHeaders);
    this.unixPaths = new UnixPaths(listeners);
  }

  /**
   * WebSocket needs a class that can hold a long-lived socket: not sync, which serves one
   * connection at a time. The thread class tunnels an upgraded connection to one app thread
   * (worker/thread-forward.ts).
   */
  get webSocketCapable(): boolean {
    return this.settings.workerClass !== 'sync';
  }
}
