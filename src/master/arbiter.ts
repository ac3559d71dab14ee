import type { ResolvedSettings } from '../config/resolve.js';
import type { Settings } from '../config/settings/index.js';
import { ExitCode, describeError } from '../errors.js';
import type { LogTarget } from '../log/logger.js';
import type { WorkerMessage } from '../worker/protocol.js';
import { VERSION } from '../cli/version.js';
import { tlsOptions } from '../http/tls.js';
import { bindListeners, type Listener } from './listeners.js';
import { Pidfile } from './pidfile.js';
import { WorkerProcess } from './worker-process.js';

const FAST_STOP_GRACE_SECONDS = 1;
/** A worker that dies sooner than this after boot counts toward the crash-loop backoff. */
const EARLY_DEATH_MS = 5_000;
const MAX_BACKOFF_MS = 30_000;

/** Drops functions (server hooks): workers get the settings as JSON in their environment. */
const jsonSafe = (settings: Settings) => JSON.parse(JSON.stringify(settings, (_k, v) => (typeof v === 'function' ? undefined : v)));

/**
 * The master process, after Gunicorn's arbiter: it owns the listeners, keeps the right number of
 * workers alive, and turns signals into actions, one at a time.
 */
export class Arbiter {
  private readonly workers = new Map<number, WorkerProcess>();
  private listeners: Listener[] = [];
  private pidfile: Pidfile | null = null;
  private generation = 0;
  private stopping = false;
  private readonly signalQueue: NodeJS.Signals[] = [];
  private handlingSignals = false;
  private earlyDeaths = 0;
  private respawnTimer: NodeJS.Timeout | null = null;
  private timeoutCheck: NodeJS.Timeout | null = null;
  private finish!: (code: number) => void;
  private readonly finished = new Promise<number>((resolve) => (this.finish = resolve));

  constructor(
    private resolved: ResolvedSettings,
    private readonly logTarget: LogTarget,
  ) {}

  private get settings(): Settings {
    return this.resolved.settings;
  }

  private get log() {
    return this.logTarget.logger;
  }

  async run(): Promise<number> {
    this.log.info('Starting gserve %s', VERSION);
    try {
      this.listeners = await bindListeners(this.settings.bind, { umask: this.settings.umask, tls: tlsOptions(this.settings) !== null });
      if (this.settings.pid) {
        this.pidfile = new Pidfile(this.settings.pid);
        this.pidfile.create();
      }
    } catch (err) {
      this.failure = describeError(err);
      this.closeListeners();
      return (err as { exitCode?: number }).exitCode ?? ExitCode.INTERNAL;
    }
    for (const l of this.listeners) this.log.info('Listening at: %s (%d)', l.url, process.pid);
    this.log.info('Using worker: %s', this.settings.workerClass);
    this.installSignals();
    this.timeoutCheck = setInterval(() => this.murderUnresponsiveWorkers(), 1000);
    this.manageWorkers();
    return this.finished;
  }

  // ---- signals -------------------------------------------------------------------------------

  private readonly signalHandlers: Partial<Record<NodeJS.Signals, () => Promise<void> | void>> = {
    SIGTERM: () => this.stop(true),
    SIGINT: () => this.stop(false),
    SIGQUIT: () => this.stop(false),
  };

  private installSignals(): void {
    for (const sig of Object.keys(this.signalHandlers) as NodeJS.Signals[]) {
      process.on(sig, () => {
        this.signalQueue.push(sig);
        void this.handleSignals();
      });
    }
  }

