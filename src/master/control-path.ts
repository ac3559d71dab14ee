import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Settings } from '../config/settings/index.js';
import { errorCode } from '../errors.js';

/**
 * Where a master's control socket lives, so that `gserve status|reload|scale|stop` typed in an
 * app's folder reaches that app's master and no other:
 * - `--control-socket PATH` when given (`off` turns it off);
 * - else beside `--pid` (`NAME.ctl`);
 * - else `$XDG_RUNTIME_DIR/gserve/` (or `$TMPDIR/gserve-UID/`, mode 0700), named after the folder
 *   gserve was started in and its first `--bind`: `FOLDERHASH-BINDHASH.ctl`. Hashes keep the name
 *   short (a Unix socket path has about 100 bytes) and let the CLI find every master of a folder.
 */
export type ControlSettings = Pick<Settings, 'controlSocket' | 'pid' | 'chdir' | 'bind'>;

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/**
 * 40 bits of FNV-1a (64-bit) over the text's UTF-8: a name only two folders that collide by chance
 * would share, which is all a socket's name needs (it is not a secret). Loading node:crypto alone
 * costs about 4 MB of RSS on Node 24 (2 MB on Node 20) and 8 ms of the master's start-up.
 */
function short(text: string): string {
  let hash = FNV_OFFSET;
  for (const byte of Buffer.from(text)) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * FNV_PRIME);
  return hash.toString(16).padStart(16, '0').slice(0, 10);
}

/** The prefix every default socket of masters started in `folder` shares. */
export const folderKey = (folder: string) => short(resolve(folder));
export const bindKey = (firstBind: string | undefined) => short(firstBind ?? '');

/** The folder default sockets are kept in (not created here). */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_RUNTIME_DIR
    ? join(env.XDG_RUNTIME_DIR, 'gserve')
    : join(tmpdir(), `gserve-${process.getuid?.() ?? 0}`);
}

/** An explicit path (--control-socket, or beside --pid), null when off, undefined for the default. */
export function explicitControlPath(
  settings: Omit<ControlSettings, 'bind'>,
  cwd = process.cwd(),
): string | null | undefined {
  if (settings.controlSocket === 'off') return null;
  if (settings.controlSocket) return resolve(launchBase(settings, cwd), settings.controlSocket);
  const pidfile = pidfilePath(settings, cwd);
  return pidfile === null ? undefined : pidfile.replace(/\.pid$/, '') + '.ctl';
}

/** The pidfile --pid names, as the master resolves it (relative to --chdir); null without one. */
export function pidfilePath(settings: Pick<ControlSettings, 'pid' | 'chdir'>, cwd = process.cwd()): string | null {
  return settings.pid ? resolve(launchBase(settings, cwd), settings.pid) : null;
}

const launchBase = (settings: Pick<ControlSettings, 'chdir'>, cwd: string): string =>
  settings.chdir ? resolve(cwd, settings.chdir) : cwd;

/** The socket path for a master started in `folder` with these settings. */
export function defaultControlPath(
  settings: Pick<Settings, 'bind'>,
  folder: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return join(controlDir(env), `${folderKey(folder)}-${bindKey(settings.bind[0])}.ctl`);
}

/**
 * Makes the default folder, private to this user. A folder in a shared temp dir that someone else
 * made (or that others may write to) is refused: they could put their own socket there.
 */
export function ensureControlDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory()) return `${dir} is not a directory`;
    if (process.getuid && stat.uid !== process.getuid()) return `${dir} belongs to another user`;
    if ((stat.mode & 0o077) !== 0)
      return `${dir} is open to other users (mode ${(stat.mode & 0o777).toString(8)}); make it 0700`;
    return null;
  } catch (err) {
    return `cannot create ${dir} (${errorCode(err)})`;
  }
}
