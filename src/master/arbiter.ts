import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { lostConfigFile, type ResolvedSettings, unknownVariables } from '../config/resolve.js';
import type { Settings } from '../config/settings/index.js';
import { choices } from '../choices.js';
import { ExitCode, describeError, exitCodeOf } from '../errors.js';
import type { LogTarget, MasterLogTarget } from '../log/logger.js';
import { checkLogFiles } from '../log/destination.js';
import { resolveOwner } from '../worker/privileges.js';
import type { WorkerMessage } from '../worker/ipc-messages.js';
import { VERSION } from '../version.js';
import { EventEmitter } from 'node:events';
import type { ArbiterEventMap, ArbiterEvents, ReloadOutcome } from './arbiter-events.js';
import { WORKER_HOOKS, type MasterHookName } from '../config/settings/supervision.js';
import { MAX_WORKERS } from '../config/settings/workers.js';
import type { ArbiterSnapshot } from './control.js';
import { SyncDispatcher } from './dispatch.js';
import { type ConnectionBalancer, startBalancer } from './balancer.js';
import { Socket } from 'node:net';
import { runMasterHook, type ServerView, type WorkerView } from './hooks.js';
import { tlsOptions } from '../http/tls.js';
import { httpLimits } from '../http/limits.js';
import { adoptListeners, bindListeners, type Listener } from './listeners.js';
import { startObservability, type Observability } from './observability.js';
import { Pidfile } from './pidfile.js';
import { processExists } from '../supervision/process-alive.js';
import { descriptorShortage, openFileLimit, syncHoldLimit } from './open-file-limit.js';
import { optimizeFromNowOn } from './start-up-compiler.js';
import { flushCompileCache } from '../compile-cache.js';
import { allReadyWithin, mergeReloaded, RELOAD_READY_SECONDS } from './reload.js';
import { ShutdownDelay } from './shutdown-delay.js';
import {
  currentLaunch,
  movePidfile,
  OLDBIN_SUFFIX,
  spawnNewMaster,
  takeInheritance,
  type LaunchContext,
} from './upgrade.js';
import { freeIndex, toRetire } from './worker-index.js';
import { WORKER_ENTRY, WorkerProcess } from './worker-process.js';
import { OrphanReaper } from './orphan-reaper.js';
import { Slot } from './backoff.js';
import { watchForBlockedLoops } from '../supervision/blocked-loop.js';
import { EXIT_HOOK_SECONDS, forkCause, reloadStepSeconds, STOP_MARGIN_SECONDS } from './deadline.js';
import { settleWithin } from '../supervision/settle-within.js';

const FAST_STOP_GRACE_SECONDS = 1;
/** How long after its first worker is ready a master whose other workers are not yet ready settles anyway. */
const SETTLE_AFTER_FIRST_READY_MS = 1000;
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
/** The signals the master acts on, each by its handler in Arbiter.signalHandlers. */
const HANDLED_SIGNALS = choices(
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGHUP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
);
type HandledSignal = (typeof HANDLED_SIGNALS)[number];

export interface ArbiterOptions {
  /** Resolves the settings again from the same command line and environment (HUP). */
  reresolve?: () => Promise<ResolvedSettings>;
  /** How this master was started (USR2 starts the same command again). */
  launch?: LaunchContext;
}

/**
 * The master process, after Gunicorn's arbiter: it owns the listeners, keeps the right number of
 * workers alive, and turns signals into actions, one at a time.
 */
export class Arbiter {
  private readonly workers = new Map<number, WorkerProcess>();
  private listeners: Listener[] = [];
  /** sync class only: the master accepts and hands connections to idle workers. */
  private dispatcher: SyncDispatcher | null = null;
  private balancer: ConnectionBalancer | null = null;
  private pidfile: Pidfile | null = null;
  /** Kills the workers if this master dies without stopping them; null where it cannot run. */
  private reaper: OrphanReaper | null = null;
  /**
   * Whether the workers leave the master's death to the reaper (it runs, or is about to start)
   * rather than each watching with a thread of its own. As PID 1 (a container without an init),
   * the master's death ends every process in its namespace: there is nothing to reap.
   */
  private reaperExpected = process.pid !== 1 && OrphanReaper.available();
  private generation = 0;
  /** The highest generation ever started: a failed HUP's number is not reused. */
  private lastGeneration = 0;
  /** Gunicorn's num_workers: starts at `workers`; TTIN/TTOU/WINCH change it, HUP resets it. */
  private numWorkers: number;
  private stopping = false;
  /** While HUP waits for new workers, old ones are not culled for being "extra". */
  private reloading = false;
  private readonly launch: LaunchContext;
  /** The master started by USR2, while it runs. */
  private newMasterPid: number | null = null;
  /** Set when this master was started by USR2: the old master's pid. */
  private oldMasterPid: number | null = null;
  private readonly server: ServerView;
  private announcedReady = false;
  /** What start-up put off has been done (settleAfterStart), or is due by this timer. */
  private settled = false;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly signalQueue: HandledSignal[] = [];
  private handlingSignals = false;
  /** Each worker's slot (src/master/backoff.ts): its replacement inherits the slot's crash strikes. */
  private readonly slotOf = new Map<WorkerProcess, Slot>();
  /** Workers past --max-worker-memory that serve on while their slot backs off (onWorkerMessage). */
  private readonly pendingRecycles = new Map<WorkerProcess, { slot: Slot; at: number; timer: NodeJS.Timeout }>();
  /** Workers that served at least one request: their death is no crash-loop strike. */
  private readonly served = new WeakSet<WorkerProcess>();
  /** Slots waiting out their backoff (a crash loop, or a fork that failed) before a worker refills them. */
  private readonly waitingSlots = new Set<Slot>();
  private stopDeadline: NodeJS.Timeout | null = null;
  private timeoutCheck: NodeJS.Timeout | null = null;
  /** What observability.ts and the control socket watch: workers coming and going, reload outcomes. */
  // One listener per waiting control client (control.ts caps them): not a leak past 10.
  readonly events: ArbiterEvents = new EventEmitter<ArbiterEventMap>().setMaxListeners(0);
  /** How many HUPs the master has begun handling: each reload's ticket (see ReloadOutcome). */
  private reloadsBegun = 0;
  private observability: Observability | null = null;
  private readonly startedAt = Date.now();
  private finish!: (code: number) => void;
  private readonly finished = new Promise<number>((resolve) => (this.finish = resolve));
  /** Why the master halted, for the one line the CLI prints. */
  failure: string | null = null;
  private exitCode: number = ExitCode.OK;
  private finishing = false;
  /** TERM's --shutdown-delay, while it runs. */
  private readonly shutdownDelay = new ShutdownDelay();
  /** The app opened its own server: --bind is closed (appListensItself). */
  private selfListening = false;