  /** Signals are handled in arrival order, each to completion, like Gunicorn's SIG_QUEUE. */
  private async handleSignals(): Promise<void> {
    if (this.handlingSignals) return;
    this.handlingSignals = true;
    while (this.signalQueue.length) {
      const sig = this.signalQueue.shift()!;
      this.log.info('Handling signal: %s', sig.slice(3).toLowerCase());
      try {
        await this.signalHandlers[sig]?.();
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'Error while handling %s', sig);
      }
    }
    this.handlingSignals = false;
  }

  // ---- workers -------------------------------------------------------------------------------

  private liveWorkers(): WorkerProcess[] {
    return [...this.workers.values()].filter((w) => w.state !== 'stopping');
  }

  /** Start or stop workers until as many run as the settings ask. */
  private manageWorkers(): void {
    if (this.stopping || this.respawnTimer) return;
    const live = this.liveWorkers();
    for (let n = live.length; n < this.settings.workers; n++) this.spawnWorker();
    const extra = live.length - this.settings.workers;
    if (extra > 0) {
      for (const w of live.sort((a, b) => a.bornAt - b.bornAt).slice(0, extra)) w.stop(true, this.settings.gracefulTimeout, 'scaled down');
    }
  }

  private spawnWorker(): void {
    const w = new WorkerProcess(
      {
        settings: jsonSafe(this.settings),
        listeners: this.listeners.map((l) => ({ fd: l.fd, address: l.url, scheme: l.scheme })),
        generation: this.generation,
        cwd: process.cwd(),
      },
      this.generation,
      (worker, message) => this.onWorkerMessage(worker, message),
    );
    this.workers.set(w.pid, w);
    w.child.on('exit', (code, signal) => this.onWorkerExit(w, code, signal));
    this.log.info('Booting worker with pid: %d', w.pid);
  }

  private onWorkerMessage(w: WorkerProcess, message: WorkerMessage): void {
    if (message.t === 'ready') this.log.debug('Worker ready (pid: %d)', w.pid);
  }

  private onWorkerExit(w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    w.exited();
    this.workers.delete(w.pid);
    if (w.bootError && !this.stopping) {
      // The app cannot load: every new worker would fail the same way, so stop instead of looping.
      // (Once stopping, the other workers' boot errors only count down to the master's exit.)
      this.halt(w.bootError.message, w.bootError.exitCode);
      return;
    }
    if (this.stopping) {
      if (this.workers.size === 0) this.finishStop();
      return;
    }
    if (w.endReason) {
      this.log.info('Worker exited (pid: %d): %s', w.pid, w.endReason);
    } else {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.log.warn('Worker (pid: %d) %s', w.pid, how);
      this.scheduleRespawnAfterCrash(Date.now() - w.bornAt);
      return;
    }
    this.manageWorkers();
  }

  /** Workers that keep dying soon after boot are respawned ever more slowly, never in a hot loop. */
  private scheduleRespawnAfterCrash(livedMs: number): void {
    this.earlyDeaths = livedMs < EARLY_DEATH_MS ? this.earlyDeaths + 1 : 0;
    if (this.earlyDeaths <= 1) {
      this.manageWorkers();
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** (this.earlyDeaths - 1));
    this.log.warn('Workers are dying soon after boot (%d in a row); next respawn in %d ms', this.earlyDeaths, delay);
    if (this.respawnTimer) return;
    this.respawnTimer = setTimeout(() => {
      this.respawnTimer = null;
      this.manageWorkers();
    }, delay);
  }

  /** A worker whose event loop is blocked stops beating: abort it, then kill it, and replace it. */
  private murderUnresponsiveWorkers(): void {
    const timeout = this.settings.timeout;
    if (timeout <= 0) return;
    const now = Date.now();
    for (const w of this.workers.values()) {
      if (w.state === 'stopping' || now - w.lastBeat <= timeout * 1000) continue;
      this.log.error('WORKER TIMEOUT (pid: %d): no heartbeat for %d s, the event loop is blocked', w.pid, timeout);
      w.state = 'stopping';
      w.endReason = `timed out after ${timeout} s`;
      w.signal('SIGABRT');
      w.killAfter(FAST_STOP_GRACE_SECONDS);
    }
  }

  // ---- stopping ------------------------------------------------------------------------------

  /** TERM: graceful; INT/QUIT: fast. Workers stop taking connections; the master exits last. */
  private stop(graceful: boolean): void {
    if (this.stopping && graceful) return;
    this.stopping = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    const grace = graceful ? this.settings.gracefulTimeout : FAST_STOP_GRACE_SECONDS;
    for (const w of this.workers.values()) w.stop(graceful, grace, 'shutdown');
    if (this.workers.size === 0) this.finishStop();
  }

  /** Why the master halted, for the one line the CLI prints. */
  failure: string | null = null;

  private halt(message: string, exitCode: number): void {
    if (this.stopping) return;
    this.failure = message;
    this.log.error(message);
    this.log.info('Shutting down: Master (reason: the app failed to load)');
    this.stopping = true;
    for (const w of this.workers.values()) w.stop(false, FAST_STOP_GRACE_SECONDS, 'halt');
    this.exitCode = exitCode;
    if (this.workers.size === 0) this.finishStop();
  }

  private exitCode: number = ExitCode.OK;

  private finishStop(): void {
    if (this.timeoutCheck) clearInterval(this.timeoutCheck);
    this.closeListeners();
    this.pidfile?.remove();
    if (this.exitCode === ExitCode.OK) this.log.info('Shutting down: Master');
    this.logTarget.flush();
    this.finish(this.exitCode);
  }

  private closeListeners(): void {
    for (const l of this.listeners) l.close();
    this.listeners = [];
  }
}
