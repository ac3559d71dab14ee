import { OWN_VARIABLES } from '../config/own-variables.js';
import type { Logger } from '../log/error-log.js';
import { errorFields, loggable, logUnhandledRejections } from '../supervision/unhandled.js';

export { errorFields };

/**
 * Legible crashes: an uncaught exception or unhandled rejection in a worker is logged once, in one
 * record naming the worker (pid, and its index when the master gives one in GSERVE_WORKER_INDEX)
 * with the error's message and stack; the text log prints the stack on the lines below.
 */
export function workerIdentity(env: NodeJS.ProcessEnv = process.env): { pid: number; index?: number } {
  const index = env[OWN_VARIABLES.workerIndex];
  return index !== undefined && /^\d+$/.test(index) ? { pid: process.pid, index: Number(index) } : { pid: process.pid };
}

export function describeWorker(id: { pid: number; index?: number }): string {
  return id.index === undefined ? `pid: ${id.pid}` : `pid: ${id.pid}, index: ${id.index}`;
}

/**
 * Installs the handlers. An uncaught exception leaves the app in an unknown state: after the log
 * line (flushed), the worker exits 1 and the master replaces it. A rejection is logged and the
 * worker goes on.
 */
export function installCrashLog(log: Logger, flush: () => void): void {
  const id = workerIdentity();
  const who = describeWorker(id);
  const fields = id.index === undefined ? {} : { index: id.index };
  let dying = false;
  process.on('uncaughtException', (err) => {
    if (dying) return; // a second throw while exiting adds nothing
    dying = true;
    try {
      log.fatal(
        { ...fields, err: loggable(err) },
        'Worker (%s) crashed: uncaught exception: %s',
        who,
        errorFields(err).message,
      );
      flush();
    } finally {
      process.exit(1);
    }
  });
  logUnhandledRejections(log, `Worker (${who})`, fields);
}
