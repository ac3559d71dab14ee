import { readdirSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { Settings } from '../config/settings/index.js';
import { SettingError, errorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';

/**
 * `--reload`, for development: watch source folders and reload the workers (as HUP does: new
 * workers first, the old ones retire only once the new ones serve, so a syntax error leaves the
 * old code serving) when a matching file changes. Changes are gathered for a short quiet period
 * so that a save of many files, or an editor's write-and-rename, is one reload.
 */

const DEBOUNCE_MS = 250;
/** Never watched: dependencies and VCS folders would cost thousands of watches and change on install. */
const SKIPPED_FOLDERS = new Set(['node_modules', '.git', '.hg', '.svn']);

/** A glob turned into a RegExp: `*` within a name, `**` across folders, `?` one character, `{a,b}` either. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re +=
          '(?:' +
          glob
            .slice(i + 1, end)
            .split(',')
            .map((alt) => alt.replace(/[.+^${}()|[\]\\*?]/g, '\\$&'))
            .join('|') +
          ')';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Globs without a `/` match the file name (as in Uvicorn), others the path relative to the watched folder. */
export function globMatcher(globs: readonly string[]): (relPath: string) => boolean {
  const compiled = globs.map((g) => ({ re: globToRegExp(g), byName: !g.includes('/') }));
  return (relPath) => {
    const posix = relPath.split(sep).join('/');
    const name = basename(posix);
    return compiled.some(({ re, byName }) => re.test(byName ? name : posix));
  };
}

/** stat, or null when the path cannot be looked at (gone, ELOOP, ENOTDIR, EACCES, ...). */
function statOrNull(path: string): Stats | null {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}

export class DevReloader {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly dirs: string[];
  private readonly included: (rel: string) => boolean;
  private readonly excluded: (rel: string) => boolean;

  constructor(
    settings: Pick<Settings, 'reloadDir' | 'reloadInclude' | 'reloadExclude'>,
    private readonly reload: () => void,
    private readonly log: Logger,
    cwd = process.cwd(),
  ) {
    this.dirs = (settings.reloadDir.length ? settings.reloadDir : ['.']).map((d) => resolve(cwd, d));
    this.included = globMatcher(settings.reloadInclude);
    this.excluded = globMatcher(settings.reloadExclude);
  }

  /** Throws a SettingError for a --reload-dir that is not a folder: watching nothing would look like working. */
  start(): void {
    for (const dir of this.dirs) {
      const kind = statOrNull(dir);
      if (!kind?.isDirectory())
        throw new SettingError(
          `--reload-dir ${dir} ${kind ? 'is not a folder: give the folder that holds it' : 'does not exist: give a folder that does, or leave --reload-dir out to watch the working directory'}`,
        );
      this.watchTree(dir, dir);
    }
    this.log.info('Reload: watching %d folder(s) under %s', this.watchers.size, this.dirs.join(', '));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** One non-recursive watch per folder: recursive fs.watch on Linux (Node 20) would descend into node_modules. */
  private watchTree(root: string, dir: string): void {
    if (this.watchers.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        // The folder itself went (inotify names it in its own watch's event), unless this watch
        // was already replaced by one of the folder made again.
        if (name === basename(dir) && !statOrNull(dir)) {
          if (this.watchers.get(dir) === watcher) this.forget(dir);
        } else if (name) this.changed(root, join(dir, name.toString()));
      });
    } catch (err) {
      this.log.warn('Reload: cannot watch %s (%s)', dir, errorCode(err));
      return;
    }
    watcher.on('error', () => {
      watcher.close();
      if (this.watchers.get(dir) === watcher) this.watchers.delete(dir);
    });
    this.watchers.set(dir, watcher);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries)
      if (e.isDirectory() && !SKIPPED_FOLDERS.has(e.name) && !e.name.startsWith('.'))
        this.watchTree(root, join(dir, e.name));
  }

  /**
   * A watched folder was removed (`rm -rf src`, a checkout that replaces it): its watches end, so
   * that the folder made again in its place, which its parent's watch reports, is watched anew.
   */
  private forget(dir: string): void {
    for (const [watched, watcher] of this.watchers)
      if (watched === dir || watched.startsWith(dir + sep)) {
        watcher.close();
        this.watchers.delete(watched);
      }
  }

  private changed(root: string, path: string): void {
    const rel = relative(root, path);
    if (rel.split(sep).some((part) => SKIPPED_FOLDERS.has(part))) return;
    // A new folder: watch it too (its files count from now on). A symlink loop (ELOOP) or a
    // path that cannot be looked at is no folder: this runs in the master, and must never throw.
    if (statOrNull(path)?.isDirectory()) {
      // Watched anew: it may be a folder made again in place of one watched, whose removal its own
      // watch may report only after this (the order of two watches' events is not fixed).
      if (!basename(path).startsWith('.')) {
        this.forget(path);
        this.watchTree(root, path);
      }
      return;
    }
    if (!this.included(rel) || this.excluded(rel)) return;
    this.pending.add(rel);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), DEBOUNCE_MS);
  }

  private fire(): void {
    this.timer = null;
    const files = [...this.pending];
    this.pending.clear();
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? `, and ${files.length - 5} more` : '');
    this.log.info('Reload: %s changed; reloading the workers', shown);
    this.reload();
  }
}
