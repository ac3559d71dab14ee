import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect, stripVTControlCharacters } from 'node:util';
import type { Loader } from 'cosmiconfig';
import { ConfigFileError, errorCode, errorMessage } from '../errors.js';
import { type ExitCall, refusingExit } from '../supervision/exit-while-loading.js';

const require = createRequire(import.meta.url);

export const SEARCH_PLACES = [
  'package.json',
  'gserve.config.js',
  'gserve.config.mjs',
  'gserve.config.cjs',
  'gserve.config.json',
  'gserve.config.yaml',
  'gserve.config.yml',
  '.gserverc',
  '.gserverc.json',
  '.gserverc.yaml',
  '.gserverc.yml',
  '.gserverc.js',
  '.gserverc.mjs',
  '.gserverc.cjs',
  // The first spelling gserve documented; still read.
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

/** The project's CommonJS files a config file's load required first (packages aside). */
const requiredByConfig = new Set<string>();

function requireRecorded(filepath: string, before: Set<string>): Record<string, unknown> {
  try {
    return require(filepath);
  } finally {
    for (const file of Object.keys(require.cache))
      if (!before.has(file) && !file.includes('/node_modules/') && file !== filepath) requiredByConfig.add(file);
  }
}

/**
 * JS config files are loaded fresh every time: HUP must see the edited file, and both
 * `import()` and `require()` would otherwise hand back the first version from their caches.
 */
const loadJs: Loader = async (filepath) => {
  evaluating = filepath;
  try {
    return await loadJsModule(filepath);
  } catch (err) {
    // cosmiconfig adds the file's path to what was thrown, which fails on `throw undefined`.
    throw typeof err === 'object' && err !== null ? err : new ThrownValue(err);
  }
};

/** Something thrown that is not an object (`throw undefined`, `throw "no"`), carried as an Error. */
class ThrownValue extends Error {
  constructor(readonly value: unknown) {
    super(`it threw ${inspect(value)}`);
  }
}

const loadJsModule = async (filepath: string): Promise<unknown> => {
  const isCjs = filepath.endsWith('.cjs') || (filepath.endsWith('.js') && !isEsmPackageFile(filepath));
  if (isCjs) {
    delete require.cache[require.resolve(filepath)];
    // And the project's files it required first (a shared settings file): a HUP must see their edits
    // too. Only those: a module an app loaded stays the one instance the app holds.
    for (const file of requiredByConfig) delete require.cache[file];
    const before = new Set(Object.keys(require.cache));
    try {
      return configOf(await withoutEsmWarning(() => requireRecorded(filepath, before)));
    } catch (err) {
      // `export default` in a package without "type": "module": Node 20.19+ and 22.12+ load it
      // through require(esm); older ones throw here, so try import() before giving up. require(esm)
      // refuses a module with top-level await (`await loadSecrets()`), which import() takes.
      const esm =
        errorCode(err) === 'ERR_REQUIRE_ASYNC_MODULE' ||
        (err instanceof SyntaxError && ESM_SYNTAX.test(readFileSync(filepath, 'utf8')));
      if (!esm) throw err;
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
    // Node 24 warns that a gserve.config.ts in a package without "type" is parsed twice; that is
    // the user's package, and the config loads all the same.
    return await withoutEsmWarning(() => importFresh(filepath));
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

/** The query that makes each import() of a config file a fresh module, kept out of messages. */
const FRESH_QUERY = /\?load=[\d.-]+/g;
/** A SyntaxError thrown while linking modules, not while parsing one: the import names what is not there. */
const LINK_ERROR = /does not provide an export named/;

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
  /** Other config files in the same folder, which the search passed over for `path` (none with -c). */
  shadowed?: string[];
}

/** The JS config file being evaluated now, named by a refusal of the process.exit() it calls. */
let evaluating: string | undefined;

/** A config that calls process.exit() while it loads: the start or the reload fails with the reason. */
const configExit =
  (fallbackFile: string) =>
  ({ call }: ExitCall): Error =>
    new ConfigFileError(
      `Config file ${evaluating ?? fallbackFile} called ${call} while loading; gserve does not stop for ` +
        'it (a HUP would have ended the server). Throw an Error instead: gserve shows its message and refuses ' +
        'the start or the reload.',
    );

/** Loads the named config file, or searches for one from `cwd` upward; null when none is found. */
export async function loadConfigFile(cwd: string, explicitPath: string | null): Promise<LoadedConfigFile | null> {
  if (!explicitPath && !mayFindConfig(cwd)) return null;
  evaluating = undefined;
  // A load that never ends would otherwise say nothing: a named pipe no one writes to (`-c fifo`)
  // blocks its read for ever, as does a config awaiting a server that never answers.
  const slow = setTimeout(() => {
    process.stderr.write(
      `gserve: warning: config file ${evaluating ?? explicitPath ?? 'the config file'} has not finished loading after ` +
        `${SLOW_CONFIG_MS / 1000} s: a named pipe that nothing writes to, or code in it (or in a module it imports) ` +
        'that waits for something that does not come. gserve goes on waiting; TERM or Ctrl-C stops it.\n',
    );
  }, SLOW_CONFIG_MS);
  slow.unref();
  try {
    return await refusingExit(() => loadFound(cwd, explicitPath), configExit(explicitPath ?? 'the config file'));
  } finally {
    clearTimeout(slow);
  }
}

/** How long a config file may take to load before gserve says that it is still waiting. */
const SLOW_CONFIG_MS = 5000;

async function loadFound(cwd: string, explicitPath: string | null): Promise<LoadedConfigFile | null> {
  const { cosmiconfig, defaultLoaders } = await import('cosmiconfig');
  // Editors on Windows save JSON with a byte-order mark, which JSON.parse refuses as a character.
  const loadJson: Loader = (filepath, content) => defaultLoaders['.json'](filepath, content.replace(/^\uFEFF/, ''));
  let result;
  try {
    // Inside the try: cosmiconfig reads package.json for options of its own as it is created.
    const explorer = cosmiconfig('gserve', {
      searchPlaces: SEARCH_PLACES,
      searchStrategy: 'project',
      cache: false,
      loaders: {
        '.js': loadJs,
        '.mjs': loadJs,
        '.cjs': loadJs,
        '.ts': loadJs,
        '.mts': loadJs,
        '.cts': loadJs,
        '.json': loadJson,
      },
    });
    result = explicitPath ? await explorer.load(explicitPath) : await explorer.search(cwd);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    if (explicitPath && errorCode(err) === 'ENOENT') {
      throw new ConfigFileError(
        `Config file not found: ${explicitPath}. Check the path given to -c/--config or GSERVE_CONFIG.`,
      );
    }
    const where = explicitPath ?? failedFile(err) ?? 'the config file';
    if (explicitPath && errorCode(err) === 'EISDIR')
      throw new ConfigFileError(
        `Config file ${explicitPath} is a folder. Point -c at the config file in it (gserve.config.js, for one).`,
      );
    const extension = /No loader specified for extension "([^"]*)"/.exec(errorMessage(err));
    if (extension)
      throw new ConfigFileError(
        `Config file ${where}: gserve cannot read a "${extension[1]}" file. A config file ends in .js, .mjs, .cjs, ` +
          '.ts, .json, .yaml or .yml, or has no extension (JSON or YAML). Rename it, or point -c at another file.',
      );
    const isModule = /\.[cm]?[jt]s$/.test(where);
    // A thrown non-Error has no stack of its own: the ThrownValue's would point into cosmiconfig.
    const site = (
      err instanceof ThrownValue
        ? null
        : isModule
          ? (await import('../interfaces/load-error.js')).locateLoadError(err, where)?.where
          : jsonPosition(err, where)
    )?.replace(FRESH_QUERY, '');
    const at = site ? ` (at ${site})` : '';
    // Code that ran and failed (a throw, a bad call, an import not found) is not a matter of syntax.
    if (isModule && (!(err instanceof SyntaxError) || LINK_ERROR.test(errorMessage(err)))) {
      const other = site && !site.startsWith(`${where}:`) ? site.replace(/(:\d+)+$/, '') : null;
      throw new ConfigFileError(
        `Config file ${where} failed while loading: ${describeThrow(err).replace(FRESH_QUERY, '')}${at}. ` +
          'Fix the code it runs or imports, or point -c at another file.' +
          (other && !/\.c[jt]s$/.test(other)
            ? ` Node keeps an ES module a config imports, failed or not, for the life of the process: a fix to ${other} ` +
              'applies when gserve restarts (or upgrades with USR2), not on HUP.'
            : ''),
      );
    }
    throw new ConfigFileError(
      `Could not read config file ${where}: ${parseFailure(err)}${at}. ` +
        `Fix the file's syntax${/gserve[^/]*\.json$/.test(where) ? ' (JSON allows no comments nor trailing commas; a gserve.config.js does)' : ''}, ` +
        'or point -c at another file.',
    );
  }
  if (!result) return null;
  const shadowed = explicitPath ? [] : shadowedBy(result.filepath);
  if (result.isEmpty) return { path: result.filepath, values: {}, shadowed };
  let values: unknown = result.config;
  if (typeof values === 'function') {
    try {
      values = await values();
    } catch (err) {
      throw new ConfigFileError(
        `Config file ${result.filepath} exports a function that failed: ${errorMessage(err)}. ` +
          'Fix what it reads (a missing variable or file?), or export the settings object itself.',
      );
    }
  }
  if (!isRecord(values)) {
    const got = values === null ? 'null' : Array.isArray(values) ? 'an array' : typeof values;
    throw new ConfigFileError(`Config file ${result.filepath} must export an object of settings, got ${got}.`);
  }
  try {
    // Read once, here: a getter or a Proxy that throws fails as the config file, not as gserve.
    return { path: result.filepath, values: { ...values }, shadowed };
  } catch (err) {
    throw new ConfigFileError(
      `Config file ${result.filepath} failed while its settings were read: ${describeThrow(err)}. ` +
        'Fix the getter (or Proxy) that threw, or export plain values.',
    );
  }
}

/**
 * The other config files in the folder of the one the search found: only the first in SEARCH_PLACES
 * is read, and a gserve.config.js added beside a package.json that still has a "gserve" key (or a
 * .gserverc left from before) would otherwise be ignored without a word.
 */
function shadowedBy(found: string): string[] {
  const dir = dirname(found);
  return SEARCH_PLACES.map((place) => join(dir, place)).filter(
    (file) => file !== found && existsSync(file) && (!file.endsWith('/package.json') || packageHasConfig(file)),
  );
}

/**
 * Whether cosmiconfig's project search from `cwd` could find anything: a search place exists, or a
 * package.json with a "gserve" key, in `cwd` or above it up to the project's root (the first folder
 * with a package.json, as cosmiconfig stops there). Most servers run without a config file, and
 * this spares their start the time and memory of loading cosmiconfig and its parsers.
 */
function mayFindConfig(cwd: string): boolean {
  for (let dir = cwd; ; dir = dirname(dir)) {
    if (SEARCH_PLACES.some((place) => place !== 'package.json' && existsSync(join(dir, place)))) return true;
    const packageJson = join(dir, 'package.json');
    if (existsSync(packageJson)) return packageHasConfig(packageJson);
    if (existsSync(join(dir, 'package.yaml'))) return false;
    if (dirname(dir) === dir) return false;
  }
}

function packageHasConfig(file: string): boolean {
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isRecord(json) && Object.hasOwn(json, 'gserve');
  } catch {
    return true; // unreadable: cosmiconfig will say so, with the file's name
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The line of a parser's error that says what is wrong: JSON and YAML errors come as a heading, the
 * cause (JSON's with the whole text after "while parsing", YAML's with its line and column) and a
 * code frame, and only the cause is worth a line.
 */
function parseFailure(err: unknown): string {
  // The code frame is coloured where the terminal, or CI=true, says colours work.
  const lines = stripVTControlCharacters(errorMessage(err))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^(>|\||\d+ *\||-+\^)/.test(line) && !/^(JSON|YAML) Error in /.test(line));
  return (lines[0] ?? errorMessage(err)).replace(/ while parsing .*$/, '');
}

/** An error thrown by a config module, as its name and message. */
function describeThrow(err: unknown): string {
  if (err instanceof ThrownValue) return err.message;
  return err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : `it threw ${inspect(err)}`;
}

/** `file:line:column` of a JSON.parse failure, which says only "at position N". */
function jsonPosition(err: unknown, file: string): string | null {
  const at = /at position (\d+)/.exec(errorMessage(err));
  if (!at) return null;
  try {
    const before = readFileSync(file, 'utf8').slice(0, Number(at[1]));
    const lines = before.split('\n');
    return `${file}:${lines.length}:${lines.at(-1)!.length + 1}`;
  } catch {
    return null;
  }
}

/** The file cosmiconfig was reading when it failed (its errors carry `filepath`). */
function failedFile(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('filepath' in err)) return undefined;
  return typeof err.filepath === 'string' ? err.filepath : undefined;
}
