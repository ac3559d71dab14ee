import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { Settings } from '../config/settings/index.js';
import { captureOutput } from '../log/capture.js';
import type { LogTarget } from '../log/logger.js';
import type { WorkerMessage } from '../worker/protocol.js';
import { ControlServer, controlSocketPath, type Controllable } from './control.js';
import { WorkerStatsBook } from './worker-stats.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * The master's observability and control, attached to the arbiter from outside: the arbiter only
 * emits `spawn` (worker), `message` (worker, message) and `exit` (worker, masterStopping), and
 * offers the Controllable handlers; everything else lives here.
 */
export interface Observable extends Controllable {
  readonly events: EventEmitter;
}

export interface Observability {
  close(): void;
}

export async function startObservability(arbiter: Observable, settings: Settings, logTarget: LogTarget): Promise<Observability> {
  const log = logTarget.logger;
  const book = new WorkerStatsBook();
  arbiter.events.on('spawn', (w: WorkerProcess) => {
    book.spawned(w);
    if (settings.captureOutput) captureOutput(w.pid, w.child, logTarget);
  });
  arbiter.events.on('message', (w: WorkerProcess, m: WorkerMessage) => {
    if (m.t === 'stats') book.reported(w, m);
  });
  arbiter.events.on('exit', (w: WorkerProcess, stopping: boolean) => book.exited(w, stopping));

  let metrics: Server | null = null;
  if (settings.metricsBind) {
    // Loaded only when on: the metrics endpoint brings node:http into the master.
    const { serveMetrics } = await import('./metrics.js');
    const served = await serveMetrics(settings.metricsBind, { book, workers: () => arbiter.snapshot().workers });
    metrics = served.server;
    log.info('Metrics at: %s', served.url);
  }
  let control: ControlServer | null = null;
  const path = controlSocketPath(settings);
  if (path) {
    control = new ControlServer(path, arbiter, book, log);
    if (!(await control.start())) control = null;
  }
  const reloader = settings.reload ? new (await import('./dev-reload.js')).DevReloader(settings, () => arbiter.reload(), log) : null;
  reloader?.start();
  return {
    close() {
      reloader?.close();
      control?.close();
      metrics?.close();
      metrics?.closeAllConnections();
    },
  };
}
