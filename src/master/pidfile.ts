import { readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { GserveError, ExitCode, errorCode } from '../errors.js';
import { processExists } from '../supervision/process-alive.js';

/**
 * Whether `pid` may be the master that wrote the pidfile: a live process other than init, and,
 * where /proc tells, one running gserve: an argument of its command line is a file named `gserve`
 * (the npm bin, `npx gserve`, `node --import tsx bin/gserve`). A pidfile kept on a volume across a
 * container restart names a pid some unrelated process (or PID 1) has now; that must not block the
 * start forever, nor must `tail -f gserve.log` holding it.
 */
function mayBeMaster(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 1 || !processExists(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return true; // no /proc (or not ours to read): alive is all that is known
  }
  return cmdline.split('\0').some((arg) => basename(arg) === 'gserve');
}

/** The master's pidfile: refused while another live master holds it; removed only if still ours. */
export class Pidfile {
  constructor(readonly path: string) {}

  create(pid = process.pid): void {
    let other: number | null = null;
    try {
      other = Number(readFileSync(this.path, 'utf8').trim()) || null;
    } catch {
      // no pidfile yet
    }
    if (other && other !== pid && mayBeMaster(other)) {
      throw new GserveError(
        'GSERVE_E_PIDFILE',
        `Pidfile ${this.path} is held by a running master (pid ${other}). Stop it first, or give another --pid.`,
        ExitCode.USAGE,
      );
    }
    // Written beside it and renamed over it, as Gunicorn does: a symlink planted at the path (by
    // whoever may write in its folder) is replaced, never written through, by a master run as root.
    const temporary = `${this.path}.${pid}.tmp`;
    try {
      rmSync(temporary, { force: true }); // one left by a master killed right here, or planted
      writeFileSync(temporary, `${pid}\n`, { flag: 'wx', mode: 0o644 });
      renameSync(temporary, this.path);
    } catch (err) {
      rmSync(temporary, { force: true });
      throw new GserveError(
        'GSERVE_E_PIDFILE',
        `Cannot write the pidfile ${this.path}: ${errorCode(err) ?? err}. Create its folder or make it writable, ` +
          'or give another --pid.',
        ExitCode.USAGE,
      );
    }
  }

  remove(pid = process.pid): void {
    try {
      if (Number(readFileSync(this.path, 'utf8').trim()) === pid) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
