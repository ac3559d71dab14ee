import type { HostedApp } from '../interfaces/detect.js';
import { AsyncWorker } from './async.js';
import { SyncWorker } from './sync.js';
import { ThreadWorker } from './thread.js';
import type { WorkerClass, WorkerContext } from './types.js';

/**
 * The worker class named by `--worker-class`. The process-level classes load the app here; the
 * thread class loads it in each of its threads instead, never in the main thread.
 */
export async function createWorkerClass(name: string, base: Omit<WorkerContext, 'app'>, loadApp: () => Promise<HostedApp>): Promise<WorkerClass> {
  if (name === 'thread') return new ThreadWorker(base);
  if (name === 'sync') return new SyncWorker({ ...base, app: await loadApp() });
  return new AsyncWorker({ ...base, app: await loadApp() });
}
