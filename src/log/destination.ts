import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { errorCode, ExitCode, GserveError } from '../errors.js';
import { handOver, type Owner } from '../worker/privileges.js';
import { diagnoseOpenFailure, type OpenFailure, openProblem, reopenFix, startFix } from './open-failure.js';

type SonicBoom = import('sonic-boom').SonicBoom;

// require(), not import: Node's ESM loader reads a CommonJS package through a translator of its
// own, and doing so cost the master 4-5 MB of RSS (measured on Node 20, master + 2 workers idle).
// Loaded at the first destination opened, not with this module: a worker that logs nothing on its
// way to its first answer never pays for it.
let sonicBoom: typeof import('sonic-boom').SonicBoom | null = null;

/**
 * What a log holds in memory for a reader that does not keep up (a pipe to a stalled log shipper, a
 * paused `| less`): beyond it, lines are dropped. A server must never stop, nor grow without bound,
 * because its log is not read.
 */
export const LOG_BUFFER_MAX = 16 * 1024 * 1024;
/**
 * How long a flush (at exit, or for a line that must be out first) waits for a blocked reader:
 * the lines still held after it are lost, so that a process can always exit.
 */
export const LOG_FLUSH_WAIT_MS = 2000;

/** An open log: sonic-boom's own calls that gserve makes, on a file it can open again. */
export interface LogDestination {
  write(data: string): boolean;
  flushSync(): void;
  /** USR1: the file again, a new one where it was moved away, or one that had failed. */
  reopen(): void;
}

/**
 * A log file (appended to, its folder made) or a standard stream, written through sonic-boom, the
 * writer pino itself uses. A destination that fails (ENOSPC, EIO, a folder gone, EPIPE when a piped
 * reader went away) is dropped: sonic-boom would otherwise retry the failed write forever at the
 * next flush, or throw the error where nothing catches it. Losing log lines must never stop a
 * server, nor a graceful shutdown. A failed file is said once on stderr, and the next USR1 (or
 * `reopen()`) opens it afresh, as it opens a file that logrotate moved away: the log comes back
 * once the disk has room or the folder is back. A reader that does not keep up costs at most
 * LOG_BUFFER_MAX of memory (asynchronous destinations) and LOG_FLUSH_WAIT_MS per flush.
 */
export function openDestination(file: string, standardFd: 1 | 2, sync: boolean): LogDestination {
  const toStandard = file === '-';
  sonicBoom ??= (createRequire(import.meta.url)('sonic-boom') as typeof import('sonic-boom')).SonicBoom;
  const Writer = sonicBoom;
  let dest: SonicBoom | null = null;
  let saidFailure = false;
  const say = (err: unknown) => {
    if (toStandard || saidFailure) return;
    saidFailure = true;
    try {
      writeSync(2, cannotWrite(file, errorCode(err) ?? String(err), diagnoseOpenFailure(file, errorCode(err))));
    } catch {
      // stderr is gone too
    }
  };
  const fail = (failed: SonicBoom, err: unknown) => {
    if (failed !== dest) return;
    dest = null;
    try {
      failed.destroy();
    } catch {
      // already closed
    }
    say(err);
  };
  // A blocked reader is waited for without end by the writes made in the background, and until
  // this deadline by a flush.
  let flushDeadline = Number.POSITIVE_INFINITY;
  const open = () => {
    const opened = new Writer({
      // A descriptor of its own for a pipe (privateStandardFd), which sonic-boom closes with it.
      dest: toStandard ? privateStandardFd(standardFd) : file,
      sync,
      mkdir: !toStandard,
      append: true,
      maxLength: LOG_BUFFER_MAX,
      retryEAGAIN: () => Date.now() < flushDeadline,
    });
    dest = opened;
    opened.on('error', (err) => fail(opened, err));
  };
  open();
  return {
    write: (data) => (dest ? dest.write(data) : true),
    flushSync: () => {
      const current = dest;
      flushDeadline = Date.now() + LOG_FLUSH_WAIT_MS;
      try {
        current?.flushSync();
      } catch (err) {
        if (current) fail(current, err);
      } finally {
        flushDeadline = Number.POSITIVE_INFINITY;
      }
    },
    reopen: () => {
      if (toStandard) return;
      if (dest) return void dest.reopen();
      saidFailure = false; // a reopen asked for: its own failure is said again
      try {
        open();
      } catch (err) {
        say(err);
      }
    },
  };
}

