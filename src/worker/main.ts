import { takeCompileCacheEnv } from '../compile-cache.js';
import { takeBoot } from './boot.js';
import { runWorker } from './run-worker.js';

/** The script the master forks for each worker (master/worker-process.ts): see run-worker.ts. */
takeCompileCacheEnv();
runWorker(takeBoot());
