import type { HostedApp } from '../interfaces/detect.js';
import type { WorkerClass, WorkerContext } from './types.js';

/**
 * The worker class named by `--worker-class`. The process-level classes load the app here; the
 * thread class loads it in each of its threads instead, never in the main thread.
 */
export async function createWorkerClass(name: string, base: Omit<WorkerContext, 'app'>, loadApp: () => Promise<HostedApp>): Promise<WorkerClass> {
  // Only the class in use is loaded: the thread class brings the engine and the thread pool.
  if (name === 'thread') return new (await import('./thread.js')).ThreadWorker(base);
  if (name === 'sync') return new (await import('./sync.js')).SyncWorker({ ...base, app: await loadApp() });
  return new (await import('./async.js')).AsyncWorker({ ...base, app: await loadApp() });
}
