import cluster from 'node:cluster';
import { closeSync } from 'node:fs';
import { flushCompileCache } from '../compile-cache.js';
import { fileURLToPath } from 'node:url';
import { OWN_VARIABLES } from '../config/own-variables.js';
import { AppShutdown } from './app-shutdown.js';
import { appFolder, checkStillReadable, dropPrivileges, resolveOwner } from './privileges.js';
import { AppLoadError, BindError, ExitCode, describeError } from '../errors.js';
import { WorkerRuntime } from '../interfaces/runtime.js';
import type { Lifespan } from '../interfaces/lifespan.js';
import type { Logger, LogTarget } from '../log/error-log.js';
import { createLineLogger } from '../log/line-logger.js';
import { logNodeWarnings } from '../log/node-warnings.js';
import { createAccessLog } from '../log/access.js';
import { createWorkerClass } from './classes.js';
import { WorkerHooks } from './hooks.js';
import { WorkerStats } from './stats.js';
import { startHostedApp } from './hosted.js';
import type { MasterMessage, WorkerBoot, WorkerMessage } from './ipc-messages.js';
import { Recycler } from './recycle.js';
import type { WorkerClass } from './types.js';
import type { FinishedExchange, ProtocolServer } from '../http/protocol-server.js';
import { startOrphanWatchdog } from './watchdog.js';
import { installCrashLog } from './crash-log.js';
import { startHeartbeat } from '../supervision/heartbeat.js';
import { settleWithin } from '../supervision/settle-within.js';
import { workerLogOptions } from './worker-log.js';

type BootError = Extract<WorkerMessage, { t: 'boot-error' }>;

const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};

/** Tells the master why this worker cannot boot, then exits with the matching code. */
function fatal(message: BootError): void {
  if (!process.send || !process.connected) process.exit(message.exitCode);
  process.send(message, () => process.exit(message.exitCode));
}

// Signals the master sends to the whole process group (`kill -HUP -PGID`, a closing terminal):
// their default actions would kill or stop the worker. USR1 alone means something here.
const GROUP_SIGNALS: NodeJS.Signals[] = ['SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'];

/**
 * A worker process: load the app, take connections on the inherited listeners, beat, and stop when
 * the master says so (or when the master is gone). Runs once per process, from the entry script
 * (main.ts); importing this module starts nothing.
 */
export function runWorker(boot: WorkerBoot): void {
  // Which reload generation this worker belongs to, for the app and its logs (HUP increments it).
  process.env[OWN_VARIABLES.workerGeneration] = String(boot.generation);
  const settings = boot.settings;
  const logTarget = createLineLogger(workerLogOptions(settings));
  const log = logTarget.logger;
  logNodeWarnings(log);
  const runtime = new WorkerRuntime(settings, boot.listeners);
  const announceStop = () => {
    if (runtime.health?.fail()) log.info('Health check failing from now: shutting down (pid: %d)', process.pid);
  };
  if (boot.shutdownPending) announceStop();

  const access = settings.accessLogfile
    ? {
        file: settings.accessLogfile,
        format: settings.accessLogformat,
        json: Boolean(settings.accessLogJson),
        trustedPeers: runtime.trustedPeers,
      }
    : null;
  const stats = new WorkerStats(
    access && createAccessLog(access),
    settings.controlSocket !== 'off' || Boolean(settings.metricsBind),
  );
  process.on('exit', () => stats.stop()); // flushes the access log, on every way out
  const state: WorkerState = {
    worker: null,
    hooks: null,
    lifespan: null,
    stopping: false,
    listenState: 'idle',
    appShutdown: new AppShutdown(),
  };
  const stop = (graceful: boolean) => {
    releaseUnusedListeners(state, boot);
    return stopWorker(state, graceful, settings.gracefulTimeout * 1000, log, logTarget);
  };

  // Ctrl-C in a terminal reaches the whole process group; the master decides what happens.
  process.on('SIGINT', () => {});
  for (const sig of GROUP_SIGNALS) process.on(sig, () => {});
  process.on('SIGUSR1', () => logTarget.reopen());
  // A TERM sent to the worker itself (systemd's default KillMode signals every process) means the
  // whole server is going away; a stop over IPC may be a reload, where the health check stays green.
  // The master stops its workers by message, and by signal only one still booting or in its fast
  // stop, which it then knows of. A signal from anyone else is told to it: it replaces the worker
  // once gone, and counts no crash.
  const stopOnSignal = (signal: 'SIGTERM' | 'SIGQUIT') => {
    if (!state.stopping) send({ t: 'signalled', signal });
    void stop(signal === 'SIGTERM');
  };
  process.on('SIGTERM', () => {
    announceStop();
    stopOnSignal('SIGTERM');
  });
  process.on('SIGQUIT', () => stopOnSignal('SIGQUIT'));
  // The master is gone (even by kill -9): nobody supervises this worker any more. It stops as on a
  // TERM, as Gunicorn's workers do when their parent changes: it accepts nothing more, and the
  // requests in flight finish within --graceful-timeout. The master's orphan reaper (or the
  // watchdog thread) kills it at that time if its event loop never gets there.
  // node:cluster's own listener, first in line, would exit at once ("unexpected disconnect") unless
  // the worker counts as leaving on purpose: it is told so just before.
  process.prependOnceListener('disconnect', () => {
    if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  });
  process.on('disconnect', () => {
    if (!state.stopping) log.warn('The master is gone: stopping gracefully (pid: %d)', process.pid);
    announceStop();
    void stop(true);
  });
  // A master that died while this worker was still importing closed the channel before anyone listened.
  if (!process.connected) void stop(false);
  // 'disconnect' needs a running event loop; the watchdog thread does not (src/worker/watchdog.ts).
  // The thread class runs no app code on its main thread, so its 'disconnect' always runs, and its
  // exit ends the app threads however blocked; a watchdog thread there would also take a threadId,
  // the name its app threads go by in the logs.
  let watching = false;
  const watchOrphans = (why: string) => {
    if (watching || settings.workerClass === 'thread') return;
    watching = true;
    if (startOrphanWatchdog(settings.gracefulTimeout))
      log.debug("Watching for the master's death with a thread of its own (%s)", why);
  };
  process.on('message', (message: MasterMessage) => {
    if (message.t === 'stop') void stop(message.graceful);
    else if (message.t === 'reopen-logs') {
      logTarget.reopen();
      stats.reopenLogs();
    } else if (message.t === 'shutdown-pending') announceStop();
    else if (message.t === 'watch-orphans') watchOrphans(message.why);
  });
  installCrashLog(log, () => logTarget.flush());
  if (process.connected && boot.orphanWatchdog) watchOrphans('no orphan reaper');
  // The app's own SIGTERM/SIGINT listeners wait for the drain instead (app-shutdown.ts).
  state.appShutdown.holdSignalListeners();

  bootWorker(boot, state, log, stats, runtime).catch((err) =>
    fatal({
      t: 'boot-error',
      code: 'GSERVE_E_WORKER_BOOT',
      message: `Worker failed to boot: ${describeError(err)}`,
      exitCode: ExitCode.WORKER_BOOT,
    }),
  );
}

