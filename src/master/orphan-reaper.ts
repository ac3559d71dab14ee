import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { OWN_VARIABLES } from '../config/own-variables.js';

/**
 * Kills the workers a master leaves behind when it dies without stopping them (kill -9, the OOM
 * killer), including a worker whose event loop is blocked forever and so never sees its IPC channel
 * close. It is one small shell per master, blocked reading a pipe from the master: the kernel closes
 * the pipe when the master dies, however it dies, and the shell then waits out the stop's grace
 * (a worker that noticed stops gracefully by itself meanwhile, finishing its requests in flight, as
 * Gunicorn's workers do when their parent changes) and SIGKILLs the workers the master last told it
 * about: the SIGKILL the master itself would have sent at --graceful-timeout.
 *
 * One shell for every worker costs about 1 MB; the thread each worker would otherwise run for the
 * same purpose (worker/watchdog.ts, the fallback where there is no /bin/sh or /proc) costs about 8 MB
 * each. A pid is killed only while its command line still names the worker entry script, so a pid
 * reused by another program is left alone.
 */
const SHELL = '/bin/sh';
/** Set to 1 to run without the reaper (the workers then start their watchdog threads): for tests. */
export const NO_REAPER_ENV = OWN_VARIABLES.noOrphanReaper;

// $0 is the worker entry script. Each line from the master is the grace in whole seconds, then the
// whole current list of worker pids. A pid counts as that worker while its command line still names
// the script. The shell leaves as soon as none is left, so it outlives its master no longer than they.
const SCRIPT = `
last=
while IFS= read -r line; do last=$line; done
set -- $last
[ $# -gt 1 ] || exit 0
grace=$1
shift
ours() { case "$(tr '\\000' ' ' < /proc/$1/cmdline 2>/dev/null)" in *"$0"*) return 0 ;; esac; return 1; }
while :; do
  left=
  for pid in "$@"; do ours "$pid" && left="$left $pid"; done
  [ -n "$left" ] || exit 0
  [ "$grace" -gt 0 ] || break
  sleep 1
  grace=$((grace - 1))
done
for pid in $left; do kill -9 "$pid" 2>/dev/null; done
`;

export class OrphanReaper {
  private constructor(private readonly child: ChildProcess) {}

  /** Whether a reaper can run here at all: a shell, /proc, and the tests' switch not set. */
  static available(): boolean {
    return process.env[NO_REAPER_ENV] !== '1' && existsSync(SHELL) && existsSync('/proc/self/cmdline');
  }

  /**
   * Starts the reaper for workers running `workerEntry`. It is started after the first workers are
   * forked, not before: spawning the shell takes the master 5-10 ms that each worker would otherwise
   * wait for. `onLost` runs, with why, if the shell cannot start (no descriptor left) or ends later.
   */
  static start(workerEntry: string, onLost: (why: string) => void, shell = SHELL): OrphanReaper | null {
    const failed = () => onLost('the orphan reaper could not start');
    let child: ChildProcess;
    try {
      // Detached: a Ctrl-C or a signal to the master's process group must not end it first.
      child = spawn(shell, ['-c', SCRIPT, workerEntry], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    } catch {
      failed();
      return null;
    }
    // While the master lives, the shell only ends if someone kills it.
    child.on('error', failed);
    child.on('exit', () => onLost('the orphan reaper exited'));
    if (!(child.stdin instanceof Socket)) {
      failed();
      return null;
    }
    // Neither the shell nor its pipe keeps the master's event loop alive.
    child.unref();
    child.stdin.unref();
    child.stdin.on('error', () => {});
    return new OrphanReaper(child);
  }

  /**
   * The master's workers now: the list the reaper acts on if the master dies, `graceSeconds` after
   * (the workers' --graceful-timeout, and a second for their own exit).
   */
  watch(pids: Iterable<number>, graceSeconds: number): void {
    this.child.stdin?.write(`${Math.ceil(graceSeconds) + 1} ${[...pids].join(' ')}\n`);
  }

  /** The master is exiting in order, its workers stopped: nothing is left to reap. */
  stop(): void {
    this.child.removeAllListeners('exit');
    this.child.removeAllListeners('error');
    this.child.on('error', () => {});
    this.child.kill('SIGKILL');
  }
}
