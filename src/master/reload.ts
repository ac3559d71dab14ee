import type { ResolvedSettings } from '../config/resolve.js';
import { SETTINGS, type Settings } from '../config/settings/index.js';
import type { SettingSpec } from '../config/spec.js';
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
  const settings = { ...fresh.settings } as Record<string, unknown>;
  const sources = { ...fresh.sources } as Record<string, string>;
  const needsRestart: NeedsRestart[] = [];
  for (const spec of SETTINGS as readonly SettingSpec[]) {
    if (spec.reloadable !== false) continue;
    const was = (running.settings as Record<string, unknown>)[spec.name];
    const now = settings[spec.name];
    if (!same(was, now)) needsRestart.push({ name: spec.name, running: was, wanted: now });
    settings[spec.name] = was;
    sources[spec.name] = (running.sources as Record<string, string>)[spec.name]!;
  }
  return {
    resolved: {
      settings: settings as Settings,
      sources: sources as ResolvedSettings['sources'],
      configFile: fresh.configFile,
    },
    needsRestart,
  };
}

/** True once every new worker reports ready; false if one exits first or `seconds` pass. */
export function allReadyWithin(workers: WorkerProcess[], seconds: number): Promise<boolean> {
  return Promise.race([
    Promise.all(workers.map((w) => w.ready)).then((r) => r.every(Boolean)),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), seconds * 1000).unref()),
  ]);
}