/** What the stop path needs of a worker that may be half booted. */
interface WorkerState {
  worker: WorkerClass | null;
  hooks: WorkerHooks | null;
  lifespan: Lifespan | null;
  stopping: boolean;
  /**
   * The inherited listening descriptors: not yet touched ('idle'), being or been listened on
   * ('started'), or closed unused because a stop came first ('released').
   */
  listenState: 'idle' | 'started' | 'released';
  readonly appShutdown: AppShutdown;
}

/**
 * A worker stopped before it listens (still loading its app: a HUP's new generation, a replacement
 * after a crash or a recycle) still holds its copies of the listening sockets. Once the master and
 * the serving workers have closed theirs, the kernel would go on queueing new connections on them
 * until this worker exits, and then reset them all: new connections must be refused at once instead
 * (docs/signals.md, TERM). Done synchronously on the stop, before anything else is awaited.
 */
function releaseUnusedListeners(state: WorkerState, boot: WorkerBoot): void {
  if (state.listenState !== 'idle') return;
  state.listenState = 'released';
  for (const listener of boot.listeners) {
    if (listener.fd < 0) continue;
    try {
      closeSync(listener.fd);
    } catch {
      // not inherited, or already closed
    }
    // The app may open files and sockets under that number from now on: nothing may close it again.
    listener.fd = -1;
  }
}

/** The last part of --graceful-timeout kept for the app's shutdown (at most a fifth of it). */
const APP_SHUTDOWN_RESERVE_MS = 1000;

async function stopWorker(
  state: WorkerState,
  graceful: boolean,
  graceMs: number,
  log: Logger,
  logTarget: LogTarget,
): Promise<void> {
  const { hooks } = state;
  if (!graceful) {
    await hooks?.run('workerInt', hooks.worker);
    process.exit(0);
  }
  if (state.stopping) return;
  state.stopping = true;
  // A little before the master's SIGKILL at --graceful-timeout, so the app's overrun is logged.
  const deadline = Date.now() + graceMs - Math.min(500, graceMs / 10);
  // The app's shutdown gets the end of the time whatever the requests do: a client that never
  // finishes its upload, or a WebSocket peer that never answers the close, would otherwise keep it
  // from running at all (the master's SIGKILL comes first). Uvicorn's timeout_graceful_shutdown does
  // the same. No request starts after it (the class's own deadline: -k sync answers 503 to those queued).
  const appShutdownAt = deadline - Math.min(APP_SHUTDOWN_RESERVE_MS, graceMs / 5);
  // The class closes its listeners before its first await, so once this line is out the worker
  // accepts nothing more: new connections are refused, never queued and reset.
  const drained = state.worker?.stop(appShutdownAt);
  log.info('Worker exiting (pid: %d)', process.pid);
  const late = drained !== undefined && !(await settleWithin(drained, appShutdownAt - Date.now())).done;
  if (late)
    log.warn("Connections still open near --graceful-timeout (requests, WebSockets): the app's shutdown runs now");
  // After the last in-flight request: the app closes its pools and queues (docs/interfaces.md).
  await state.appShutdown.run(deadline - Date.now(), { info: (m) => log.info(m), error: (m) => log.error(m) });
  await state.lifespan?.shutdown(deadline - Date.now());
  // WebSockets the app's own `upgrade` took: its close() above is what ends them.
  await state.worker?.afterAppShutdown?.(deadline);
  // Requests still running keep the rest of their time, the app's resources closed under them or not.
  if (late) await settleWithin(drained, deadline - Date.now());
  await hooks?.run('workerExit', hooks.server, hooks.worker);
  logTarget.flush();
  process.exit(0);
}

