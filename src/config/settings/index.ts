import type { SettingSpec, SettingsOf } from '../spec.js';
import { deploymentSettings } from './deployment.js';
import { interfaceSettings } from './interfaces.js';
import { httpSettings } from './http.js';
import { loggingSettings } from './logging.js';
import { observabilitySettings } from './observability.js';
import { networkSettings } from './network.js';
import { serverSettings } from './server.js';
import { serverProcessSettings } from './server-process.js';
import { supervisionSettings } from './supervision.js';
import { workerSettings } from './workers.js';
import { workerClassSettings } from './worker-classes.js';

/** The one settings table, section by section, in the order the docs show them. */
export const SETTINGS = [
  ...serverSettings,
  ...serverProcessSettings,
  ...networkSettings,
  ...workerSettings,
  ...workerClassSettings,
  ...supervisionSettings,
  ...httpSettings,
  ...interfaceSettings,
  ...loggingSettings,
  ...observabilitySettings,
  ...deploymentSettings,
];

export type Settings = SettingsOf<typeof SETTINGS>;
export type SettingName = keyof Settings;

/** The same rows, typed `readonly SettingSpec[]`: for code that treats every setting alike. */
export const SETTING_SPECS: readonly SettingSpec[] = SETTINGS;

export const SETTINGS_BY_NAME: ReadonlyMap<string, SettingSpec> = new Map(SETTING_SPECS.map((s) => [s.name, s]));
/** Settings by Gunicorn's config-file name, where it differs (`errorlog`, `pidfile`, `raw_env`). */
export const SETTINGS_BY_GUNICORN_KEY: ReadonlyMap<string, SettingSpec> = new Map(
  SETTING_SPECS.flatMap((s) => (s.gunicorn?.key ? [[s.gunicorn.key, s] as const] : [])),
);
