import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { ConfigFileError, errorCode, errorMessage } from '../errors.js';

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
  // TypeScript: loaded by Node itself where it strips types (22.18+, 23.6+), else a one-line hint.
  'gserve.config.ts',
  'gserve.config.mts',
  'gserve.config.cts',
];

const TS_FILE = /\.[cm]?ts$/;
/** Module syntax at the start of a line: what makes a `.js` file in a CommonJS package fail under require(). */
const ESM_SYNTAX = /^\s*(export\s+(default|const|let|var|function|class|async|\{|\*)|import\s*[\w{*'"])/m;

/** The one line that says how to load TypeScript on this Node, for configs and apps alike. */
export function typeScriptHint(file: string): string {
  return (
    `Node ${process.version} cannot load TypeScript (${file}) by itself: use Node 22.18+ or 23.6+ ` +
    '(Node 22.6+ with NODE_OPTIONS=--experimental-strip-types), ' +
    'or run gserve with NODE_OPTIONS="--import tsx" (npm i -D tsx).'
  );
}

/** The config object a module holds: its default export, also when a compiler or require(esm) wrapped it. */
function configOf(mod: Record<string, unknown>): unknown {
  if (
    mod &&
    typeof mod === 'object' &&
    'default' in mod &&
    (mod.__esModule || Object.prototype.toString.call(mod) === '[object Module]')
  )
    return mod.default;
  return mod;
}

/**
 * JS config files are loaded fresh every time: HUP must see the edited file, and both
 * `import()` and `require()` would otherwise hand back the first version from their caches.
 */
const loadJs: Loader = async (filepath) => {
  const isCjs = filepath.endsWith('.cjs') || (filepath.endsWith('.js') && !isEsmPackageFile(filepath));
  if (isCjs) {
    delete require.cache[require.resolve(filepath)];
    try {
      return configOf(await withoutEsmWarning(() => require(filepath)));
    } catch (err) {
      // `export default` in a package without "type": "module": Node 20.19+ and 22.12+ load it
      // through require(esm); older ones throw here, so try import() before giving up.
      if (!(err instanceof SyntaxError) || !ESM_SYNTAX.test(readFileSync(filepath, 'utf8'))) throw err;
      try {
        return await withoutEsmWarning(() => importFresh(filepath));
      } catch {
        throw new ConfigFileError(
          `Config file ${filepath} uses export/import, but its package.json has no "type": "module", so Node ` +
            `reads it in CommonJS mode. Rename it to ${filepath.replace(/\.js$/, '.mjs')}, or write ` +
            `module.exports = { ... }.`,
        );
      }
    }
  }
  try {
    return await importFresh(filepath);
  } catch (err) {
    if (TS_FILE.test(filepath) && errorCode(err) === 'ERR_UNKNOWN_FILE_EXTENSION')
      throw new ConfigFileError(typeScriptHint(filepath));
    throw err;
  }
};

/**
 * Hides Node's "To load an ES module" (Node 24: "Failed to load the ES module") warnings,
 * which the CommonJS-to-module fallback above sets off: the config then loads anyway, or gserve
 * says what to do in its own one line. Other warnings pass through.
 */
async function withoutEsmWarning<T>(load: () => T | Promise<T>): Promise<T> {
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  const pass = (warning: Error) => {
    const expected =
      warning.message.startsWith('To load an ES module') || // Node 20 and 22
      warning.message.startsWith('Failed to load the ES module') || // Node 24
      errorCode(warning) === 'MODULE_TYPELESS_PACKAGE_JSON';
    if (!expected) for (const l of listeners) l(warning);
  };
  process.on('warning', pass);
  try {
    return await load();
  } finally {
    // Warnings are emitted on the next tick: restore the listeners after them.
    await new Promise((r) => setImmediate(r));
    process.removeListener('warning', pass);
    for (const l of listeners) process.on('warning', l);
  }
}

async function importFresh(filepath: string): Promise<unknown> {
  return configOf(await import(`${pathToFileURL(filepath).href}?load=${Date.now()}-${Math.random()}`));
}

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
    loaders: { '.js': loadJs, '.mjs': loadJs, '.cjs': loadJs, '.ts': loadJs, '.mts': loadJs, '.cts': loadJs },
  });
  let result;
  try {
    result = explicitPath ? await explorer.load(explicitPath) : await explorer.search(cwd);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    if (explicitPath && errorCode(err) === 'ENOENT') {
      throw new ConfigFileError(
        `Config file not found: ${explicitPath}. Check the path given to -c/--config or GSERVE_CONFIG.`,
      );
    }
    const where = explicitPath ?? failedFile(err) ?? 'the config file';
    const firstLine = errorMessage(err).split('\n')[0];
    throw new ConfigFileError(
      `Could not read config file ${where}: ${firstLine}. Fix the file's syntax, or point -c at another file.`,
    );
  }
  if (!result || result.isEmpty) return result ? { path: result.filepath, values: {} } : null;
  let values: unknown = result.config;
  if (typeof values === 'function') values = await values();
  if (!isRecord(values)) {
    throw new ConfigFileError(
      `Config file ${result.filepath} must export an object of settings, ` +
        `got ${Array.isArray(values) ? 'an array' : typeof values}.`,
    );
  }
  return { path: result.filepath, values };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The file cosmiconfig was reading when it failed (its errors carry `filepath`). */
function failedFile(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('filepath' in err)) return undefined;
  return typeof err.filepath === 'string' ? err.filepath : undefined;
}
