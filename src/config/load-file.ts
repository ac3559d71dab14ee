import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { ConfigFileError } from '../errors.js';

const require = createRequire(import.meta.url);

export const SEARCH_PLACES = [
  'package.json',
  'gserve.config.js',
  'gserve.config.mjs',
  'gserve.config.cjs',
  'gserve.config.json',
  'gserve.config.yaml',
  'gserve.config.yml',
  '.gservrc',
  '.gservrc.json',
  '.gservrc.yaml',
  '.gservrc.yml',
  '.gservrc.js',
  '.gservrc.mjs',
  '.gservrc.cjs',
];

/**
 * JS config files are loaded fresh every time: HUP must see the edited file, and both
 * `import()` and `require()` would otherwise hand back the first version from their caches.
 */
const loadJs: Loader = async (filepath) => {
  const isCjs = filepath.endsWith('.cjs') || (filepath.endsWith('.js') && !isEsmPackageFile(filepath));
  if (isCjs) {
    delete require.cache[require.resolve(filepath)];
    return require(filepath);
  }
  const mod = await import(`${pathToFileURL(filepath).href}?load=${Date.now()}-${Math.random()}`);
  return mod.default ?? mod;
};

function isEsmPackageFile(filepath: string): boolean {
  let dir = filepath;
  for (;;) {
    const parent = dir.slice(0, dir.lastIndexOf('/'));
    if (!parent || parent === dir) return false;
    dir = parent;
    try {
      return JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).type === 'module';
    } catch {
      // no package.json here; look further up
    }
  }
}

export interface LoadedConfigFile {
  path: string;
  values: Record<string, unknown>;
}

/** Loads the named config file, or searches for one from `cwd` upward; null when none is found. */
export async function loadConfigFile(cwd: string, explicitPath: string | null): Promise<LoadedConfigFile | null> {
  const explorer = cosmiconfig('gserve', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'project',
    cache: false,
    loaders: { '.js': loadJs, '.mjs': loadJs, '.cjs': loadJs },
  });
  let result;
  try {
    result = explicitPath ? await explorer.load(explicitPath) : await explorer.search(cwd);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (explicitPath && e.code === 'ENOENT') {
      throw new ConfigFileError(`Config file not found: ${explicitPath}. Check the path given to -c/--config or GSERVE_CONFIG.`);
    }
    const where = explicitPath ?? (e as { filepath?: string }).filepath ?? 'the config file';
    const firstLine = String(e.message ?? e).split('\n')[0];
    throw new ConfigFileError(`Could not read config file ${where}: ${firstLine}. Fix the file's syntax, or point -c at another file.`);
  }
  if (!result || result.isEmpty) return result ? { path: result.filepath, values: {} } : null;
  let values = result.config;
  if (typeof values === 'function') values = await values();
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigFileError(`Config file ${result.filepath} must export an object of settings, got ${Array.isArray(values) ? 'an array' : typeof values}.`);
  }
  return { path: result.filepath, values: values as Record<string, unknown> };
}
