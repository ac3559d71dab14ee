import { AppShutdown } from './app-shutdown.js';
import { dropPrivileges, resolveOwner } from './privileges.js';
import { AppLoadError, ExitCode, describeError } from '../errors.js';
import type { InterfaceChoice } from '../interfaces/detect.js';
import { WorkerRuntime, type RuntimeSettings } from '../interfaces/runtime.js';
import { startLifespan, type Lifespan, type LifespanMode } from '../interfaces/lifespan.js';
import { createLogger, type LogLevel } from '../log/logger.js';
import { createAccessLog } from '../log/access.js';
import { createWorkerClass } from './classes.js';
import { WorkerHooks } from './hooks.js';
import { WorkerStats } from './stats.js';
import { loadHostedApp } from './hosted.js';
import { BOOT_ENV, type MasterMessage, type WorkerBoot, type WorkerMessage } from './protocol.js';
import { Recycler } from './recycle.js';
import type { WorkerClass } from './types.js';
import type { ProtocolServer } from '../http/protocol.js';
import { startOrphanWatchdog } from './watchdog.js';
import { installCrashLog } from './crash-log.js';

/**
 * A worker process: load the app, take connections on the inherited listeners, beat, and stop when
 * the master says so (or when the master is gone).
 */
const boot: WorkerBoot = JSON.parse(process.env[BOOT_ENV] ?? '{}');
delete process.env[BOOT_ENV];
// Which reload generation this worker belongs to, for the app and its logs (HUP increments it).
process.env.GSERVE_WORKER_GENERATION = String(boot.generation);
const settings = boot.settings;
// With --capture-output the master reads this stderr and formats it itself: it must get JSON.
const logTarget = createLogger({
  level: settings.logLevel as LogLevel,
  file: settings.errorLogfile as string,
  json: Boolean(settings.logJson) || (Boolean(settings.captureOutput) && settings.errorLogfile === '-'),
});
const log = logTarget.logger;
const runtime = new WorkerRuntime(settings as unknown as RuntimeSettings, boot.listeners);
const announceStop = () => {
  if (runtime.health?.fail()) log.info('Health check failing from now: shutting down (pid: %d)', process.pid);
};

const send = (message: WorkerMessage) => {
  if (process.connected) process.send!(message);
};

let worker: WorkerClass | null = null;
const access = settings.accessLogfile
  ? {
      file: settings.accessLogfile as string,
      format: settings.accessLogformat as string,
      json: Boolean(settings.accessLogJson),
      trustedPeers: runtime.trustedPeers,
    }
  : null;
const stats = new WorkerStats(
  access && createAccessLog(access),
  settings.controlSocket !== 'off' || Boolean(settings.metricsBind),
);
process.on('exit', () => stats.stop()); // flushes the access log, on every way out
let hooks: WorkerHooks | null = null;
let lifespan: Lifespan | null = null;
let stopping = false;
const appShutdown = new AppShutdown();

async function stop(graceful: boolean): Promise<void> {
  if (!graceful) {
    await hooks?.run('workerInt', hooks.worker);
    process.exit(0);
  }
  if (stopping) return;
  stopping = true;
  // The class closes its listeners before its first await, so once this line is out the worker
  // accepts nothing more: new connections are refused, never queued and reset.
  const drained = worker?.stop();
  log.info('Worker exiting (pid: %d)', process.pid);
  // A little before the master's SIGKILL at --graceful-timeout, so the app's overrun is logged.
  const grace = (settings.gracefulTimeout as number) * 1000;
  const deadline = Date.now() + grace - Math.min(500, grace / 10);
  await drained;
  // After the last in-flight request: the app closes its pools and queues (docs/interfaces.md).
  await appShutdown.run(deadline - Date.now(), { info: (m) => log.info(m), error: (m) => log.error(m) });
  await lifespan?.shutdown((settings.gracefulTimeout as number) * 1000);
  await hooks?.run('workerExit', hooks.server, hooks.worker);
  logTarget.flush();
  process.exit(0);
}

