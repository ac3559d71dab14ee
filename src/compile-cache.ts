import module from 'node:module';
import { OWN_VARIABLES } from './config/own-variables.js';

// Required, not imported: bin/gserve loads this file itself, before the bundle, and an import of a
// builtin builds its ES facade, which reads every export (node:fs's lazy stream getters; bundle.js).
const require = module.createRequire(import.meta.url);
const { lstatSync, mkdirSync }: typeof import('node:fs') = require('node:fs');
const { tmpdir }: typeof import('node:os') = require('node:os');
const { dirname, join }: typeof import('node:path') = require('node:path');

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
  enableCompileCache?: (directory?: string) => unknown;
  getCompileCacheDir?: () => string | undefined;
  flushCompileCache?: () => void;
};

const HANDED_ON = OWN_VARIABLES.compileCacheHandedOn;

/**
 * In the master, from bin/gserve: turns the cache on. Node's default folder is os.tmpdir()/node-compile-cache,
 * which in a shared /tmp any local user can make first: Node would then read V8 code from a folder
 * they can write to and run it in this process (a master run as root included), without checking
 * who wrote it. So the default folder is used only if it is this user's and no one else can write to
 * it; a folder the operator names (NODE_COMPILE_CACHE) is their choice and used as it is.
 */
export function enableCompileCache(): void {
  const env = process.env;
  if (!cacheApi.enableCompileCache || env.NODE_DISABLE_COMPILE_CACHE) return;
  if (env.NODE_COMPILE_CACHE) {
    cacheApi.enableCompileCache();
    return;
  }
  const folder = join(tmpdir(), 'node-compile-cache');
  const problem = unsafeFolder(folder);
  if (problem === undefined) cacheApi.enableCompileCache(folder);
  else if (problem)
    process.stderr.write(
      `gserve: warning: the module compile cache is off: ${folder} ${problem}, and code compiled there would run ` +
        'in gserve. Remove it, or set NODE_COMPILE_CACHE to a folder only this user can write to.\n',
    );
}

/** Why `folder` is no place to read compiled code from; null where it cannot be made (a read-only disk: no cache, nothing to tell). */
function unsafeFolder(folder: string): string | null | undefined {
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
  }
  // lstat: a symbolic link would lead to a folder whose owner is not checked here.
  const stat = lstatSync(folder, { throwIfNoEntry: false });
  if (!stat) return null;
  if (!stat.isDirectory()) return 'is not a folder';
  const uid = process.getuid?.();
  if (uid === undefined) return undefined; // no users to tell apart (Windows)
  if (stat.uid !== uid) return `belongs to another user (uid ${stat.uid})`;
  if ((stat.mode & 0o022) !== 0) return 'can be written to by other users';
  return undefined;
}

/**
 * The variables a worker's environment gets from its master: the folder the master's cache is in,
 * where the operator named none (then the worker inherits theirs). getCompileCacheDir() names the
 * subfolder of one Node version, set of V8 flags and user, inside the folder the master enabled, in
 * which a worker makes a subfolder of its own; none where the master left the cache off.
 */
export function compileCacheEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const versioned = cacheApi.getCompileCacheDir?.();
  // An empty NODE_COMPILE_CACHE names no folder: Node's own default was taken instead.
  if (!versioned || env.NODE_COMPILE_CACHE) return {};
  return { NODE_COMPILE_CACHE: dirname(versioned), [HANDED_ON]: '1' };
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