  private readonly signalHandlers: Record<HandledSignal, () => Promise<void> | void> = {
    SIGTERM: () => this.terminate(),
    SIGINT: () => this.stop(false),
    SIGQUIT: () => this.stop(false),
    SIGHUP: () => this.reload(),
    SIGTTIN: () => this.setNumWorkers(this.numWorkers + 1),
    SIGTTOU: () => {
      if (this.numWorkers <= 1)
        this.log.info('TTOU ignored: there is %d worker, and never fewer than 1', this.numWorkers);
      else this.setNumWorkers(this.numWorkers - 1);
    },
    SIGUSR1: () => this.reopenLogs(),
    SIGUSR2: () => this.reexec(),
    SIGWINCH: () => {
      this.log.info('Gracefully stopping the workers; the master stays (TTIN or HUP starts workers again)');
      this.setNumWorkers(0);
    },
  };

  constructor(
    private resolved: ResolvedSettings,
    private readonly logTarget: LogTarget & Partial<Pick<MasterLogTarget, 'usePino'>>,
    private readonly options: ArbiterOptions = {},
  ) {
    this.numWorkers = resolved.settings.workers;
    this.launch = options.launch ?? currentLaunch();
    const self = this;
    this.server = {
      pid: process.pid,
      get settings() {
        return self.settings;
      },
      log: this.log,
      get numWorkers() {
        return self.numWorkers;
      },
    };
  }

  private get settings(): Settings {
    return this.resolved.settings;
  }

  private get log() {
    return this.logTarget.logger;
  }

  private hook(name: MasterHookName, ...args: unknown[]): Promise<void> {
    return runMasterHook(this.settings, this.log, name, [this.server, ...args]);
  }

  async run(): Promise<number> {
    this.log.info('Starting gserve %s', VERSION);
    const inherited = takeInheritance(process.env);
    try {
      await runMasterHook(this.settings, this.log, 'onStarting', [this.server], true);
      if (inherited) {
        this.oldMasterPid = inherited.oldMaster;
        // Like Gunicorn, the sockets passed down are served whatever --bind now says.
        const binds = inherited.binds ?? this.settings.bind;
        this.listeners = await adoptListeners(inherited.fds, binds, this.bindOptions());
        if (inherited.binds && JSON.stringify(binds) !== JSON.stringify(this.settings.bind))
          this.log.warn(
            `Setting "bind" changed (${JSON.stringify(binds)} -> ${JSON.stringify(this.settings.bind)}) but needs ` +
              `a stop and start to apply: a USR2 master serves the sockets the old one passed on; still using ` +
              JSON.stringify(binds),
          );
      } else this.listeners = await bindListeners(this.settings.bind, this.bindOptions());
      if (this.settings.pid) {
        this.pidfile = new Pidfile(this.settings.pid);
        this.pidfile.create();
      }
      this.observability = await startObservability(this.controls(), this.settings, this.logTarget, {
        folder: this.launch.cwd,
        namedFolder: this.launch.namedCwd,
        inherited: inherited?.sockets,
      });
    } catch (err) {
      this.failure = describeError(err);
      this.closeListeners();
      return exitCodeOf(err) ?? ExitCode.INTERNAL;
    }
    for (const l of this.listeners) this.log.info('Listening at: %s (%d)', l.url, process.pid);
    this.log.info('Using worker: %s', this.settings.workerClass);
    if (this.settings.http2 && this.settings.workerClass !== 'async')
      this.log.warn(
        `--http2 is not served by -k ${this.settings.workerClass}; clients get HTTP/1.1. Use -k async for HTTP/2.`,
      );
    for (const warning of unknownVariables(process.env)) this.log.warn(warning);
    if (this.settings.workerClass === 'sync') {
      this.dispatcher = new SyncDispatcher(
        this.log,
        httpLimits(this.settings),
        this.settings.proxyProtocol,
        syncHoldLimit(openFileLimit(), this.settings.workers),
      );
      this.dispatcher.start(this.listeners, this.settings.backlog);
      if (this.oldMasterPid !== null && processExists(this.oldMasterPid)) this.dispatcher.holdUntilWorker();
    } else {
      this.balancer = startBalancer(this.log);
      const shortage = descriptorShortage(this.settings.workerConnections, openFileLimit());
      if (shortage) this.log.warn(shortage);
    }
    this.installSignals();
    this.timeoutCheck = watchForBlockedLoops({
      everyMs: 1000,
      timeoutMs: () => this.settings.timeout * 1000,
      watched: () => [...this.workers.values()].filter((w) => w.state !== 'stopping'),
      onBlocked: (w) => this.murderUnresponsiveWorker(w),
    });
    this.manageWorkers();
    if (this.reaperExpected) {
      this.reaper = OrphanReaper.start(WORKER_ENTRY, (why) => this.reaperLost(why));
      this.tellReaper();
    }
    return this.finished;
  }