// Ctrl-C in a terminal reaches the whole process group; the master decides what happens.
process.on('SIGINT', () => {});
// So do the master's other signals when sent to the group (`kill -HUP -PGID`, a closing terminal);
// their default actions would kill or stop the worker. USR1 alone means something here.
for (const sig of ['SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'] as const) process.on(sig, () => {});
process.on('SIGUSR1', () => logTarget.reopen());
// A TERM sent to the worker itself (systemd's default KillMode signals every process) means the
// whole server is going away; a stop over IPC may be a reload, where the health check stays green.
process.on('SIGTERM', () => {
  announceStop();
  void stop(true);
});
process.on('SIGQUIT', () => void stop(false));
// The master is gone (even by kill -9): nobody supervises this worker any more.
process.on('disconnect', () => void stop(false));
// A master that died while this worker was still importing closed the channel before anyone listened.
if (!process.connected) void stop(false);
process.on('message', (message: MasterMessage) => {
  if (message.t === 'stop') void stop(message.graceful);
  else if (message.t === 'reopen-logs') {
    logTarget.reopen();
    stats.reopenLogs();
  } else if (message.t === 'shutdown-pending') announceStop();
});
installCrashLog(log, () => logTarget.flush());
// 'disconnect' needs a running event loop; the watchdog thread does not (src/worker/watchdog.ts).
// The thread class runs no app code on its main thread, so its 'disconnect' always runs, and its
// exit ends the app threads however blocked; a watchdog thread there would also take a threadId,
// the name its app threads go by in the logs.
if (process.connected && settings.workerClass !== 'thread') startOrphanWatchdog();
// The app's own SIGTERM/SIGINT listeners wait for the drain instead (app-shutdown.ts).
appShutdown.holdSignalListeners();

async function main(): Promise<void> {
  for (const assignment of settings.env as string[]) {
    const at = assignment.indexOf('=');
    process.env[assignment.slice(0, at)] = assignment.slice(at + 1);
  }
  hooks = await WorkerHooks.load(boot, log);
  // Only with the hook: a handler replaces SIGABRT's default (die at once), and the master's SIGKILL follows anyway.
  const h = hooks;
  if (h.has('workerAbort')) {
    process.on('SIGABRT', async () => {
      await h.run('workerAbort', h.worker);
      process.exit(134);
    });
  }
  await h.run('postFork', h.server, h.worker);
  // --user/--group: after postFork (as in Gunicorn), before the app loads. The log files are already open.
  try {
    const owner = resolveOwner(settings.user as string | null, settings.group as string | null);
    if (owner) {
      dropPrivileges(owner);
      log.debug('Worker %d runs as uid %d, gid %d', process.pid, owner.uid, owner.gid);
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
    onResponse: (...reqRes: unknown[]) => {
      recycler.onResponse();
      h.run('postRequest', h.worker, ...reqRes);
    },
    onRequest: h.has('preRequest')
      ? (...reqRes: unknown[]) => void h.run('preRequest', h.worker, ...reqRes)
      : undefined,
    observe: (p: ProtocolServer) => stats.observe(p),
  };
  try {
    const loadApp = async () => {
      let loaded: [unknown, Record<string, unknown>] = [undefined, {}];
      const app = await loadHostedApp(
        settings.app as string,
        settings.interface as InterfaceChoice,
        boot.cwd,
        (...v) => (loaded = v),
      );
      // ASGI apps close in their lifespan shutdown; WSGI has no such thing.
      if (app.kind === 'node' || app.kind === 'fetch') appShutdown.addApp(...loaded);
      // ASGI lifespan startup completes before the worker takes its first connection.
      lifespan = await startLifespan(app, settings.lifespan as LifespanMode, {
        info: (m) => log.info(m),
        error: (m) => log.error(m),
      });
      return app;
    };
    worker = await createWorkerClass(settings.workerClass as string, context, loadApp);
    await h.run('postWorkerInit', h.worker);
    // The thread class loads the app in its threads, so a load error can surface here too.
    await worker.start();
  } catch (err) {
    if (err instanceof AppLoadError) {
      // The master reports the one line; the source line under it is shown from here, as node would.
      if (err.excerpt) log.error('%s\n%s', err.message, err.excerpt);
      return fatal({ t: 'boot-error', code: err.code, message: err.message, exitCode: err.exitCode });
    }
    throw err;
  }
  send({ t: 'ready' });
  stats.startReporting(send);
  const timeout = settings.timeout as number;
  if (timeout > 0) setInterval(() => send({ t: 'beat' }), Math.min(1000, (timeout * 1000) / 4)).unref();
}

/** Tells the master why this worker cannot boot, then exits with the matching code. */
function fatal(message: Extract<WorkerMessage, { t: 'boot-error' }>): void {
  if (!process.connected) process.exit(message.exitCode);
  process.send!(message, () => process.exit(message.exitCode));
}

main().catch((err) =>
  fatal({
    t: 'boot-error',
    code: 'GSERVE_E_WORKER_BOOT',
    message: `Worker failed to boot: ${describeError(err)}`,
    exitCode: ExitCode.WORKER_BOOT,
  }),
);
