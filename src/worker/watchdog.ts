import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';

/**
 * The orphan watchdog: a tiny thread that notices the master is gone even when the worker's own
 * event loop is blocked forever (`while (true) {}` in a handler), which the IPC 'disconnect' event
 * cannot reach. It polls the parent pid; once the worker was re-parented (to init or a subreaper),
 * it gives the main thread `graceMs` (its graceful stop) to exit by itself, then SIGKILLs its own
 * process, taking every thread (the `thread` class's app threads too) with it.
 */
const POLL_MS = 250;

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
 * threads are unavailable. `graceMs`: how long the worker's own graceful stop may take.
 */
export function startOrphanWatchdog(graceMs: number, ppid = process.ppid): Worker | null {
  try {
    // Loaded here: only a worker without the master's reaper runs a watchdog, and node's thread
    // modules cost every other worker memory for nothing.
    const { Worker }: typeof import('node:worker_threads') = createRequire(import.meta.url)('node:worker_threads');
    const thread = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { ppid, pollMs: POLL_MS, graceMs },
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
