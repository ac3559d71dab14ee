import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigFileError, SettingError } from '../errors.js';
import { resolveAppModule } from '../interfaces/load.js';
import { parseAppSpec } from '../interfaces/spec.js';
import { loadConfigFile } from './load-file.js';
import { OWN_VARIABLES } from './own-variables.js';
import { SETTINGS, SETTINGS_BY_GUNICORN_KEY, SETTINGS_BY_NAME, type Settings } from './settings/index.js';
import { applyImpliedWorkerClass } from './settings/worker-classes.js';
import { envOf, flagOf, type SettingSpec } from './spec.js';
import { TypeMismatch } from './types.js';

export type Sources = Record<keyof Settings, string>;

export interface ResolvedSettings {
  settings: Settings;
  /** Where each value came from, in words: "default", "config file /x/gserve.config.js", … */
  sources: Sources;
  configFile: string | null;
  /** Config files beside `configFile` that were not read (see shadowedConfigWarning). */
  shadowedConfigFiles?: string[];
}

export interface ResolveInput {
  /** Raw values from the command line, keyed by setting name. */
  cli: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Read no config file (a control command looking for its master past a broken one). */
  withoutConfigFile?: boolean;
}

/** Gunicorn's snake_case spellings (`worker_class`) are accepted in config files; its other names through SETTINGS_BY_GUNICORN_KEY. */
const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function parseInto(spec: SettingSpec, raw: unknown, source: string): unknown {
  try {
    return spec.type.parse(raw);
  } catch (err) {
    if (!(err instanceof TypeMismatch)) throw err;
    throw new SettingError(`Invalid value for setting "${spec.name}" from ${source}: ${err.message}.`);
  }
}

export function closestName(word: string, names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  let extended: string | undefined;
  const lower = word.toLowerCase();
  for (const name of names) {
    const d = editDistance(lower, name.toLowerCase());
    if (d < bestScore) [best, bestScore] = [name, d];
    // A word cut short (`onStart` for `onStarting`) is far by edit distance but plainly meant.
    if (lower.length >= 4 && name.toLowerCase().startsWith(lower) && (!extended || name.length < extended.length))
      extended = name;
  }
  if (bestScore <= Math.max(2, Math.floor(word.length / 3))) return best;
  return extended;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length]!;
}

/**
 * The app named in a config file is a path from the config file's folder, like a path in any file
 * is: a config found in a parent folder must not depend on where gserve was started. It becomes
 * absolute; a package name, or a path that exists only from the working directory, stays unchanged.
 */
function appFromConfigFolder(app: string, configDir: string, cwd: string): string {
  if (resolve(configDir) === resolve(cwd)) return app;
  let spec;
  try {
    spec = parseAppSpec(app);
  } catch {
    return app; // reported when the app is loaded
  }
  if (isAbsolute(spec.module)) return app;
  try {
    const file = resolveAppModule(spec.module, configDir);
    if (!file.startsWith(join(configDir, '/')) || file.includes('/node_modules/')) return app;
  } catch {
    return app;
  }
  return join(configDir, spec.module) + app.trim().slice(spec.module.length);
}

/**
 * The platform conventions, PORT (Heroku, Cloud Run) and WEB_CONCURRENCY: they change the defaults,
 * as in Gunicorn, so a config file's `bind` is not silently replaced by 0.0.0.0:$PORT (a container
 * image that sets PORT would have exposed an app its config kept on 127.0.0.1).
 */
function conventionalEnv(env: NodeJS.ProcessEnv): Array<[string, unknown, string]> {
  const out: Array<[string, unknown, string]> = [];
  if (env.PORT !== undefined && env.PORT !== '') out.push(['bind', `0.0.0.0:${env.PORT}`, 'environment variable PORT']);
  if (env.WEB_CONCURRENCY !== undefined && env.WEB_CONCURRENCY !== '')
    out.push(['workers', env.WEB_CONCURRENCY, 'environment variable WEB_CONCURRENCY']);
  return out;
}

const fromConfigFile = (r: ResolvedSettings): boolean =>
  Object.values(r.sources).some((source) => source.startsWith('config file '));

/**
 * Why a reload must not apply `next`: the config file the running settings came from is gone, or
 * holds nothing now (deleted or emptied by a deploy gone wrong). Applying it would put every setting
 * it held back to its default without a word.
 */
export function lostConfigFile(running: ResolvedSettings, next: ResolvedSettings): ConfigFileError | null {
  if (!running.configFile || !fromConfigFile(running) || fromConfigFile(next)) return null;
  const what = next.configFile === null ? 'is gone or empty' : 'holds no settings now';
  return new ConfigFileError(
    `The config file ${running.configFile} ${what}; applying that would reset its settings to their defaults. ` +
      'Restore it, or restart gserve to run without it.',
  );
}