async function bootWorker(
  boot: WorkerBoot,
  state: WorkerState,
  log: Logger,
  stats: WorkerStats,
  runtime: WorkerRuntime,
): Promise<void> {
  const { settings } = boot;
  for (const assignment of settings.env) {
    const at = assignment.indexOf('=');
    process.env[assignment.slice(0, at)] = assignment.slice(at + 1);
  }
  const h = await WorkerHooks.load(boot, log);
  state.hooks = h;
  // Only with the hook: a handler replaces SIGABRT's default (die at once), and the master's SIGKILL follows anyway.
  if (h.has('workerAbort')) {
    process.on('SIGABRT', async () => {
      await h.run('workerAbort', h.worker);
      process.exit(134);
    });
  }
  await h.run('postFork', h.server, h.worker);
  // --user/--group: after postFork (like Gunicorn), before the app loads. The log files are already open.
  try {
    const owner = resolveOwner(settings.user, settings.group);
    if (owner) {
      // Found while the worker can still see it: an app given by a path outside the working folder.
      const app = appFolder(settings.app ?? '', boot.cwd);
      dropPrivileges(owner);
      log.debug('Worker %d runs with uid %d, gid %d', process.pid, owner.uid, owner.gid);
      checkStillReadable(owner, [fileURLToPath(new URL('.', import.meta.url)), boot.cwd, ...(app ? [app] : [])]);
    }
  } catch (err) {
    return fatal({
      t: 'boot-error',
      code: 'GSERVE_E_PRIVILEGES',
      message: `Cannot switch the worker to --user/--group: ${describeError(err)}`,
      exitCode: ExitCode.WORKER_BOOT,
    });
  }
  const recycler = new Recycler(settings, send);
  const context = {
    boot,
    log,
    runtime,
    // The one 'response' listener of every protocol server: an event with one listener is called
    // without copying the listener list. Without a postRequest hook, it makes no argument arrays.
    onResponse: h.has('postRequest')
      ? (...reqRes: unknown[]) => {
          recycler.onResponse();
          stats.finished(reqRes[2] as FinishedExchange | undefined);
          h.run('postRequest', h.worker, ...reqRes);
        }
      : (_req: unknown, _res: unknown, exchange?: unknown) => {
          recycler.onResponse();
          stats.finished(exchange as FinishedExchange | undefined);
        },
    onRequest: h.has('preRequest')
      ? (...reqRes: unknown[]) => void h.run('preRequest', h.worker, ...reqRes)
      : undefined,
    observe: (p: ProtocolServer) => stats.observe(p),
  };
  try {
    // ASGI lifespan startup completes before the worker takes its first connection.
    const loadApp = async () => {
      const started = await startHostedApp(settings, boot.cwd, state.appShutdown, {
        info: (m) => log.info(m),
        error: (m) => log.error(m),
      });
      state.lifespan = started.lifespan;
      return started.app;
    };
    state.worker = await createWorkerClass(settings.workerClass, context, loadApp);
    await h.run('postWorkerInit', h.worker);
    // Stopped while it booted: its listeners are closed (releaseUnusedListeners), and the stop exits.
    if (state.listenState !== 'idle') return;
    state.listenState = 'started';
    // The thread class loads the app in its threads, so a load error can surface here too.
    await state.worker.start();
  } catch (err) {
    // An app that cannot load, or whose own server cannot listen: every worker would fail the same way.
    if (err instanceof AppLoadError || err instanceof BindError) {
      // The master reports the one line; the source line under it is shown from here, like node would.
      if (err instanceof AppLoadError && err.excerpt) log.error('%s\n%s', err.message, err.excerpt);
      return fatal({ t: 'boot-error', code: err.code, message: err.message, exitCode: err.exitCode });
    }
    throw err;
  }
  send({ t: 'ready' });
  stats.startReporting(send);
  startHeartbeat(settings.timeout * 1000, () => send({ t: 'beat' }));
  // Once the first requests have had their turn: the write blocks the loop for a few milliseconds.
  setTimeout(flushCompileCache, COMPILE_CACHE_FLUSH_MS).unref();
}

/** How long after it is ready a worker writes its compiled code to disk (compile-cache.ts). */
const COMPILE_CACHE_FLUSH_MS = 1000;
