import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * Where an app failed to load, the way `node` itself shows it: `file:line:column`, then the line and a
 * caret. Node puts this on a CommonJS syntax error's stack, but not on an ES module's (the arrow
 * is kept where only Node's own fatal-error printer reads it), so for those the files are checked
 * again with `node --check`, which parses without running anything.
 */
export interface LoadErrorSite {
  /** `/abs/file.js:3:14` */
  where: string;
  /** The offending line and a caret under the column, the way node prints them. */
  excerpt: string;
}

/** At most this many of the app's own files are checked for a syntax error (each is one `node --check`). */
const MAX_CHECKED = 40;

export function locateLoadError(err: unknown, entryFile: string): LoadErrorSite | null {
  if (!(err instanceof Error)) return null;
  if (err instanceof SyntaxError) return arrowSite(err.stack ?? '') ?? findSyntaxError(entryFile);
  return throwSite(err.stack ?? '');
}

/** `path:LINE\nsource\n   ^^^` at the start of a stack (CommonJS) or of `node --check` output. */
function arrowSite(text: string): LoadErrorSite | null {
  const m = /^(?:file:\/\/)?(\/[^\n]*?):(\d+)\n([^\n]*)\n( *)\^/.exec(text);
  if (!m) return null;
  const [, file, line, source, pad] = m;
  const column = pad!.length + 1;
  return { where: `${file}:${line}:${column}`, excerpt: `${source}\n${pad}^` };
}

/** The first stack frame in a file that is neither Node's nor gserve's: the line that threw. */
function throwSite(stack: string): LoadErrorSite | null {
  for (const m of stack.matchAll(/^\s+at (?:.*?\()?(file:\/\/\/[^\s)]+|\/[^\s)]+):(\d+):(\d+)\)?$/gm)) {
    const file = m[1]!.startsWith('file:') ? fileURLToPath(m[1]!.replace(/\?.*$/, '')) : m[1]!;
    if (file.startsWith(PACKAGE_ROOT + '/dist/') || file.startsWith(PACKAGE_ROOT + '/src/')) continue;
    const line = Number(m[2]);
    const column = Number(m[3]);
    let source = '';
    try {
      source = readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
    } catch {
      // the file is gone or unreadable: the location alone still helps
    }
    return { where: `${file}:${line}:${column}`, excerpt: source ? `${source}\n${' '.repeat(column - 1)}^` : '' };
  }
  return null;
}

/** A module specifier in `import ... from '…'`, `import('…')` (or a bare `import '…'`) and `require('…')`. */
const IMPORT = new RegExp(
  [
    String.raw`(?:^|[\s;])(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"\n]+)['"]`,
    String.raw`(?:^|[\s;])import\s*\(?\s*['"]([^'"\n]+)['"]`,
    String.raw`\brequire\(\s*['"]([^'"\n]+)['"]\s*\)`,
  ].join('|'),
  'g',
);
const EXTENSIONS = ['', '.js', '.mjs', '.cjs', '/index.js', '/index.mjs', '/index.cjs'];
/** A line that starts with `import` or `export`: what makes node load a typeless .js as an ES module. */
const MODULE_SYNTAX = /^\s*(?:import|export)\b/m;

/** A regular file (not a folder) at this path. */
export const isFile = (file: string) => existsSync(file) && statSync(file).isFile();

/** Checks the entry file, then the files it imports by relative path, breadth first. */
/** `node --check` on a file (or on `input`, from stdin): its complaint, or null when it parses. */
function nodeCheck(args: string[], input?: string): string | null {
  const check = spawnSync(process.execPath, ['--check', ...args], { input, encoding: 'utf8', timeout: 10_000 });
  return check.status === 0 ? null : (check.stderr ?? '');
}

function findSyntaxError(entryFile: string): LoadErrorSite | null {
  const queue = [entryFile];
  const seen = new Set(queue);
  for (let i = 0; i < queue.length && i < MAX_CHECKED; i++) {
    const file = queue[i]!;
    const failed = nodeCheck([file]);
    if (failed !== null) return arrowSite(failed);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    // Node 20's --check passes a .js with ES module syntax in a project that names no "type"
    // (node loads it as a module all the same): such a file is checked again as a module, from stdin.
    if (file.endsWith('.js') && MODULE_SYNTAX.test(source)) {
      const failed = nodeCheck(['--input-type=module'], source);
      if (failed !== null) return arrowSite(failed.replace(/^\[stdin\]/, file));
    }
    for (const m of source.matchAll(IMPORT)) {
      const specifier = m[1] ?? m[2] ?? m[3]!;
      if (!specifier.startsWith('.') && !specifier.startsWith('/')) continue;
      const base = resolve(dirname(file), specifier);
      const found = EXTENSIONS.map((ext) => base + ext).find(isFile);
      if (found && !seen.has(found) && !found.includes(join('/', 'node_modules', '/'))) {
        seen.add(found);
        queue.push(found);
      }
    }
  }
  return null;
}
