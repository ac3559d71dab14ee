/**
 * The messages between the master and a worker over the IPC channel. The worker is a separate Node
 * process; this file is the whole of what the two agree on.
 */

import type { BootSettings } from './boot.js';
import type { StatsReport } from './stats-report.js';

export { BOOT_ENV } from './boot.js';

/** What the master tells a new worker, in the GSERVE_WORKER_BOOT environment variable. */
export interface WorkerBoot {
  /** The settings, JSON-safe: the master's typed settings, less the server hooks that JSON drops. */
  settings: BootSettings;
  /** Listening sockets, inherited file descriptors. */
  listeners: Array<{
    fd: number;
    address: string;
    scheme: 'http' | 'https' /** TCP only: the port the worker must find the socket on. */;
    port?: number;
  }>;
  /** Counts reloads: workers of one HUP share it, so responses can show which generation served them. */
  generation: number;
  /** Working directory for loading the app (after --chdir). */
  cwd: string;
  /** The config file, named only when it holds worker-side server hooks: the worker loads them itself. */
  configFile?: string | null;
  /**
   * The connection board (supervision/connection-board.ts), an inherited descriptor, and this
   * worker's slot on it; absent when the worker takes no part in balancing.
   */
  board?: { fd: number; slot: number };
  /**
   * The worker must start its own orphan watchdog thread (worker/watchdog.ts): the master has no
   * orphan reaper (master/orphan-reaper.ts) and is not PID 1, whose death ends its whole namespace.
   */
  orphanWatchdog?: boolean;
  /**
   * Forked during --shutdown-delay (a crashed worker's replacement): its health check fails from
   * the start. Told here, as a message sent before the worker listens for messages is lost.
   */
  shutdownPending?: boolean;
}

export type WorkerMessage =
  | { t: 'ready' }
  | { t: 'beat' }
  /** Counters for `gserve status` and the metrics, about once a second. */
  | StatsReport
  /** sync class: this worker has no connection in hand and can take one (see master/dispatch.ts). */
  | { t: 'idle' }
  /** The worker finished its first response: it proved its slot healthy (master/backoff.ts). */
  | { t: 'serving' }
  /** The app opened its own servers (self-listen.ts), on these addresses; gserve's --bind is not served. */
  | { t: 'self-listen'; addresses: string[] }
  /** A stop signal was sent to this worker itself (not by its master): it is stopping. */
  | { t: 'signalled'; signal: 'SIGTERM' | 'SIGQUIT' }
  /**
   * Recycling: the worker passed maxRequests or maxWorkerMemory and asks to be replaced. `memory`:
   * it was the ceiling. `now`: it went on growing past MEMORY_HARD_FACTOR × the ceiling after that
   * (or while it was stopping for another reason), and must stop at once rather than drain.
   * `early`: it passed the ceiling before its second response, at the app's own size.
   */
  | { t: 'retire'; reason: string; memory?: boolean; now?: boolean; early?: boolean }
  /**
   * Balancing (master/balancer.ts): a new connection, not read from, travels with this message (its
   * handle) for the master to pass to a less loaded worker; `listener` indexes boot.listeners.
   */
  | { t: 'surplus'; listener: number }
  /** The app could not be loaded: the master halts instead of respawning. */
  | { t: 'boot-error'; code: string; message: string; exitCode: number };

export type MasterMessage =
  | { t: 'stop'; graceful: boolean }
  | { t: 'reopen-logs' }
  /**
   * An accepted socket travels with this message (its handle); `listener` indexes boot.listeners.
   * sync class: every connection comes this way, with `bytes`, what the master read of it (latin1;
   * master/request-wait.ts); async and thread: one another worker passed on, never read from.
   */
  | { t: 'conn'; listener: number; bytes?: string }
  /** A stop is coming after --shutdown-delay: fail the health check, keep serving. */
  | { t: 'shutdown-pending' }
  /** The master's orphan reaper is gone: watch for the master's death with a thread of its own. */
  | { t: 'watch-orphans'; why: string };

export const isWorkerMessage = (m: unknown): m is WorkerMessage =>
  typeof m === 'object' && m !== null && 't' in m && typeof m.t === 'string';
