import type { EventEmitter } from 'node:events';
import type { WorkerMessage } from '../worker/ipc-messages.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * How one HUP ended. `ticket` numbers the reloads in the order the master handles them (see
 * Controllable.reload), so a caller can tell its own reload from one already under way.
 */
export type ReloadOutcome =
  /** The new generation serves; its old workers are stopping gracefully. */
  | { ticket: number; ok: true; generation: number }
  /**
   * The old generation keeps serving. `started`: false when no new generation was forked (the
   * config could not be loaded, or the master is stopping: `stopping`), true when the new workers failed.
   */
  | { ticket: number; ok: false; started: boolean; generation: number; reason?: string; stopping?: boolean };

/** What the arbiter tells its observers (observability.ts, control.ts), and with which arguments. */
export interface ArbiterEventMap {
  spawn: [worker: WorkerProcess];
  message: [worker: WorkerProcess, message: WorkerMessage];
  /** `masterStopping`: the master is shutting down, so the worker is not replaced. */
  exit: [worker: WorkerProcess, masterStopping: boolean];
  /** A HUP has loaded its config and forks generation `generation`. */
  'reload-start': [ticket: number, generation: number];
  reload: [outcome: ReloadOutcome];
}

export type ArbiterEvents = EventEmitter<ArbiterEventMap>;