/** A synchronous writer of whole lines. */
export interface LineWriter {
  write(line: string): void;
  flush(): void;
}

/**
 * A standard stream written synchronously, as openDestination's sync writer would, without loading
 * sonic-boom: that takes about 6 ms, and the master's first lines ("Starting gserve", "Listening at")
 * are on its way to forking the workers. What a would-block stream (EAGAIN: a pipe whose reader
 * is slow) does not take is held, in order and within LOG_BUFFER_MAX, and tried again every few
 * milliseconds and at flush(), which waits at most LOG_FLUSH_WAIT_MS: the process never waits on
 * its log. A stream that fails otherwise (EPIPE when a piped reader went away, EIO when the terminal
 * closed) is given up, as openDestination's are.
 */
export function standardStreamWriter(fd: 1 | 2): LineWriter {
  let failed = false;
  let out = -1;
  // Bytes a would-block stream (EAGAIN) did not take yet, in order; as bytes, since the first may
  // begin inside a UTF-8 character, which a string cannot carry (it became U+FFFD).
  const held: Buffer[] = [];
  let heldBytes = 0;
  let retry: NodeJS.Timeout | null = null;
  /** Writes what is held until the stream would block; false once it has failed. */
  const writeHeld = (): boolean => {
    try {
      while (held.length > 0) {
        const first = held[0]!;
        const n = writeSync(out, first);
        heldBytes -= n;
        if (n === first.length) held.shift();
        else held[0] = first.subarray(n);
      }
    } catch (err) {
      if (errorCode(err) !== 'EAGAIN') {
        failed = true;
        held.length = 0;
        heldBytes = 0;
      }
    }
    return !failed;
  };
  const later = () => {
    retry = null;
    if (writeHeld() && held.length > 0) retry = setTimeout(later, RETRY_MS).unref();
  };
  return {
    write(line) {
      if (failed) return;
      if (out < 0) out = privateStandardFd(fd);
      const bytes = Buffer.from(line);
      // A reader that does not keep up: the process goes on, holding at most LOG_BUFFER_MAX for it
      // (or what is left of one line longer than that, which a reader that keeps up gets whole).
      if (held.length > 0 && heldBytes + bytes.length > LOG_BUFFER_MAX) return;
      held.push(bytes);
      heldBytes += bytes.length;
      if (retry === null && writeHeld() && held.length > 0) retry = setTimeout(later, RETRY_MS).unref();
    },
    flush() {
      const deadline = Date.now() + LOG_FLUSH_WAIT_MS;
      while (writeHeld() && held.length > 0 && Date.now() < deadline) Atomics.wait(PAUSE, 0, 0, RETRY_MS);
    },
  };
}

/** How often a would-block stream is tried again. */
const RETRY_MS = 10;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * The descriptor to write standard stream `fd` through. A pipe's O_NONBLOCK flag belongs to its open
 * file description, which the master, its workers and their apps all share, and an app's
 * process.stderr (synchronous on a Linux pipe) makes it blocking: a full pipe then stopped the
 * master inside write(2), deaf to signals. Opened again through /proc/self/fd, the pipe gets a
 * description of gserve's own, non-blocking whatever the others do. Anything else (a terminal, a
 * file, a socket, another system) is written through `fd` itself.
 */
function privateStandardFd(fd: 1 | 2): number {
  try {
    if (process.platform !== 'linux' || !fstatSync(fd).isFIFO()) return fd;
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return fd; // ENXIO: the pipe has no reader left; the writes will say EPIPE
  }
}

