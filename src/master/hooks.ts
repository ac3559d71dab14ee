import type { MasterHookName } from '../config/settings/supervision.js';
import type { Settings } from '../config/settings/index.js';
import { ExitCode, GserveError, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** What a master-side hook receives in `server`: a read-only view of the arbiter. */
export interface ServerView {
  readonly pid: number;
  readonly settings: Settings;
  readonly log: Logger;
  /** How many workers the master is keeping alive now (TTIN/TTOU/WINCH change it). */
  readonly numWorkers: number;
}

/** What a master-side hook receives in `worker`. */
export interface WorkerView {
  readonly pid: number | null;
  readonly generation: number;
}

export class HookError extends GserveError {
  override name = 'HookError';
  constructor(message: string) {
    super('GSERVE_E_HOOK', message, ExitCode.USAGE);
  }
}

/**
 * Runs a server hook from the config file. A hook that throws (or rejects) is logged with its
 * name and the server goes on, like in Gunicorn; only `onStarting` may abort, through `required`.
 */
export async function runMasterHook(
  settings: Settings,
  log: Logger,
  name: MasterHookName,
  args: unknown[],
  required = false,
): Promise<void> {
  const fn = settings[name];
  if (typeof fn !== 'function') return;
  try {
    await fn(...args);
  } catch (err) {
    const message = `The ${name} hook failed: ${describeError(err)}`;
    if (required) throw new HookError(`${message}. Fix the hook in the config file; gserve did not start.`);
    log.error(
      { hook: name, err: { message: describeError(err), stack: err instanceof Error ? err.stack : undefined } },
      message,
    );
  }
}
