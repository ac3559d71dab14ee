import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Why a log file could not be opened for appending. The error code alone misleads: EACCES is the
 * file's own mode as often as its folder's, and EISDIR is no permission problem at all, so the hint
 * follows what is actually in the way.
 */
export type OpenFailure =
  | { kind: 'is-folder' }
  | { kind: 'file-not-writable'; user: string; mode: number; ownerUid: number; uid: number | undefined }
  | { kind: 'folder-not-writable'; user: string; folder: string }
  | { kind: 'under-a-file' }
  | { kind: 'read-only-filesystem' }
  | { kind: 'other' };

/** Looks at the file and its folders, as the user gserve runs as, after opening `file` failed with `code`. */
export function diagnoseOpenFailure(file: string, code: string | undefined): OpenFailure {
  try {
    if (code === 'EISDIR') return { kind: 'is-folder' };
    if (code === 'ENOTDIR') return { kind: 'under-a-file' };
    if (code === 'EROFS') return { kind: 'read-only-filesystem' };
    if (code !== 'EACCES' && code !== 'EPERM') return { kind: 'other' };
    if (existsSync(file) && !writable(file)) {
      const { mode, uid } = statSync(file);
      return {
        kind: 'file-not-writable',
        user: currentUser(),
        mode: mode & 0o7777,
        ownerUid: uid,
        uid: process.getuid?.(),
      };
    }
    // existsSync is false below a folder that may not be searched, so the nearest folder "there"
    // is the one that refuses: the file's own, or one above it.
    let folder = dirname(file);
    while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
    return { kind: 'folder-not-writable', user: currentUser(), folder };
  } catch {
    return { kind: 'other' };
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The user's name, or `uid N` where it has none (a container's arbitrary uid). */
function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** What is wrong, after the error code: `EISDIR, it is a folder`. Empty for a failure it cannot tell. */
export function openProblem(failure: OpenFailure): string {
  switch (failure.kind) {
    case 'is-folder':
      return 'it is a folder';
    case 'file-not-writable':
      return (
        `the file is not writable by user ${failure.user} ` +
        `(mode ${failure.mode.toString(8).padStart(4, '0')}, owner uid ${failure.ownerUid})`
      );
    case 'folder-not-writable':
      return `user ${failure.user} may not create or open files in the folder ${failure.folder}`;
    case 'under-a-file':
      return 'a part of its path is a file, not a folder';
    case 'read-only-filesystem':
      return 'it is on a read-only file system';
    case 'other':
      return '';
  }
}

/**
 * The fix at start (or at a reload, or at USR1 under --user), where another file may be chosen:
 * `file` is the flag's value, `example` a file name to suggest inside a folder given instead of a file.
 */
export function startFix(file: string, failure: OpenFailure, example: string): string {
  const orStandard = "or choose another file ('-' for the standard stream).";
  switch (failure.kind) {
    case 'is-folder':
      return `Give the path of a file inside it, e.g. ${join(file, example)} ('-' for the standard stream).`;
    case 'file-not-writable':
      return failure.ownerUid === failure.uid
        ? `Make it writable (chmod u+w ${file}), ${orStandard}`
        : `Give it to ${failure.user} (chown), or make it writable by them, ${orStandard}`;
    case 'folder-not-writable':
      return `Make that folder writable by ${failure.user}, ${orStandard}`;
    case 'under-a-file':
    case 'read-only-filesystem':
      return `Choose another file ('-' for the standard stream).`;
    case 'other':
      return `Make its folder writable, ${orStandard}`;
  }
}

/** The fix for a running server, which keeps its settings: what to put right before sending USR1. */
export function reopenFix(failure: OpenFailure): string {
  switch (failure.kind) {
    case 'is-folder':
      return 'move the folder away';
    case 'file-not-writable':
      return `make the file writable by ${failure.user}`;
    case 'folder-not-writable':
      return `make that folder writable by ${failure.user}`;
    case 'under-a-file':
      return 'restore the folder';
    case 'read-only-filesystem':
      return 'remount the file system writable';
    case 'other':
      return 'free the space or restore the folder';
  }
}