const APPEND_NOT_THROUGH_LINK = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/**
 * Refuses, at start, a log file that cannot be opened for appending (its folder cannot be made, no
 * permission): since a failing destination is given up, the server would otherwise run without a
 * log and nobody would know. The master checks (and makes the files); the workers open them after it.
 */
export function checkLogFiles(
  settings: { errorLogfile: string | null; accessLogfile: string | null },
  options: {
    /** --check-config: whether they could be made, without making them. */
    dryRun?: boolean;
    /** --user: the workers open (and on USR1 reopen) the files as that user, after the drop. */
    owner?: Owner | null;
  } = {},
): void {
  checkLogFile(settings.errorLogfile, '--error-logfile', options);
  checkLogFile(settings.accessLogfile, '--access-logfile', options);
}

function checkLogFile(
  file: string | null,
  flag: string,
  { dryRun = false, owner = null }: { dryRun?: boolean; owner?: Owner | null },
): void {
  if (file === null || file === '-') return;
  try {
    if (dryRun) checkCouldOpen(file);
    else openLogFile(file, owner);
  } catch (err) {
    const code = errorCode(err);
    throw new GserveError(
      'GSERVE_E_LOGFILE',
      code === 'ELOOP' && owner
        ? `Cannot open ${flag} ${file}: it is a symlink, which gserve does not follow for a file it gives to ` +
            '--user. Name the file it points to.'
        : cannotOpen(flag, file, code ?? String(err), diagnoseOpenFailure(file, code)),
      ExitCode.USAGE,
    );
  }
}

/** The line that refuses a log file at start: what is in the way, and what to do instead. */
export function cannotOpen(flag: string, file: string, code: string, failure: OpenFailure): string {
  const problem = openProblem(failure);
  const example = flag === '--error-logfile' ? 'error.log' : 'access.log';
  return `Cannot open ${flag} ${file}: ${code}${problem ? `, ${problem}` : ''}. ${startFix(file, failure, example)}`;
}

/** The line a running server says once when it loses a log file (at a write, or at a USR1 reopen). */
export function cannotWrite(file: string, code: string, failure: OpenFailure): string {
  const problem = openProblem(failure);
  return (
    `gserve: cannot write the log file ${file} (${code}${problem ? `, ${problem}` : ''}); its lines are dropped ` +
    `until it can be written again: ${reopenFix(failure)}, then send USR1 to reopen it\n`
  );
}

/** Throws what opening `file` for appending would, without making it or its folders. */
function checkCouldOpen(file: string): void {
  // The file if it is there, else the nearest folder that is: gserve writes, or makes, below it.
  let at = file;
  while (!existsSync(at)) at = dirname(at);
  const isFolder = statSync(at).isDirectory();
  if (at === file && isFolder) throw Object.assign(new Error(), { code: 'EISDIR' });
  if (at !== file && !isFolder) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  accessSync(at, at === file ? constants.W_OK : constants.W_OK | constants.X_OK);
}

/** Makes `file` (and its folders) if missing, and gives it to `owner` (--user). */
function openLogFile(file: string, owner: Owner | null): void {
  makeFolders(dirname(file));
  // Under --user the file becomes the workers' user's, who may write its folder: a symlink planted
  // there is not followed, or root would make, and give away, whatever it points to.
  const fd = openSync(file, owner ? APPEND_NOT_THROUGH_LINK : 'a', 0o644);
  try {
    handOver(owner, fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p`, one level at a time: Node 20's recursive mkdirSync loops forever where a folder cannot
 * be made under an existing one that refuses it with ENOENT (anywhere under /proc).
 */
function makeFolders(dir: string): void {
  const missing: string[] = [];
  for (let at = dir; !existsSync(at); at = dirname(at)) missing.unshift(at);
  for (const folder of missing) mkdirSync(folder);
}