  private bindOptions() {
    return {
      umask: this.settings.umask,
      tls: tlsOptions(this.settings) !== null,
      backlog: this.settings.backlog,
      owner: resolveOwner(this.settings.user, this.settings.group),
    };
  }

  /** What the control socket, the metrics and --reload may see and do: the signals' own handlers. */
  private controls() {
    return {
      events: this.events,
      snapshot: (): ArbiterSnapshot => ({
        pid: process.pid,
        startedAt: this.startedAt,
        bind: this.listeners.map((l) => l.url),
        workerClass: this.settings.workerClass,
        target: this.numWorkers,
        generation: this.generation,
        stopping: this.stopping,
        reloading: this.reloading,
        gracefulTimeout: this.settings.gracefulTimeout,
        reloadBound: reloadStepSeconds(this.settings.timeout),
        workers: [...this.workers.values()],
      }),
      reload: () => {
        // HUPs run one at a time and a queued one absorbs the next: whichever handles this request
        // is the next to begin (and it may begin before enqueueSignal returns).
        const ticket = this.reloadsBegun + 1;
        this.enqueueSignal('SIGHUP');
        return ticket;
      },
      scale: (n: number) => this.setNumWorkers(n),
      stop: (graceful: boolean) => this.enqueueSignal(graceful ? 'SIGTERM' : 'SIGQUIT'),
    };
  }

  // ---- signals -------------------------------------------------------------------------------

  private installSignals(): void {
    for (const sig of HANDLED_SIGNALS) process.on(sig, () => this.enqueueSignal(sig));
  }

  private enqueueSignal(sig: HandledSignal): void {
    // A stop never waits behind another signal: a HUP waiting for its workers or its config, a hook
    // that never returns. Whatever those were doing is abandoned (they check `stopping`).
    if (STOP_SIGNALS.includes(sig)) return void this.handleSignal(sig);
    // A HUP still waiting in the queue will read the config the way it is then: a second one adds nothing.
    if (sig === 'SIGHUP' && this.signalQueue.includes(sig))
      return void this.log.info('HUP coalesced: a reload is already queued');
    this.signalQueue.push(sig);
    void this.handleSignals();
  }

  /** Signals are handled in arrival order, each to completion, like Gunicorn's SIG_QUEUE. */
  private async handleSignals(): Promise<void> {
    if (this.handlingSignals) return;
    this.handlingSignals = true;
    while (this.signalQueue.length) await this.handleSignal(this.signalQueue.shift()!);
    this.handlingSignals = false;
  }

