import type { WorkerHookName } from '../config/settings/supervision.js';
import { WORKER_HOOKS } from '../config/settings/supervision.js';
import { describeError } from '../errors.js';
import { isThenable } from '../http/app-values.js';
import type { Logger } from '../log/error-log.js';
import type { WorkerBoot } from './ipc-messages.js';
import type { BootSettings } from './boot.js';

type Hook = (...args: unknown[]) => unknown;
const isHook = (v: unknown): v is Hook => typeof v === 'function';

/** What worker-side hooks receive in their `worker` argument. */
export interface WorkerView {
  readonly pid: number;
  readonly generation: number;
  readonly settings: BootSettings;
  readonly log: Logger;
}

/**
 * The server hooks that run inside a worker. Functions cannot cross the IPC channel, so the worker
 * reads the config file itself (the master names it in the boot message only when it has such hooks).
 */
export class WorkerHooks {
  readonly worker: WorkerView;
  /** Stands in for Gunicorn's `server` argument of postFork and workerExit: the master, seen from here. */
  readonly server: { readonly pid: number; readonly settings: BootSettings };

  private constructor(
    private readonly hooks: Partial<Record<WorkerHookName, Hook>>,
    boot: WorkerBoot,
    private readonly log: Logger,
  ) {
    this.worker = { pid: process.pid, generation: boot.generation, settings: boot.settings, log };
    this.server = { pid: process.ppid, settings: boot.settings };
  }

  static async load(boot: WorkerBoot, log: Logger): Promise<WorkerHooks> {
    const hooks: Partial<Record<WorkerHookName, Hook>> = {};
    if (boot.configFile) {
      // cosmiconfig only when there is a config file to read hooks from.
      const { loadConfigFile } = await import('../config/load-file.js');
      const file = await loadConfigFile(boot.cwd, boot.configFile);
      for (const name of WORKER_HOOKS) {
        const value = file?.values[name];
        if (isHook(value)) hooks[name] = value;
      }
    }
    return new WorkerHooks(hooks, boot, log);
  }

  has(name: WorkerHookName): boolean {
    return name in this.hooks;
  }

  /** Runs a hook; one that throws or rejects is logged with its name and the worker goes on. */
  run(name: WorkerHookName, ...args: unknown[]): void | Promise<void> {
    const fn = this.hooks[name];
    if (!fn) return;
    const fail = (err: unknown) =>
      this.log.error(
        { hook: name, err: { message: describeError(err), stack: err instanceof Error ? err.stack : undefined } },
        `The ${name} hook failed: ${describeError(err)}`,
      );
    try {
      const result = fn(...args);
      if (isThenable(result)) return Promise.resolve(result).then(() => undefined, fail);
    } catch (err) {
      fail(err);
    }
  }
}
