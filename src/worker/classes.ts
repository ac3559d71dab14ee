import type { HostedApp } from '../interfaces/detect.js';
import { closeSync } from 'node:fs';
import { listensInsteadOfExporting, SelfListeningWorker, watchAppListens } from './self-listen.js';
import type { WorkerClass, WorkerContext } from './types.js';

/**
 * The worker class named by `--worker-class`. The process-level classes load the app here; the
 * thread class loads it in each of its threads instead, never in the main thread.
 */
export async function createWorkerClass(
  name: string,
  base: Omit<WorkerContext, 'app'>,
  loadApp: () => Promise<HostedApp>,
): Promise<WorkerClass> {
  // Only the class in use is loaded: the thread class brings the engine and the thread pool.
  if (name === 'thread') return new (await import('./thread.js')).ThreadWorker(base);
  // The class's module loads while the app's do: both wait on file reads, which then overlap.
  const classLoading: Promise<(context: WorkerContext) => WorkerClass> =
    name === 'sync'
      ? import('./sync.js').then((m) => (context) => new m.SyncWorker(context))
      : import('./async.js').then((m) => (context) => new m.AsyncWorker(context));
  classLoading.catch(() => {}); // a failure surfaces where it is awaited, if the app loaded
  watchAppListens();
  let app: HostedApp;
  try {
    app = await loadApp();
  } catch (err) {
    if (listensInsteadOfExporting(err)) return selfListening(base);
    throw err;
  }
  return (await classLoading)({ ...base, app });
}

function selfListening(base: Omit<WorkerContext, 'app'>): WorkerClass {
  // gserve's own sockets are not served: this worker's copies close, so only the master holds them.
  for (const l of base.boot.listeners) {
    try {
      if (l.fd >= 0) closeSync(l.fd);
    } catch {
      // not open
    }
    // Its number may be reused by the app's own files and sockets from now on: never close it again.
    l.fd = -1;
  }
  const announce = (addresses: string[]) => process.connected && process.send!({ t: 'self-listen', addresses });
  return new SelfListeningWorker(announce, base.boot.settings.keepAlive * 1000);
}
