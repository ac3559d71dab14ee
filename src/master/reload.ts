import type { ResolvedSettings } from '../config/resolve.js';
import { SETTINGS, type SettingName } from '../config/settings/index.js';
import type { WorkerProcess } from './worker-process.js';

/** How long HUP waits for the new workers to be ready when `timeout` is 0 (disabled). */
export const RELOAD_READY_SECONDS = 60;

export interface NeedsRestart {
  name: string;
  running: unknown;
  wanted: unknown;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * HUP: merge freshly resolved settings into the running ones. Settings marked `reloadable: false`
 * (bind, pid, chdir, preload, …) cannot change without new listeners or a new master, so they keep
 * their running value and are reported; USR2 or a restart applies them.
 */
export function mergeReloaded(
  running: ResolvedSettings,
  fresh: ResolvedSettings,
): { resolved: ResolvedSettings; needsRestart: NeedsRestart[] } {
  const resolved: ResolvedSettings = {
    settings: { ...fresh.settings },
    sources: { ...fresh.sources },
    configFile: fresh.configFile,
  };
  const needsRestart: NeedsRestart[] = [];
  for (const spec of SETTINGS) {
    if (spec.reloadable !== false) continue;
    const was = running.settings[spec.name];
    const now = resolved.settings[spec.name];
    if (!same(was, now)) needsRestart.push({ name: spec.name, running: was, wanted: now });
    keepRunning(resolved, running, spec.name);
  }
  return { resolved, needsRestart };
}

/** Puts the running value of setting `name`, and where it came from, back into `into`. */
function keepRunning<N extends SettingName>(into: ResolvedSettings, running: ResolvedSettings, name: N): void {
  into.settings[name] = running.settings[name];
  into.sources[name] = running.sources[name];
}

/**
 * True once every new worker reports ready; false if one exits first or `seconds` pass. The time-out
 * gives way to the messages already waiting: a master that did not run for a while (SIGSTOP, a paused
 * container) runs its expired timers before it reads its channels, and would roll back a reload
 * whose workers had long said they were ready. setImmediate comes after that read.
 */
export function allReadyWithin(workers: WorkerProcess[], seconds: number): Promise<boolean> {
  return Promise.race([
    Promise.all(workers.map((w) => w.ready)).then((r) => r.every(Boolean)),
    new Promise<false>((resolve) => setTimeout(() => setImmediate(() => resolve(false)), seconds * 1000).unref()),
  ]);
}
