import { existsSync } from 'node:fs';
import { errorCode, errorMessage } from '../errors.js';

/** How long a config load on HUP may take when --timeout is 0 (off). */
export const RELOAD_LOAD_SECONDS = 30;
/** How long each bounded step of a reload may take: --timeout, or RELOAD_LOAD_SECONDS when it is 0. */
export const reloadStepSeconds = (timeout: number): number => (timeout > 0 ? timeout : RELOAD_LOAD_SECONDS);
/** How long TERM waits for the onExit hook before the master exits anyway. */
export const EXIT_HOOK_SECONDS = 3;
/** After --graceful-timeout, how long TERM waits for killed workers to be reaped before exiting anyway. */
export const STOP_MARGIN_SECONDS = 3;

/**
 * A fork's error code, in one readable cause. spawn() says ENOENT, naming node, for a working folder
 * that is gone (a deleted release that `current` pointed at): `cwd` is checked to say which.
 */
export function forkCause(err: unknown, cwd?: string): string {
  const code = errorCode(err);
  if (code === 'ENOENT' && cwd !== undefined && !existsSync(cwd))
    return `ENOENT: the working folder ${cwd} no longer exists; restore it (or the link to it), or restart gserve from a folder that exists`;
  const why: Record<string, string> = {
    EMFILE: 'too many open files in the master (raise `ulimit -n`, or cap idle connections)',
    ENFILE: 'too many open files on the system',
    EAGAIN: 'the process limit was reached (`ulimit -u`)',
    ENOMEM: 'out of memory',
  };
  return code ? `${code}: ${why[code] ?? errorMessage(err)}` : errorMessage(err);
}
