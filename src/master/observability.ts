import type { Server } from 'node:http';
import type { Settings } from '../config/settings/index.js';
import { captureOutput } from '../log/capture.js';
import type { LogTarget } from '../log/logger.js';
import { ControlServer, controlSocketPath, type Controllable } from './control.js';
import { WorkerStatsBook } from './worker-stats.js';
import { handleFd } from './node-handles.js';

/**
 * The master's observability and control, attached to the arbiter from outside: the arbiter only
 * emits its events (arbiter-events.ts) and offers the Controllable handlers; everything else lives here.
 */

export interface Observability {
  /** `unlink`: false while another master (USR2) shares the control socket's path. */
  close(unlink?: boolean): void;
  /** The listening descriptors a USR2 successor inherits (see master/upgrade.ts). */
  inheritable(): InheritedSockets;
  /** A USR2 successor now answers on these sockets: stop answering here, leave the path in place. */
  handOver(): void;
  /** The successor is gone (rolled back): answer here again. */
  takeBack(): Promise<void>;
  /** USR1 or HUP: the control socket's file is put back if it was removed. */
  restore(): void;
}

/** The control socket and the metrics listener, passed across USR2 like the HTTP listeners. */
export interface InheritedSockets {
  control?: number | null;
  metrics?: number | null;
}

export interface ObservabilityOptions {
  /** The folder gserve was started in: relative --pid and --control-socket paths are its. */
  folder?: string;
  /**
   * The same folder by the name the shell gave it (upgrade.ts namedFolder): it names the default
   * control socket, so `gserve reload` run in a `current` symlink still finds the master once a
   * deploy has pointed the link at a new release.
   */
  namedFolder?: string;
  /** Set in a master started by USR2: its predecessor's sockets. */
  inherited?: InheritedSockets;
}

export async function startObservability(
  arbiter: Controllable,
  settings: Settings,
  logTarget: LogTarget,
  options: ObservabilityOptions = {},
): Promise<Observability> {
  const log = logTarget.logger;
  const book = new WorkerStatsBook();
  arbiter.events.on('spawn', (w) => {
    book.spawned(w);
    if (settings.captureOutput) captureOutput(w.pid, w.child, logTarget);
  });
  arbiter.events.on('message', (w, m) => {
    if (m.t === 'stats') book.reported(w, m);
  });
  arbiter.events.on('exit', (w, stopping) => book.exited(w, stopping));

  let metrics: Server | null = null;
  /** Where the metrics were served, so that a rollback serves them on the same port (even for :0). */
  let metricsBind = settings.metricsBind;
  const startMetrics = async (inheritedFd?: number) => {
    if (!metricsBind) return;
    // Loaded only when on: the metrics endpoint brings node:http into the master.
    const { serveMetrics } = await import('./metrics.js');
    const served = await serveMetrics(metricsBind, { book, workers: () => arbiter.snapshot().workers }, inheritedFd);
    metrics = served.server;
    const at = metrics.address();
    if (at && typeof at === 'object')
      metricsBind = at.family === 'IPv6' ? `[${at.address}]:${at.port}` : `${at.address}:${at.port}`;
    log.info('Metrics at: %s%s', served.url, inheritedFd !== undefined ? ' (taken over from the old master)' : '');
  };
  const stopMetrics = () => {
    metrics?.close();
    metrics?.closeAllConnections();
    metrics = null;
  };
  await startMetrics(options.inherited?.metrics ?? undefined);
  let control: ControlServer | null = null;
  // Relative paths (--pid, --control-socket) are the launch folder's, with --chdir applied once:
  // the master's own working folder already is the --chdir one.
  const folder = options.folder ?? process.cwd();
  const path = controlSocketPath(settings, folder, options.namedFolder ?? folder);
  const startControl = async (inheritedFd?: number) => {
    if (!path) return;
    control = new ControlServer(path, arbiter, book, log);
    if (!(await control.start(inheritedFd))) control = null;
  };
  await startControl(options.inherited?.control ?? undefined);
  const reloader = settings.reload
    ? new (await import('./dev-reload.js')).DevReloader(settings, () => arbiter.reload(), log)
    : null;
  reloader?.start();
  return {
    close(unlink = true) {
      reloader?.close();
      control?.close(unlink);
      stopMetrics();
    },
    inheritable: () => ({ control: control?.fd ?? null, metrics: handleFd(metrics) }),
    handOver() {
      control?.handOver();
      control = null;
      stopMetrics();
    },
    restore() {
      void control?.restore();
    },
    async takeBack() {
      if (!control) await startControl().catch((err) => log.warn('Control socket: %s', String(err)));
      if (!metrics) await startMetrics().catch((err) => log.error('Metrics not served any more: %s', String(err)));
    },
  };
}