/** Defaults (and PORT, WEB_CONCURRENCY) < config file < environment < command line; each value validated where it comes from. */
export async function resolveSettings(input: ResolveInput): Promise<ResolvedSettings> {
  const settings: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const set = (spec: SettingSpec, raw: unknown, source: string) => {
    settings[spec.name] = parseInto(spec, raw, source);
    sources[spec.name] = source;
  };
  for (const spec of SETTINGS) {
    settings[spec.name] = spec.default;
    sources[spec.name] = 'default';
  }
  for (const [name, raw, source] of conventionalEnv(input.env)) set(SETTINGS_BY_NAME.get(name)!, raw, source);

  const explicitConfig =
    (typeof input.cli.config === 'string' ? input.cli.config : undefined) ?? input.env.GSERVE_CONFIG ?? null;
  const file = input.withoutConfigFile ? null : await loadConfigFile(input.cwd, explicitConfig || null);
  if (file) {
    for (const [key, raw] of Object.entries(file.values)) {
      if (key === '$schema') continue; // editors' pointer to config/gserve.schema.json, not a setting
      const spec = SETTINGS_BY_NAME.get(key) ?? SETTINGS_BY_NAME.get(camel(key)) ?? SETTINGS_BY_GUNICORN_KEY.get(key);
      if (!spec) {
        const guess = closestName(camel(key), SETTINGS_BY_NAME.keys());
        // YAML reads `module.exports = {workers: 3}` as one odd key: JavaScript in a file read as data.
        const script = /[=(;]|\bexport\b/.test(key) && !/\.(?:[cm]?js|ts)$/.test(file.path);
        throw new SettingError(
          `Unknown setting "${key}" in config file ${file.path}.${guess && !script ? ` Did you mean "${guess}"?` : ''} ` +
            (script
              ? `It looks like JavaScript, but ${basename(file.path)} is read as JSON or YAML: write the settings ` +
                'as data (`workers: 3`), or move the code into gserve.config.js.'
              : 'See docs/settings.md for the settings.'),
          'GSERVE_E_UNKNOWN_SETTING',
        );
      }
      set(spec, raw, `config file ${file.path} (key "${key}")`);
    }
  }

  for (const spec of SETTINGS) {
    const variable = envOf(spec);
    if (variable && variable !== 'GSERVE_CONFIG' && input.env[variable] !== undefined) {
      set(spec, input.env[variable], `environment variable ${variable}`);
    }
  }

  for (const [name, raw] of Object.entries(input.cli)) {
    if (raw === undefined) continue;
    const spec = SETTINGS_BY_NAME.get(name)!;
    const flag = flagOf(spec);
    set(spec, raw, flag ? `command line --${flag}` : 'command line');
  }

  if (file && sources.app?.startsWith('config file') && !settings.chdir && typeof settings.app === 'string')
    settings.app = appFromConfigFolder(settings.app, dirname(file.path), input.cwd);

  if (!isComplete(settings) || !hasEverySource(sources)) throw new Error('a setting was left without a value');
  const resolved = { settings, sources, configFile: file?.path ?? null, shadowedConfigFiles: file?.shadowed ?? [] };
  applyImpliedWorkerClass(resolved);
  return resolved;
}

/**
 * Every setting has its parsed value (defaults first, each later value through its spec's parser):
 * the record is a Settings. Checked by name, since the values were checked on the way in.
 */
function isComplete(settings: Record<string, unknown>): settings is Settings {
  return SETTINGS.every((spec) => spec.name in settings);
}

function hasEverySource(sources: Record<string, string>): sources is Sources {
  return SETTINGS.every((spec) => typeof sources[spec.name] === 'string');
}

/** The warning for config files the search passed over, or null when there were none. */
export function shadowedConfigWarning(resolved: Pick<ResolvedSettings, 'configFile' | 'shadowedConfigFiles'>) {
  const others = resolved.shadowedConfigFiles ?? [];
  if (!resolved.configFile || others.length === 0) return null;
  const what = (file: string) => (file.endsWith('/package.json') ? `${file} (its "gserve" key)` : file);
  return (
    `Several config files in one folder: using ${what(resolved.configFile)}, and ignoring ` +
    `${others.map(what).join(', ')}. Keep one, or name it with -c.`
  );
}

const PREFIX = 'GSERVE_';

/**
 * One warning for each GSERVE_ variable in `env` that is neither a setting's nor gserve's own: a
 * misspelled one (`GSERVE_WORKER=4`) is otherwise ignored without a word.
 */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const settingVariables = SETTINGS.map(envOf).filter((v): v is string => v !== false);
  const known = new Set<string>([...settingVariables, ...Object.values(OWN_VARIABLES)]);
  const settingWords = settingVariables.map((v) => v.slice(PREFIX.length));
  return Object.keys(env)
    .filter((name) => name.startsWith(PREFIX) && !known.has(name))
    .sort()
    .map((name) => {
      const guess = closestName(name.slice(PREFIX.length), settingWords);
      return (
        `Environment variable ${name} is not a gserve setting and is ignored.` +
        (guess ? ` Did you mean ${PREFIX}${guess}?` : '') +
        " docs/settings.md names each setting's variable."
      );
    });
}
