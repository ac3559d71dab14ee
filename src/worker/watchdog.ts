import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';

/**
 * The orphan watchdog: a tiny thread that notices the master is gone even when the worker's own
 * event loop is blocked forever (`while (true) {}` in a handler), which the IPC 'disconnect' event
 * cannot reach. It polls the parent pid; once the worker was re-parented (to init or a subreaper),
 * it gives the main thread its graceful stop and a second more to exit by itself, as the master's
 * orphan reaper does, then SIGKILLs its own process, taking every thread (the `thread` class's app
 * threads too) with it.
 */
const POLL_MS = 250;
/** Past --graceful-timeout, for the worker's own exit after its graceful stop. */
const EXIT_MARGIN_MS = 1000;

// CommonJS, evaluated in the thread: no module to resolve, nothing of gserve's to load.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { ppid, pollMs, graceMs } = workerData;
const timer = setInterval(() => {
  if (process.ppid === ppid) return;
  clearInterval(timer);
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), graceMs);
}, pollMs);
`;

/**
 * Starts the watchdog for the parent `ppid`; it never keeps the process alive. Returns null where
 * threads are unavailable. `gracefulTimeout`: the worker's --graceful-timeout, in seconds.
 */
export function startOrphanWatchdog(gracefulTimeout: number, ppid = process.ppid): Worker | null {
  try {
    // Loaded here: only a worker without the master's reaper runs a watchdog, and node's thread
    // modules cost every other worker memory for nothing.
    const { Worker }: typeof import('node:worker_threads') = createRequire(import.meta.url)('node:worker_threads');
    const thread = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { ppid, pollMs: POLL_MS, graceMs: gracefulTimeout * 1000 + EXIT_MARGIN_MS },
      // The thread only runs a timer; a small heap keeps its cost to the worker's RSS low.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    thread.unref();
    thread.on('error', () => {});
    return thread;
  } catch {
    return null;
  }
}
