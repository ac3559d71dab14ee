import { readFileSync } from 'node:fs';
import { Command, CommanderError } from './commander.js';
import { fail } from './fail.js';
import { choices, isOneOf } from '../choices.js';
import { ExitCode, GserveError, describeError } from '../errors.js';
import type { ControlRequest, StatusReport } from '../master/control.js';
import { ask, noAnswer, type ControlReply } from './control-client.js';
import { ControlSocketError, findControlSocket } from './find-master.js';
import { processExists } from '../supervision/process-alive.js';
import { PREFIXED_ERRORS } from './program.js';

/**
 * `gserve status|reload|scale|stop`: talk to a running master over its control socket. The socket
 * is found by cli/find-master.ts: the same settings the master used (--control-socket, --pid,
 * config file, env), else the master started in this folder.
 */

export const CONTROL_COMMANDS = choices('status', 'reload', 'scale', 'stop');
type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** A control command that could not be done (no master, or the master said no). */
const FAILED = 1;

export function isControlCommand(word: string | undefined): word is ControlCommand {
  return isOneOf(CONTROL_COMMANDS, word);
}

export interface ControlOptions {
  controlSocket?: string;
  pid?: string;
  config?: string;
  chdir?: string;
  json?: boolean;
  fast?: boolean;
}

/** The options that say which master a command talks to (find-master.ts), for it and `gserve top`. */
export function withLocatingOptions(cmd: Command): Command {
  return cmd
    .option('--control-socket <PATH>', "The master's control socket (default: the one the master computes).")
    .option('-p, --pid <FILE>', "The master's pidfile; the socket is next to it.")
    .option('-c, --config <PATH>', 'The config file whose settings locate the socket.')
    .option('--chdir <DIR>', 'Look for the master as if from DIR: the folder it was started in.');
}

function program(name: ControlCommand): Command {
  const descriptions: Record<ControlCommand, string> = {
    status: 'Show the master and its workers.',
    reload: 'Reload the config and the code, like HUP does; returns once the new workers serve.',
    scale: 'Set the number of workers: N, +N or -N; returns once they serve.',
    stop: 'Stop the master gracefully (or at once with --fast); returns once it has exited.',
  };
  const cmd = withLocatingOptions(new Command(`gserve ${name}`).description(descriptions[name]))
    .helpOption('-h, --help', 'Show this help.')
    .allowExcessArguments(false)
    .configureOutput(PREFIXED_ERRORS)
    .exitOverride();
  if (name === 'status') cmd.option('--json', 'Print JSON, for machines.');
  if (name === 'stop') cmd.option('--fast', 'Stop at once, like QUIT does, instead of finishing requests in flight.');
  if (name === 'scale') cmd.argument('<N>', 'workers: N, +N or -N');
  return cmd;
}

export async function runControl(argv: string[]): Promise<number> {
  const name = argv[0];
  if (!isControlCommand(name)) throw new Error(`not a control command: ${name}`);
  const cmd = program(name);
  try {
    cmd.parse(argv.slice(1), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError)
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? ExitCode.OK : ExitCode.USAGE;
    throw err;
  }
  const opts = cmd.opts<ControlOptions>();
  if (name === 'scale' && !/^[+-]?\d+$/.test(cmd.args[0]!.trim())) {
    return fail(
      `scale takes N, +N or -N, got ${JSON.stringify(cmd.args[0])}: a number of workers, like gserve scale 4 or ` +
        `gserve scale +2.`,
      ExitCode.USAGE,
    );
  }
  const path = await controlSocketOrExitCode(opts);
  if (typeof path === 'number') return path;

  const request: ControlRequest =
    name === 'scale'
      ? { cmd: 'scale', workers: cmd.args[0]! }
      : name === 'stop'
        ? { cmd: 'stop', fast: Boolean(opts.fast) }
        : { cmd: name };
  const started = Date.now();
  let reply: ControlReply;
  try {
    reply = await ask(path, request, name === 'status' || name === 'stop' ? ANSWER_AT_ONCE_MS : 0);
  } catch (err) {
    return fail(noAnswer(path, err), FAILED);
  }
  if (!reply.ok) return fail(reply.error, FAILED);
  const took = ((Date.now() - started) / 1000).toFixed(1);
  switch (name) {
    case 'status':
      process.stdout.write(
        opts.json ? JSON.stringify(reply.raw('status'), null, 2) + '\n' : formatStatus(reply.status()),
      );
      break;
    case 'reload':
      process.stdout.write(
        `Reloaded: generation ${reply.number('generation')} serving, workers ${reply.pids('workers').join(', ')} ` +
          `(${took} s)\n`,
      );
      break;
    case 'scale': {
      const workers = reply.pids('workers');
      process.stdout.write(
        `Scaled to ${workers.length} worker${workers.length === 1 ? '' : 's'}: ${workers.join(', ')} (${took} s)\n`,
      );
      break;
    }
    case 'stop': {
      const pid = reply.number('pid');
      await waitForExit(pid);
      process.stdout.write(`Stopped master ${pid} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      break;
    }
  }
  return ExitCode.OK;
}

/** How long `status` and `stop`, which the master answers at once, wait for a master that does not. */
export const ANSWER_AT_ONCE_MS = 10_000;

/**
 * The control socket of the master a command talks to, or, when there is none to talk to, the exit
 * code to end with, its reason already printed (control commands and `gserve top`).
 */
export async function controlSocketOrExitCode(opts: ControlOptions): Promise<string | number> {
  try {
    return await findControlSocket(opts);
  } catch (err) {
    if (err instanceof GserveError)
      return fail(err instanceof ControlSocketError ? err.message : describeError(err), err.exitCode);
    throw err;
  }
}

/**
 * The master has no socket to tell us it is gone once it has exited: watch its pid. A zombie (exited,
 * not yet reaped by a parent that has not called wait(), a Python Popen say) has exited too.
 */
async function waitForExit(pid: number): Promise<void> {
  for (;;) {
    if (!processExists(pid) || isZombie(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc: kill(pid, 0) alone decides
  }
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

const megabytes = (bytes: number) => (bytes ? `${(bytes / 1048576).toFixed(1)} MiB` : '-');

export function formatStatus(status: StatusReport): string {
  const m = status.master;
  const restarts = Object.entries(status.restarts)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const head = [
    `master ${m.pid}  gserve ${m.version}  up ${duration(m.uptime)}  generation ${m.generation}` +
      (m.stopping ? '  STOPPING' : ''),
    `bind: ${m.stopping ? '(closed: the master is stopping; its workers finish their requests)' : m.bind.join(', ')}`,
    `worker class: ${m.workerClass}  workers: ${m.workers}`,
    `restarts: ${restarts}`,
    '',
  ];
  const rows = [
    ['PID', 'STATE', 'REQUESTS', 'IN-FLIGHT', 'RSS', 'UPTIME', 'RESTARTS'],
    ...status.workers.map((w) => [
      String(w.pid),
      w.state,
      String(w.served),
      String(w.inFlight),
      megabytes(w.rss),
      duration(w.uptime),
      String(w.restarts),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  return [...head, ...lines].join('\n') + '\n';
}
