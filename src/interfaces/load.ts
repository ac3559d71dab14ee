import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppLoadError } from '../errors.js';
import { isFile, locateLoadError } from './load-error.js';
import type { AppSpec } from './spec.js';

// TypeScript files load where Node strips types (22.18+, 23.6+) or through a loader (--import tsx).
const EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];
const INDEXES = ['index.js', 'index.mjs', 'index.cjs', 'index.ts'];

function candidates(base: string): string[] {
  return [...EXTENSIONS.map((ext) => base + ext), ...INDEXES.map((index) => join(base, index))];
}

/** Finds the module file: a path relative to `cwd` first (Gunicorn's `app:app` means ./app), then a package. */
export function resolveAppModule(module: string, cwd: string): string {
  const base = isAbsolute(module) ? module : resolve(cwd, module);
  for (const file of candidates(base)) {
    if (isFile(file)) return file.endsWith('.py') ? notJavaScript(file) : file;
  }
  // Gunicorn's `app:app` names app.py: said plainly, not as a module that is missing.
  if (isFile(`${base}.py`)) notJavaScript(`${base}.py`);
  if (!module.startsWith('.') && !isAbsolute(module)) {
    try {
      return createRequire(join(cwd, 'noop.js')).resolve(module);
    } catch {
      // not a package either; the message below lists what was tried
    }
  }
  throw new AppLoadError(
    'GSERVE_E_APP_NOT_FOUND',
    `Cannot find app module "${module}": looked for ` +
      `${base}{${EXTENSIONS.filter(Boolean).join(',')},${INDEXES.map((i) => '/' + i).join(',')}}` +
      `${module.startsWith('.') || isAbsolute(module) ? '' : ' and a package of that name'} from ${cwd}. ` +
      'Check the MODULE part of APP, or --chdir.',
  );
}

function notJavaScript(file: string): never {
  throw new AppLoadError(
    'GSERVE_E_APP_PYTHON',
    `${file} is a Python module, and gserve runs JavaScript apps: its wsgi and asgi interfaces are ` +
      'JavaScript forms of those protocols. Serve a Python app with Gunicorn or Uvicorn, or name a ' +
      '.js, .mjs, .cjs or .ts module in APP.',
  );
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object with keys ${Object.keys(value).slice(0, 8).join(', ') || '(none)'}`;
  return `a ${typeof value}`;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? `${err.name === 'Error' ? '' : err.name + ': '}${err.message}` : String(err);
  return text.split('\n')[0]!.replace(/\.+$/, '');
}

const isEmptyObject = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  Object.getPrototypeOf(value) === Object.prototype &&
  Object.keys(value).length === 0;

/** Node read an ES module as CommonJS: a .js or .ts file that uses import/export in a CommonJS package. */
function esmReadAsCommonJs(err: unknown, file: string): boolean {
  return (
    err instanceof SyntaxError &&
    /\.[jt]s$/.test(file) &&
    /Cannot use import statement outside a module|Unexpected token 'export'/.test(err.message)
  );
}

/** The value an APP spec names, after calling it when it is a factory. */
export async function loadAppValue(
  spec: AppSpec,
  cwd: string,
): Promise<{ value: unknown; file: string; module: Record<string, unknown>; name: string }> {
  const file = resolveAppModule(spec.module, cwd);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? err.code : undefined;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?ts$/.test(file)) {
      // The config loader (and cosmiconfig with it) is imported only for this message.
      const { typeScriptHint } = await import('../config/load-file.js');
      throw new AppLoadError('GSERVE_E_APP_TYPESCRIPT', typeScriptHint(file));
    }
    const hint =
      code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
        ? ' Install the missing package or fix the import.'
        : esmReadAsCommonJs(err, file)
          ? ' It uses import/export, but its package.json makes it CommonJS (no "type": "module"; `npm init -y` ' +
            `writes "type": "commonjs"). Set "type": "module" in package.json, or rename it to ` +
            `${file.replace(/\.([jt])s$/, '.m$1s')}.`
          : code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX'
            ? // Node strips types only: what needs code generated (enum, namespace, parameter properties) fails.
              ' Node runs TypeScript by stripping types, which this syntax cannot be: run gserve with ' +
              'NODE_OPTIONS=--experimental-transform-types (Node 22.7+), or NODE_OPTIONS="--import tsx" (npm i -D tsx), ' +
              'or write it without (a const object for an enum).'
            : ' Fix the error in the app module.';
    // Point at the line, like node does: where the syntax error is, or which module threw.
    const site = locateLoadError(err, file);
    const at = site ? (err instanceof SyntaxError ? ` at ${site.where}` : ` (thrown at ${site.where})`) : '';
    const excerpt = site?.excerpt ? `${site.where}\n${site.excerpt}` : undefined;
    throw new AppLoadError(
      'GSERVE_E_APP_IMPORT',
      `Failed to load app module ${file}: ${firstLine(err)}${at}.${hint}`,
      excerpt,
    );
  }
  const cjs =
    (mod.default && typeof mod.default === 'object') || typeof mod.default === 'function' ? mod.default : undefined;
  const lookup = (path: string): unknown => {
    const parts = path.split('.');
    const pick = (root: unknown) =>
      parts.reduce<unknown>((v, key) => (v == null ? undefined : Reflect.get(Object(v), key)), root);
    return pick(mod) ?? pick(cjs);
  };
  let name = spec.attr;
  let value: unknown;
  if (name) {
    value = lookup(name);
  } else {
    value = lookup('app');
    name = value === undefined ? 'default' : 'app';
    if (value === undefined) value = mod.default;
  }
  // A CommonJS module that never set module.exports (`const app = express()` and nothing more).
  const exportsNothing = name === 'default' && isEmptyObject(value) && Object.keys(mod).length <= 2;
  if (value === undefined || exportsNothing) {
    const exported = exportsNothing ? [] : Object.keys(mod).filter((k) => k !== 'module.exports');
    const named = exported.find((k) => k !== 'default');
    // The fix names an export it has: never the spec that just failed.
    const fix = named
      ? `Name the export after the colon, e.g. ${spec.module}:${named}.`
      : exported.includes('default')
        ? `Serve its default export: ${spec.module} (without a colon).`
        : 'Export the app: module.exports = app, export default app, or export const app.';
    throw new AppLoadError(
      'GSERVE_E_APP_ATTR',
      `App module ${file} has no export "${spec.attr ?? 'app'}"${spec.attr ? '' : ' and no default export'}; ` +
        `it exports: ${exported.join(', ') || '(nothing)'}. ${fix}`,
    );
  }
  if (spec.args) {
    if (typeof value !== 'function') {
      throw new AppLoadError(
        'GSERVE_E_APP_ATTR',
        `"${name}" in ${file} is ${describeValue(value)}, not a function, ` +
          `so it cannot be called like ${spec.attr}(...). Drop the parentheses or export a factory.`,
      );
    }
    try {
      value = await Reflect.apply(value, undefined, spec.args);
    } catch (err) {
      throw new AppLoadError(
        'GSERVE_E_APP_FACTORY',
        `Factory ${spec.attr}(...) in ${file} threw: ${firstLine(err)}. Fix the factory.`,
      );
    }
  }
  return { value, file, module: mod, name };
}

export { describeValue };
