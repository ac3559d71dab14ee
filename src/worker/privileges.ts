import { execFileSync } from 'node:child_process';
import { accessSync, constants, fchownSync, lchownSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { resolveAppModule } from '../interfaces/load.js';
import { parseAppSpec } from '../interfaces/spec.js';
import { GserveError } from '../errors.js';
import { errnoCode } from './guards.js';
import './node-internals.js';

/**
 * `--user` / `--group`, like in Gunicorn: the master keeps its identity (it has bound the listeners,
 * maybe port 80 while root); each worker switches to the user and group before it loads the app.
 * The master checks the names at start so that a typo is one clear line, not N worker crashes.
 */
export class PrivilegeError extends GserveError {
  override name = 'PrivilegeError';
  constructor(message: string) {
    super('GSERVE_E_PRIVILEGES', message);
  }
}

export interface Owner {
  uid: number;
  gid: number;
  /** The user name, for the supplementary groups (initgroups); null for a bare uid unknown to the system. */
  user: string | null;
}

type Database = 'passwd' | 'group';

/** One entry of the user or group database: NSS through getent when present, else the files. */
function lookup(db: Database, key: string): string[] | null {
  try {
    const line = execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(
      '\n',
    )[0];
    return line ? line.split(':') : null;
  } catch (err) {
    // getent exits 2 for "not found"; ENOENT means there is no getent (a minimal image): read the file.
    if (errnoCode(err) !== 'ENOENT') return null;
  }
  try {
    const numeric = /^\d+$/.test(key);
    for (const line of readFileSync(`/etc/${db}`, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === key || (numeric && fields[2] === key)) return fields;
    }
  } catch {
    // no such file
  }
  return null;
}

/** The uid and gid the workers take, or null when neither --user nor --group is set. */
export function resolveOwner(user: string | null, group: string | null): Owner | null {
  if (user === null && group === null) return null;
  if (process.platform === 'win32' || typeof process.setuid !== 'function')
    throw new PrivilegeError('--user and --group need a POSIX system.');
  let uid = process.getuid!();
  let gid = process.getgid!();
  let name: string | null = null;
  if (user !== null) {
    const entry = lookup('passwd', user);
    if (!entry && !/^\d+$/.test(user))
      throw new PrivilegeError(
        `Unknown user "${user}" (--user): no such user on this system. Give an existing user name or a numeric uid.`,
      );
    uid = entry ? Number(entry[2]) : Number(user);
    name = entry ? entry[0]! : null;
    if (entry) gid = Number(entry[3]); // the user's primary group, unless --group says otherwise
  }
  if (group !== null) {
    const entry = lookup('group', group);
    if (!entry && !/^\d+$/.test(group))
      throw new PrivilegeError(
        `Unknown group "${group}" (--group): no such group on this system. ` +
          'Give an existing group name or a numeric gid.',
      );
    gid = entry ? Number(entry[2]) : Number(group);
  }
  const self = process.getuid!();
  if (self !== 0 && (uid !== self || gid !== process.getgid!())) {
    throw new PrivilegeError(
      `--user/--group need the master to run as root (it runs as uid ${self}). Start gserve as root, ` +
        'or drop --user and --group.',
    );
  }
  return { uid, gid, user: name };
}

/**
 * In the root master: gives a file the workers use after they drop to `owner` (a log file they
 * reopen on USR1, by its open descriptor; a unix socket nginx must reach), as Gunicorn chowns them.
 * Best effort: where it cannot, the worker's own error names the file.
 */
export function handOver(owner: Owner | null, file: string | number): void {
  if (!owner || process.getuid?.() !== 0) return;
  try {
    // Never through a symlink: the workers' user may write the folder, and plant one to any file.
    if (typeof file === 'number') fchownSync(file, owner.uid, owner.gid);
    else lchownSync(file, owner.uid, owner.gid);
  } catch {
    // a filesystem without owners; the worker says what it cannot open
  }
}

/** In the worker: take on the owner, groups first (they cannot be changed once the uid is not root). */
export function dropPrivileges(owner: Owner): void {
  if (process.getuid!() === owner.uid && process.getgid!() === owner.gid) return;
  // initgroups is missing from @types/node's Process: declared in node-internals.ts.
  if (owner.user !== null && process.initgroups) process.initgroups(owner.user, owner.gid);
  else process.setgroups!([owner.gid]);
  process.setgid!(owner.gid);
  process.setuid!(owner.uid);
}

/**
 * The folder holding the app module that APP names, where it can be found: checked after the drop
 * like the working folder, so an app elsewhere that the user cannot read gets that said of it, not
 * node's "Cannot find module". Null where it cannot be found (the loader then says so).
 */
export function appFolder(appText: string, cwd: string): string | null {
  try {
    return dirname(resolveAppModule(parseAppSpec(appText).module, cwd));
  } catch {
    return null;
  }
}

/**
 * After the switch, the folders the worker still loads code from (gserve's own, the app's) must be
 * readable by the new user. Node would otherwise report each file there as missing ("Cannot find
 * module"), though it is there and only out of that user's reach (a checkout under /root, a 0700
 * temporary folder).
 */
export function checkStillReadable(owner: Owner, folders: readonly string[]): void {
  for (const folder of folders) {
    try {
      accessSync(folder, constants.R_OK | constants.X_OK);
    } catch (err) {
      throw new PrivilegeError(
        `the worker now runs as uid ${owner.uid} and cannot read ${folder} (${errnoCode(err) ?? String(err)}). ` +
          'Make that folder, and every folder above it, readable and searchable by that user (chmod o+rx), ' +
          'or install gserve and the app where that user can read them.',
      );
    }
  }
}
