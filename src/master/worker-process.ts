import cluster from 'node:cluster';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compileCacheEnv } from '../compile-cache.js';
import { OWN_VARIABLES } from '../config/own-variables.js';
import { monotonicNow } from '../supervision/blocked-loop.js';
import {
  BOOT_ENV,
  isWorkerMessage,
  type MasterMessage,
  type WorkerBoot,
  type WorkerMessage,
} from '../worker/ipc-messages.js';

export const WORKER_ENTRY = fileURLToPath(new URL('../worker/main.js', import.meta.url));
/** fd 3 is the IPC channel; listening sockets follow from fd 4. */
export const FIRST_LISTENER_FD = 4;
/** The worker's index, 0..N-1, stable across replacements (see master/worker-index.ts). */
export const INDEX_ENV = OWN_VARIABLES.workerIndex;
/** The same index under PM2's name, for apps written for PM2's cluster mode. */
export const PM2_INDEX_ENV = 'NODE_APP_INSTANCE';

// An app that listens itself (PM2 style) gets node:cluster's shared handle: every worker accepts on
// the one socket. Round-robin would make the master accept and pass each connection on, which is
// what gserve's master never does (except for the sync class, by its own dispatcher).
let clusterPrepared = false;
function prepareCluster(): void {
  if (clusterPrepared) return;
  clusterPrepared = true;
  cluster.schedulingPolicy = cluster.SCHED_NONE;
}

export type WorkerState = 'booting' | 'ready' | 'stopping';

/** The master's view of one worker process. */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly bornAt = Date.now();
  // Changed only by this class: by the worker's messages and the master's stop/abort below.
  #state: WorkerState = 'booting';
  #lastBeat = monotonicNow();
  #endReason: string | null = null;
  #bootError: Extract<WorkerMessage, { t: 'boot-error' }> | null = null;
  /** Resolves true when the worker reports ready, false if it exits first (HUP waits on it). */
  readonly ready: Promise<boolean>;
  private killTimer: NodeJS.Timeout | null = null;
  /** When killTimer fires (epoch ms). */
  private killAt = Number.POSITIVE_INFINITY;

  /** node:cluster's id for this worker (1, 2, …, never reused), which the app sees in cluster.worker.id. */
  readonly clusterId: number;

  constructor(
    /** The boot message, with the master's own descriptors: the child's are numbered from FIRST_LISTENER_FD. */
    boot: WorkerBoot,
    readonly generation: number,
    /** `handle`: a socket that came with the message. */
    onMessage: (w: WorkerProcess, m: WorkerMessage, handle: unknown) => void,
    /** The worker's slot, 0..N-1: a replacement takes the index of the worker it replaces. */
    readonly index: number = 0,
  ) {
    // A sync worker never accepts (the master hands it connections): it gets no listening socket,
    // whose copy would otherwise keep the port open after the master has closed it (TERM).
    const accepts = boot.settings.workerClass !== 'sync';
    const board = accepts ? boot.board : undefined;
    const inherited = accepts ? boot.listeners.map((l) => l.fd) : [];
    if (board) inherited.push(board.fd);
    const childBoot: WorkerBoot = {
      ...boot,
      listeners: boot.listeners.map((l, i) => ({ ...l, fd: accepts ? FIRST_LISTENER_FD + i : -1 })),
      // After the listeners.
      board: board && { fd: FIRST_LISTENER_FD + boot.listeners.length, slot: board.slot },
    };
    // --capture-output: stdout and stderr become pipes the master reads (src/log/capture.ts).
    const output = boot.settings.captureOutput ? 'pipe' : 'inherit';
    // A node:cluster worker, so the app sees cluster.isWorker and cluster.worker.id; the settings
    // apply to the next fork only, and the listening sockets are inherited at fixed descriptors.
    prepareCluster();
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      args: [],
      stdio: ['inherit', output, output, 'ipc', ...inherited],
      cwd: boot.cwd,
    });
    const worker = cluster.fork({
      [BOOT_ENV]: JSON.stringify(childBoot),
      [INDEX_ENV]: String(index),
      [PM2_INDEX_ENV]: String(index),
      ...compileCacheEnv(),
    });
    this.clusterId = worker.id;
    this.child = worker.process;
    this.pid = this.child.pid!;
    this.ready = new Promise((resolve) => {
      this.child.once('exit', () => resolve(false));
      this.child.on('message', (m: unknown) => isWorkerMessage(m) && m.t === 'ready' && resolve(true));
    });
    this.child.on('message', (m: unknown, handle: unknown) => {
      if (!isWorkerMessage(m)) return;
      if (m.t === 'beat') this.#lastBeat = monotonicNow();
      else if (m.t === 'ready') {
        this.#state = 'ready';
        this.#lastBeat = monotonicNow();
      } else if (m.t === 'boot-error') this.#bootError = m;
      onMessage(this, m, handle);
    });
    // A worker that dies mid-send closes the channel; that is reported by 'exit', not by an error.
    // A fork that fails (EMFILE, EAGAIN) is reported by 'error' on the child, which the arbiter
    // watches; cluster re-emits it on its Worker, where nobody must throw it.
    this.child.on('error', () => {});
    worker.on('error', () => {});
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** When the worker last showed its event loop turns: a heartbeat, or becoming ready. */
  get lastBeat(): number {
    return this.#lastBeat;
  }

  /** Why the master is ending this worker, for the exit log line; null when it ended on its own. */
  get endReason(): string | null {
    return this.#endReason;
  }

  /** What the worker reported when its app failed to load. */
  get bootError(): Extract<WorkerMessage, { t: 'boot-error' }> | null {
    return this.#bootError;
  }

  send(message: MasterMessage): void {
    if (this.child.connected) this.child.send(message, () => {});
  }

  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // already gone
    }
  }

  /** Ask the worker to stop; kill it if it has not exited after `graceSeconds`. */
  stop(graceful: boolean, graceSeconds: number, reason: string): void {
    const booting = this.#state === 'booting';
    if (this.#state !== 'stopping') {
      this.#state = 'stopping';
      this.#endReason = reason;
    }
    this.send({ t: 'stop', graceful });
    // A booting worker may not listen for messages yet (one that arrives before node or the worker
    // attached a listener is dropped); a signal reaches it either way, and ends it at once if it
    // comes before the worker's handlers exist, which is harmless as nothing is in flight yet.
    if (!graceful) this.signal('SIGQUIT');
    else if (booting) this.signal('SIGTERM');
    this.killAfter(graceSeconds);
  }

  /**
   * A stop signal sent to the worker itself, not by this master (`kill -TERM <worker>`, or the app's
   * own): it stops as it would for the master. Its place stays counted until it is gone, so no
   * replacement starts early (nor at all, when the master's own TERM follows, as systemd sends both).
   */
  signalled: string | null = null;

  /** A worker whose event loop is blocked: SIGABRT (a core dump or a report), SIGKILL after `graceSeconds`. */
  abort(reason: string, graceSeconds: number): void {
    this.#state = 'stopping';
    this.#endReason = reason;
    this.signal('SIGABRT');
    this.killAfter(graceSeconds);
  }

  /**
   * SIGKILL in `seconds`, unless an earlier stop set it sooner: a later one never postpones it (TERM
   * after WINCH or a reload left workers stopping; QUIT after TERM brings it closer).
   */
  killAfter(seconds: number): void {
    const at = Date.now() + seconds * 1000;
    if (this.killTimer && at >= this.killAt) return;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killAt = at;
    this.killTimer = setTimeout(() => this.signal('SIGKILL'), seconds * 1000);
    this.killTimer.unref();
  }

  exited(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
  }
}