  private async handleSignal(sig: HandledSignal): Promise<void> {
    this.log.info('Handling signal: %s', sig.slice(3).toLowerCase());
    try {
      await this.signalHandlers[sig]();
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'Error while handling %s', sig);
    }
  }

  // ---- workers -------------------------------------------------------------------------------

  private liveWorkers(): WorkerProcess[] {
    return [...this.workers.values()].filter((w) => w.state !== 'stopping');
  }

  /** Start or stop workers until the number the settings ask for run. */
  private manageWorkers(): void {
    if (this.stopping) return;
    const live = this.liveWorkers();
    // A slot waiting out its backoff is taken; every other missing worker starts at once.
    for (let n = live.length + this.waitingSlots.size; n < this.numWorkers; n++) this.spawnWorker(new Slot());
    let extra = live.length + this.waitingSlots.size - this.numWorkers;
    if (extra > 0 && !this.reloading) {
      for (const slot of [...this.waitingSlots].slice(0, extra)) {
        slot.cancel();
        this.waitingSlots.delete(slot);
        extra--;
      }
      for (const w of toRetire(live, Math.max(0, extra))) w.stop(true, this.settings.gracefulTimeout, 'scaled down');
    }
  }

  /** Refills `slot` after `ms` (at once for 0); meanwhile it counts for taken. */
  private refillAfter(slot: Slot, ms: number): void {
    if (this.stopping) return;
    if (ms <= 0) {
      if (this.liveWorkers().length + this.waitingSlots.size < this.numWorkers) this.spawnWorker(slot);
      this.manageWorkers();
      return;
    }
    this.waitingSlots.add(slot);
    slot.wait(ms, () => {
      this.waitingSlots.delete(slot);
      this.refillAfter(slot, 0);
    });
  }

  private setNumWorkers(n: number): void {
    const old = this.numWorkers;
    // A TTIN or TTOU queued behind a TERM: the workers are leaving, and the hook would hear of a change that never comes.
    if (this.stopping) return void this.log.info('Staying at %s: the master is stopping', countOf(old, 'worker'));
    if (n > MAX_WORKERS)
      return void this.log.warn('Staying at %d workers: %d is the most one master runs', old, MAX_WORKERS);
    if (n === old) return;
    this.numWorkers = n;
    this.log.info('Number of workers: %d (was %d)', n, old);
    void this.hook('nworkersChanged', n, old);
    // -k sync: with no workers to come, connections are left in the kernel's queue, for a USR2
    // successor on the same sockets or this master's next workers; what was accepted goes to the
    // leaving workers, before their stop.
    if (n === 0) this.dispatcher?.handOff(this.liveWorkers());
    else this.dispatcher?.resume();
    this.manageWorkers();
  }

  /**
   * Starts a worker in `slot`. A fork can fail (EMFILE, EAGAIN, ENOMEM): then no worker is recorded
   * (never one without a pid), the cause is logged, and unless `retry` is false the slot is
   * refilled after its backoff. Returns null when the fork failed.
   */
  private spawnWorker(slot: Slot, retry = true): WorkerProcess | null {
    void this.hook('preFork', { pid: null, generation: this.generation } satisfies WorkerView);
    const hasWorkerHooks = WORKER_HOOKS.some((name) => typeof this.settings[name] === 'function');
    const boardSlot = this.balancer?.claim() ?? null;
    // By name: a `current` symlink that now points at a new release is followed.
    const cwd = this.settings.chdir ? resolve(this.launch.namedCwd, this.settings.chdir) : this.launch.namedCwd;
    let w: WorkerProcess;
    try {
      w = new WorkerProcess(
        {
          // The boot message travels in JSON, which drops the server hooks (functions).
          settings: this.settings,
          listeners: this.listeners.map((l) => ({ fd: l.fd, address: l.url, scheme: l.scheme, port: l.port })),
          generation: this.generation,
          cwd,
          configFile: hasWorkerHooks ? this.resolved.configFile : null,
          orphanWatchdog: !this.reaperExpected && process.pid !== 1,
          shutdownPending: this.shutdownDelay.pending,
          board: boardSlot === null ? undefined : { fd: this.balancer!.fd, slot: boardSlot },
        },
        this.generation,
        (worker, message, handle) => this.onWorkerMessage(worker, message, handle),
        freeIndex(this.liveWorkers(), this.generation),
      );
    } catch (err) {
      if (boardSlot !== null) this.balancer!.release(boardSlot);
      this.forkFailed(slot, err, retry, cwd);
      return null;
    }
    if (w.pid === undefined) {
      if (boardSlot !== null) this.balancer!.release(boardSlot);
      // EMFILE/EAGAIN come in an 'error' event on the next tick; hold the slot until then.
      if (retry) this.waitingSlots.add(slot);
      w.child.once('error', (err) => {
        this.waitingSlots.delete(slot);
        this.forkFailed(slot, err, retry, cwd);
      });
      return null;
    }
    if (boardSlot !== null) this.balancer!.hold(w, boardSlot);
    this.slotOf.set(w, slot);
    this.workers.set(w.pid, w);
    this.tellReaper();
    w.child.on('exit', (code, signal) => this.onWorkerExit(w, code, signal));
    this.events.emit('spawn', w);
    this.log.info('Booting worker with pid: %d', w.pid);
    return w;
  }

  /** Who the reaper kills if this master dies, and when: the workers' graceful stop, as the master gives it. */
  private tellReaper(): void {
    this.reaper?.watch(this.workers.keys(), this.settings.gracefulTimeout);
  }

  /**
   * The reaper could not start, or someone killed it: every worker watches for the master's death
   * itself from now on, the running ones told so, the ones forked later by their boot settings.
   */
  private reaperLost(why: string): void {
    if (!this.reaperExpected) return;
    this.reaperExpected = false;
    this.reaper = null;
    this.log.warn('%s; workers will run their own watchdog threads', why[0]!.toUpperCase() + why.slice(1));
    for (const w of this.workers.values()) w.send({ t: 'watch-orphans', why });
  }

  private forkFailed(slot: Slot, err: unknown, retry: boolean, cwd: string): void {
    const cause = forkCause(err, cwd);
    if (!retry || this.stopping) return void this.log.error('Cannot start a worker: %s', cause);
    const delay = slot.afterForkFailure();
    this.log.error('Cannot start a worker: %s; retrying in %d ms', cause, delay);
    this.refillAfter(slot, delay);
  }

  /**
   * The workers asked for are ready (or the first has served a while): what the master put off so as
   * to fork sooner comes now, off the way to the first answers. pino's modules take the master 20-30 ms
   * to load, which would otherwise take a core from a worker still booting on a small machine. pino is
   * loaded while TurboFan is still off (start-up-compiler.ts says why).
   */
  private settleAfterStart(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.logTarget.usePino?.();
    optimizeFromNowOn();
    flushCompileCache();
  }

  private onWorkerMessage(w: WorkerProcess, message: WorkerMessage, handle: unknown): void {
    if (message.t === 'surplus') {
      if (handle instanceof Socket) this.balancer?.route(w, handle, message.listener, this.workers.values());
      return;
    }
    this.events.emit('message', w, message);
    if (message.t === 'ready') {
      this.log.debug('Worker ready (pid: %d)', w.pid);
      // A worker still loading when --shutdown-delay began was not listening for messages yet when
      // it was told (a message with no listener is lost): told again, or its health check would
      // answer 200 in the middle of the stop.
      if (this.shutdownDelay.pending) w.send({ t: 'shutdown-pending' });
      // whenReady: the first time the number of workers asked for serve.
      if (!this.announcedReady && this.liveWorkers().filter((l) => l.state === 'ready').length >= this.numWorkers) {
        this.announcedReady = true;
        this.settleAfterStart();
        void this.hook('whenReady');
      }
      // Some of the workers may never boot: the master settles a second after the first one did.
      if (!this.settled)
        this.settleTimer ??= setTimeout(() => this.settleAfterStart(), SETTLE_AFTER_FIRST_READY_MS).unref();
    } else if (message.t === 'idle') {
      this.dispatcher?.workerIdle(w);
    } else if (message.t === 'serving') {
      this.served.add(w);
    } else if (message.t === 'self-listen') {
      this.appListensItself(message.addresses);
    } else if (message.t === 'signalled') {
      if (w.state !== 'stopping') w.signalled = message.signal;
    } else if (message.t === 'retire' && message.now) {
      // Past the memory ceiling and still growing after it asked to retire: draining would let it
      // grow until --graceful-timeout (or its slot's backoff), so it stops at once.
      this.log.error('Stopping worker (pid: %d) at once: %s; its requests in flight are cut', w.pid, message.reason);
      w.stop(false, FAST_STOP_GRACE_SECONDS, `recycled: ${message.reason}`);
      const pending = this.stopping ? undefined : this.dropPendingRecycle(w);
      if (pending) {
        // It was serving on while its slot backed off: the slot waits out the rest of it.
        this.slotOf.delete(w);
        this.refillAfter(pending.slot, Math.max(0, pending.at - Date.now()));
      }
    } else if (message.t === 'retire' && w.state !== 'stopping' && !this.stopping) {
      const slot = this.slotOf.get(w);
      if (message.memory && slot) {
        // Past the ceiling before its second response, the ceiling is about the app's own size:
        // replacing it at once, each time, burned a core in a fork loop. Such a slot backs off as
        // a crash loop does, and its worker serves on meanwhile (MEMORY_HARD_FACTOR still bounds
        // it), so capacity is not lost to the wait. A worker that got there by serving (a leak)
        // proves its slot and is replaced at once.
        const delay = slot.afterDeath(Date.now() - w.bornAt, !message.early);
        if (delay > 0) {
          this.log.warn(
            "Workers pass --max-worker-memory as soon as they boot (%d in a row in this slot): is the ceiling below the app's own size? Worker (pid: %d) serves on and is recycled in %d ms",
            slot.strikes,
            w.pid,
            delay,
          );
          const timer = setTimeout(() => {
            this.pendingRecycles.delete(w);
            if (this.workers.get(w.pid) === w && w.state !== 'stopping' && !this.stopping)
              this.recycle(w, message.reason, true);
          }, delay);
          timer.unref();
          this.pendingRecycles.set(w, { slot, at: Date.now() + delay, timer });
          return;
        }
      }
      this.recycle(w, message.reason, message.memory);
    }
  }

  /**
   * Recycling: stop the worker gracefully and start its replacement at once; for the memory
   * ceiling, in its slot, which keeps its strikes (see onWorkerMessage).
   */
  private recycle(w: WorkerProcess, reason: string, memory = false): void {
    this.log.info('Recycling worker (pid: %d): %s', w.pid, reason);
    w.stop(true, this.settings.gracefulTimeout, `recycled: ${reason}`);
    const slot = memory ? this.slotOf.get(w) : undefined;
    if (!slot) return this.manageWorkers();
    this.slotOf.delete(w);
    this.refillAfter(slot, 0);
  }

  /** Ends `w`'s wait to be recycled (onWorkerMessage), if it has one, and returns it. */
  private dropPendingRecycle(w: WorkerProcess) {
    const pending = this.pendingRecycles.get(w);
    if (pending) {
      this.pendingRecycles.delete(w);
      clearTimeout(pending.timer);
    }
    return pending;
  }

  private onWorkerExit(w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    w.exited();
    this.workers.delete(w.pid);
    const pendingRecycle = this.dropPendingRecycle(w);
    this.tellReaper();
    const slot = this.slotOf.get(w) ?? new Slot();
    this.slotOf.delete(w);
    this.events.emit('exit', w, this.stopping);
    this.dispatcher?.workerGone(w);
    this.balancer?.workerGone(w);
    void this.hook('childExit', { pid: w.pid, generation: w.generation } satisfies WorkerView);
    if (w.bootError && !this.stopping) {
      // A new generation that cannot boot fails its HUP, which keeps the old workers serving.
      if (this.reloading || w.endReason) return;
      const serving = [...this.workers.values()].filter((o) => o.state === 'ready').length;
      if (serving === 0) {
        // In development, the next save may fix it: --reload's reload starts the workers again.
        if (this.settings.reload) return this.waitForFix(w.bootError.message);
        // The app cannot load: every new worker would fail the same way, so stop instead of looping.
        this.halt(w.bootError.message, w.bootError.exitCode);
        return;
      }
      // A replacement (for a recycled or crashed worker) found the code on disk changed under a running
      // server, a deploy half done: the workers that serve go on, and this slot retries with the
      // crash-loop backoff below until the code loads again (or a HUP brings code that does).
      this.log.error(
        'A new worker cannot load the app; the %d serving worker(s) go on, and it is retried: %s',
        serving,
        w.bootError.message,
      );
    }
    if (this.stopping) {
      if (this.workers.size === 0) this.finishStop();
      return;
    }
    if (w.endReason) {
      // Ended by the master (recycled, scaled down, timed out, reloaded): replaced at once.
      this.log.info('Worker exited (pid: %d): %s', w.pid, w.endReason);
      this.manageWorkers();
      return;
    }
    // Stopped by a signal sent to it, not by this master: as Gunicorn's arbiter, a quiet replacement,
    // but through the backoff below, as the app may send it to itself right after each boot.
    if (w.signalled) this.log.info('Worker exited (pid: %d): stopped on a %s sent to it', w.pid, w.signalled);
    else this.log.warn('Worker (pid: %d) %s', w.pid, signal ? `was killed by ${signal}` : `exited with code ${code}`);
    // Its slot was struck when it passed the ceiling at boot, and was waiting that strike out: this
    // boot is not struck twice, and the replacement comes when the wait would have ended.
    if (pendingRecycle) return this.refillAfter(slot, Math.max(0, pendingRecycle.at - Date.now()));
    // Only this slot backs off, and only while its workers die before proving themselves.
    const delay = slot.afterDeath(Date.now() - w.bornAt, this.served.has(w));
    if (delay > 0)
      this.log.warn(
        'Workers are dying soon after boot (%d in a row in this slot); next respawn in %d ms',
        slot.strikes,
        delay,
      );
    this.refillAfter(slot, delay);
  }

  /**
   * The app opened its own server (worker/self-listen.ts): its workers share that socket through
   * node:cluster. gserve's --bind would queue connections nobody answers, so it is closed (refused).
   */
  private appListensItself(addresses: string[]): void {
    if (this.selfListening) return;
    this.selfListening = true;
    const bind = this.listeners.map((l) => l.url).join(', ');
    this.log.info(
      'The app listens itself on %s, in every worker (node:cluster shared socket)%s',
      addresses.join(', ') || '(no address yet)',
      bind ? `; not serving --bind ${bind}` : '',
    );
    this.closeListeners();
  }

  /** A worker whose event loop is blocked stops beating: abort it, then kill it, and replace it. */
  private murderUnresponsiveWorker(w: WorkerProcess): void {
    const timeout = this.settings.timeout;
    if (w.state === 'booting')
      this.log.error(
        'WORKER TIMEOUT (pid: %d): not ready after %d s (--timeout): loading the app, its lifespan startup ' +
          'or a boot hook has not finished',
        w.pid,
        timeout,
      );
    else this.log.error('WORKER TIMEOUT (pid: %d): no heartbeat for %d s, the event loop is blocked', w.pid, timeout);
    w.abort(`timed out after ${timeout} s`, FAST_STOP_GRACE_SECONDS);
  }

  // ---- reload, logs, upgrade -----------------------------------------------------------------

  /**
   * HUP: read the config file again, start a new generation of workers with the new settings and
   * freshly loaded code, and only once they all serve, stop the old ones gracefully. If the new
   * ones cannot boot, the old ones keep serving with the old settings.
   */
  private async reload(): Promise<void> {
    this.observability?.restore();
    const ticket = ++this.reloadsBegun;
    let outcome: ReloadOutcome = { ticket, ok: false, started: false, generation: this.generation };
    try {
      outcome = await this.reloadGeneration(ticket);
    } finally {
      this.events.emit('reload', outcome);
    }
  }

  /** The HUP itself; its outcome is announced by reload(). */
  private async reloadGeneration(ticket: number): Promise<ReloadOutcome> {
    const refused = (reason?: string): ReloadOutcome => ({
      ticket,
      ok: false,
      started: false,
      generation: this.generation,
      reason: reason ?? 'the master is stopping',
      stopping: reason === undefined,
    });
    if (this.stopping) {
      this.log.warn('HUP ignored: this master is stopping');
      return refused();
    }
    const pipe = namedPipeConfig(this.resolved.configFile);
    if (pipe) {
      this.log.error('Reload failed, keeping the running settings and workers: %s', pipe);
      return refused(pipe);
    }
    // A config file whose top-level await never settles must not wedge the master: bounded.
    const bound = reloadStepSeconds(this.settings.timeout);
    let fresh;
    try {
      const loaded = await settleWithin(
        this.options.reresolve ? this.options.reresolve() : Promise.resolve(this.resolved),
        bound * 1000,
      );
      if (!loaded.done) {
        if (this.stopping) return refused();
        const reason = `loading the config did not finish within ${bound} s`;
        this.log.error('Reload failed: %s; keeping the running settings and workers', reason);
        return refused(reason);
      }
      fresh = loaded.value;
      // As at start: new workers that cannot open their logs would fail to boot, or log nowhere.
      checkLogFiles(fresh.settings, { owner: resolveOwner(fresh.settings.user, fresh.settings.group) });
      const lost = lostConfigFile(this.resolved, fresh);
      if (lost) throw lost;
    } catch (err) {
      const reason = describeError(err);
      this.log.error('Reload failed, keeping the running settings and workers: %s', reason);
      return refused(reason);
    }
    if (this.stopping) return refused();
    const previous = { resolved: this.resolved, generation: this.generation };
    const { resolved, needsRestart } = mergeReloaded(this.resolved, fresh);
    for (const c of needsRestart) {
      const [was, wanted] = [JSON.stringify(c.running), JSON.stringify(c.wanted)];
      // A USR2 master adopts the running sockets, so only a stop and start rebinds.
      const how = c.name === 'bind' ? 'a stop and start' : 'a restart (USR2, or stop and start)';
      this.log.warn(`Setting "${c.name}" changed (${was} -> ${wanted}) but needs ${how} to apply; still using ${was}`);
    }
    this.resolved = resolved;
    if (!(await settleWithin(this.hook('onReload'), bound * 1000)).done)
      this.log.error('The onReload hook did not return within %d s; reloading anyway', bound);
    if (this.stopping) return refused();
    this.generation = ++this.lastGeneration;
    this.lastUnfixed = null;
    this.events.emit('reload-start', ticket, this.generation);
    const old = this.liveWorkers();
    this.reloading = true;
    const spawned = Array.from({ length: this.settings.workers }, () => this.spawnWorker(new Slot(), false));
    const fresher = spawned.filter((w): w is WorkerProcess => w !== null);
    const allReady =
      fresher.length === spawned.length &&
      (await allReadyWithin(fresher, this.settings.timeout > 0 ? this.settings.timeout : RELOAD_READY_SECONDS));
    this.reloading = false;
    const rolledBack = (): ReloadOutcome => ({ ticket, ok: false, started: true, generation: this.generation });
    if (this.stopping) return rolledBack();
    if (!allReady) {
      const why =
        fresher.length < spawned.length
          ? 'a new worker could not be started'
          : (fresher.find((w) => w.bootError)?.bootError?.message ?? 'the new workers did not become ready');
      // The reason goes last: an app's load error ends with the offending source line, on lines of its own.
      if (old.length === 0) this.log.error('Reload failed, and no worker serves: %s', why);
      else
        this.log.error(
          'Reload failed, keeping the %s of generation %d: %s',
          countOf(old.length, 'worker'),
          previous.generation,
          why,
        );
      // Gracefully: those that did become ready may already hold connections.
      for (const w of fresher) w.stop(true, this.settings.gracefulTimeout, 'reload failed');
      this.resolved = previous.resolved;
      this.generation = previous.generation;
      return rolledBack();
    }
    this.log.info(
      'Reloaded: generation %d is serving; gracefully stopping %s',
      this.generation,
      countOf(old.length, 'old worker'),
    );
    for (const w of old) w.stop(true, this.settings.gracefulTimeout, 'reloaded');
    this.setNumWorkers(this.settings.workers);
    this.manageWorkers();
    return { ticket, ok: true, generation: this.generation };
  }

  /** USR1: reopen the master's log file and tell the workers to reopen theirs (logrotate). */
  private reopenLogs(): void {
    this.logTarget.reopen();
    this.observability?.restore();
    // Workers under --user reopen their files as that user, who may not create one in the folder:
    // the master makes the moved-away files again, theirs, as at start.
    const owner = resolveOwner(this.settings.user, this.settings.group);
    if (owner)
      try {
        checkLogFiles(this.settings, { owner });
      } catch (err) {
        this.log.error('Reopening the logs: %s', describeError(err));
      }
    for (const w of this.workers.values()) w.send({ t: 'reopen-logs' });
    this.log.info('Reopened the log files');
  }

  /**
   * USR2: start a new master from the current code and binary on the same listening sockets. This
   * master keeps serving (its pidfile becomes PIDFILE.oldbin) until WINCH/TERM, so a bad deploy can
   * be rolled back by stopping the new master.
   */
  private async reexec(): Promise<void> {
    // A stop that has begun is final: a new master started now would outlive it, on its sockets.
    if (this.stopping) return void this.log.warn('USR2 ignored: this master is stopping');
    if (this.newMasterPid !== null)
      return void this.log.warn('USR2 ignored: a new master (pid: %d) is already running', this.newMasterPid);
    if (this.oldMasterPid !== null && processExists(this.oldMasterPid)) {
      return void this.log.warn('USR2 ignored: the old master (pid: %d) has not exited yet', this.oldMasterPid);
    }
    const pidPath = this.settings.pid;
    if (pidPath && movePidfile(pidPath, pidPath + OLDBIN_SUFFIX)) this.pidfile = new Pidfile(pidPath + OLDBIN_SUFFIX);
    await this.hook('preExec');
    const child = spawnNewMaster(this.launch, this.listeners, this.observability?.inheritable());
    this.newMasterPid = child.pid ?? null;
    // The new master answers the control socket and the metrics from now on (back here on rollback).
    if (this.newMasterPid !== null) this.observability?.handOver();
    this.log.info(
      'Started a new master (pid: %s) on the same listeners; this master keeps serving until WINCH or TERM',
      this.newMasterPid,
    );
    child.on('exit', (code, signal) => {
      // Roll back: this master is in charge again, under the usual pidfile name.
      if (pidPath && !this.stopping && movePidfile(pidPath + OLDBIN_SUFFIX, pidPath))
        this.pidfile = new Pidfile(pidPath);
      // After WINCH this master has no workers: its listeners take connections that no one answers.
      this.log.warn(
        `The new master (pid: %s) exited (%s); this master stays in charge${
          this.numWorkers === 0 && !this.stopping
            ? ' with no workers (WINCH stopped them): send HUP or TTIN to serve again, or TERM to stop'
            : ''
        }`,
        this.newMasterPid,
        signal ?? `code ${code}`,
      );
      this.newMasterPid = null;
      if (!this.stopping) void this.observability?.takeBack();
    });
  }

  // ---- stopping ------------------------------------------------------------------------------

  /** TERM: workers fail their health check at once; after --shutdown-delay, the graceful stop. */
  private terminate(): void {
    if (this.stopping || this.shutdownDelay.pending) return;
    const delay = this.settings.shutdownDelay;
    // Logged (synchronously) before the workers hear of it, so the log tells the cause before their answer.
    if (delay > 0)
      this.log.info('Shutdown delay: serving %d s more with the health check failing, then stopping gracefully', delay);
    for (const w of this.workers.values()) w.send({ t: 'shutdown-pending' });
    this.shutdownDelay.start(delay, () => this.stop(true));
  }

  /** TERM: graceful; INT/QUIT: fast. Workers stop taking connections; the master exits last. */
  private stop(graceful: boolean): void {
    this.shutdownDelay.cancel();
    if (this.stopping && graceful) return;
    this.stopping = true;
    // Like Gunicorn: the master lets go of the sockets first, and each worker closes its copy when it
    // starts draining, so new connections are refused at once instead of waiting in a backlog
    // nobody will accept from and being reset when the last worker exits (docs/listening.md). With
    // a USR2 successor serving on the same sockets, what -k sync accepted is still ours to answer.
    if (graceful && this.otherMasterAlive()) this.dispatcher?.handOff(this.liveWorkers());
    this.cancelWaitingSlots();
    this.closeListeners();
    const grace = graceful ? this.settings.gracefulTimeout : FAST_STOP_GRACE_SECONDS;
    for (const w of this.workers.values()) w.stop(graceful, grace, 'shutdown');
    this.armStopDeadline(grace);
    if (this.workers.size === 0) this.finishStop();
  }

  private cancelWaitingSlots(): void {
    for (const slot of this.waitingSlots) slot.cancel();
    this.waitingSlots.clear();
  }

  /**
   * Whatever state the workers are in, the master exits within the grace period plus a margin: a
   * worker the kernel has not reaped by then is SIGKILLed once more and left behind.
   */
  private armStopDeadline(graceSeconds: number): void {
    if (this.stopDeadline) clearTimeout(this.stopDeadline);
    this.stopDeadline = setTimeout(
      () => {
        const left = [...this.workers.values()];
        this.log.error(
          'Stop deadline passed: %d worker(s) did not exit (pids: %s); exiting anyway',
          left.length,
          left.map((w) => w.pid).join(', '),
        );
        for (const w of left) w.signal('SIGKILL');
        this.workers.clear();
        this.finishStop();
      },
      (graceSeconds + STOP_MARGIN_SECONDS) * 1000,
    );
  }

  /** The same failure of each worker of a generation is told once. */
  private lastUnfixed: string | null = null;

  /** --reload, and no worker can load the app: nothing is forked until a change brings a reload. */
  private waitForFix(message: string): void {
    if (message === this.lastUnfixed) return;
    this.lastUnfixed = message;
    this.log.error('No worker can load the app; --reload starts them again when a file changes: %s', message);
  }

  private halt(message: string, exitCode: number): void {
    if (this.stopping) return;
    this.failure = message;
    this.log.error(message);
    // Gunicorn's two reasons: its APP_LOAD_ERROR and WORKER_BOOT_ERROR.
    const reason = exitCode === ExitCode.APP_LOAD ? 'the app failed to load' : 'a worker failed to boot';
    this.log.info('Shutting down: Master (reason: %s)', reason);
    this.stopping = true;
    // The other master's workers take what comes from now on.
    if (this.otherMasterAlive()) this.dispatcher?.pause();
    this.cancelWaitingSlots();
    for (const w of this.workers.values()) w.stop(false, FAST_STOP_GRACE_SECONDS, 'halt');
    this.armStopDeadline(FAST_STOP_GRACE_SECONDS);
    this.exitCode = exitCode;
    if (this.workers.size === 0) this.finishStop();
  }

  private finishStop(): void {
    if (this.finishing) return;
    this.finishing = true;
    if (this.stopDeadline) clearTimeout(this.stopDeadline);
    if (this.timeoutCheck) clearInterval(this.timeoutCheck);
    this.observability?.close(!this.otherMasterAlive());
    this.closeListeners();
    this.pidfile?.remove();
    this.reaper?.stop();
    if (this.exitCode === ExitCode.OK) this.log.info('Shutting down: Master');
    // An onExit hook that never returns does not keep the master alive.
    void settleWithin(this.hook('onExit'), EXIT_HOOK_SECONDS * 1000).then((r) => {
      if (!r.done) this.log.error('The onExit hook did not return within %d s; exiting anyway', EXIT_HOOK_SECONDS);
      this.logTarget.flush();
      this.finish(this.exitCode);
    });
  }

  /** A USR2 successor or predecessor that still runs shares the sockets' paths. */
  private otherMasterAlive(): boolean {
    return [this.newMasterPid, this.oldMasterPid].some((pid) => pid !== null && processExists(pid));
  }

  private closeListeners(): void {
    this.dispatcher?.stop();
    this.dispatcher = null;
    // After a USR2 upgrade the old master is gone once WINCH/TERM took it: its pid no longer holds
    // the paths, and the last master out removes a unix: socket file.
    const unlink = !this.otherMasterAlive();
    for (const l of this.listeners) l.close(unlink);
    this.listeners = [];
  }
}

/** "1 worker", "2 workers": log lines read as sentences, with -w 1 too. */
const countOf = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/**
 * Why the config file cannot be read again on HUP: it is a named pipe now. Reading one that nothing
 * writes to holds a thread of Node's pool in open(2) for ever, and a process's exit waits for that
 * pool: the master could not even stop, TERM or not. A pipe is read at start only (`-c <(…)`).
 */
function namedPipeConfig(file: string | null): string | null {
  try {
    if (!file || !statSync(file).isFIFO()) return null;
  } catch {
    return null; // gone or unreadable: the reload itself says so
  }
  return `the config file ${file} is a named pipe, which gserve reads at start only; make it a regular file and send HUP again`;
}
