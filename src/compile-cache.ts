import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OWN_VARIABLES } from './config/own-variables.js';

/**
 * Node ≥ 22.1 can keep V8's compiled code of each module it loads on disk (its module compile cache,
 * under os.tmpdir() unless NODE_COMPILE_CACHE names a folder): a master and each worker then start
 * without compiling gserve's bundles, commander and the app's modules again, which was a fifth of
 * the time to a first answer (bench/, startup). bin/gserve turns it on in the master. A worker's
 * entry module is compiled before any of its code runs, so the master hands the folder on in the
 * worker's NODE_COMPILE_CACHE, which the worker takes out of its environment again: the app and its
 * child processes see only the variables the operator set. NODE_DISABLE_COMPILE_CACHE=1 (Node's own
 * switch) turns it off; Node 20 has none of this, and none of it is needed to serve.
 */
const cacheApi = module as unknown as {
  getCompileCacheDir?: () => string | undefined;
  flushCompileCache?: () => void;
};

const HANDED_ON = OWN_VARIABLES.compileCacheHandedOn;

/**
 * The variables a worker's environment gets from its master: the folder the master's cache is in,
 * where the operator named none (then the worker inherits theirs). Node's default folder, as Node
 * documents it: getCompileCacheDir() names the subfolder of one Node version and set of V8 flags,
 * in which a worker would make a subfolder of its own.
 */
export function compileCacheEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!cacheApi.getCompileCacheDir?.() || env.NODE_COMPILE_CACHE !== undefined) return {};
  return { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache'), [HANDED_ON]: '1' };
}

/** In a worker: takes out of its environment what compileCacheEnv() put there (the cache stays on). */
export function takeCompileCacheEnv(env: NodeJS.ProcessEnv = process.env): void {
  if (env[HANDED_ON] === undefined) return;
  delete env[HANDED_ON];
  delete env.NODE_COMPILE_CACHE;
}

/**
 * Writes what was compiled so far (Node ≥ 22.10). Node writes it at a clean exit only, which a
 * killed worker, or a master that runs for months, does not reach before the next start wants it.
 */
export function flushCompileCache(): void {
  try {
    cacheApi.flushCompileCache?.();
  } catch {
    // A cache that cannot be written (a full or read-only disk) is only a slower next start.
  }
}
