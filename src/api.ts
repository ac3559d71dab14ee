import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config/define.js';
import { closestName } from './config/resolve.js';
import { SETTINGS_BY_NAME } from './config/settings/index.js';
import { flagOf } from './config/spec.js';
import { TypeMismatch } from './config/types.js';
import { ExitCode, GserveError, SettingError, isExitCode } from './errors.js';
import { ask } from './cli/control-client.js';
import type { StatusReport } from './master/control.js';

/**
 * Starting gserve from code (a test suite, a dev script): the real `gserve` binary in a child
 * process, so the app runs exactly like in production (a master and its workers), never inside the
 * caller's process. `start()` resolves once every worker serves.
 */

const BIN = fileURLToPath(new URL('../bin/gserve', import.meta.url));

/** Settings that can be given from code: the config file's, without the hooks (functions stay in a config file). */
export type StartSettings = { [K in ValueKeys]?: Config[K] };

/** The config-file keys whose values are data, not functions. */
type ValueKeys = {
  [K in keyof Config]-?: NonNullable<Config[K]> extends (...args: never[]) => unknown ? never : K;
}[keyof Config];

export interface StartOptions {
  /** The app, `MODULE[:ATTR]`, like on the command line (or `app` in the config file). */
  app?: string;
  /** Settings by their config-file names: `{ workers: 2, bind: ['127.0.0.1:0'] }`. */
  settings?: StartSettings;
  /** More command-line arguments, added after the ones made from the settings. */
  args?: string[];
  cwd?: string;
  /** The environment of the master (default: this process's); `settings.env` sets variables in the workers only. */
  env?: NodeJS.ProcessEnv;
  /** Where gserve's logs go: on to this process's stdout/stderr (default), or nowhere. */
  output?: 'inherit' | 'ignore';
  /** How long to wait for the workers to serve, in milliseconds (default 60000). */
  readyTimeout?: number;
}

export interface RunningServer {
  /** The master's pid. */
  readonly pid: number;
  /** Where it listens, the way its `Listening at` lines say it (`http://127.0.0.1:41234`, `unix:/run/app.sock`). */
  readonly urls: string[];
  /** The first of `urls`. */
  readonly url: string;
  /** Reloads config and code, like HUP does. */
  reload(): void;
  /** Stops gracefully (TERM), or at once with `{ fast: true }` (QUIT); resolves with the exit code. */
  stop(opts?: { fast?: boolean }): Promise<number | null>;
  /** Settles when the master exits, for any reason. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The command-line arguments that give gserve these settings, checked against the settings table first. */
export function argsFor(settings: StartSettings & { app?: string }): string[] {
  const args: string[] = [];
  let app: string | undefined;
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined || name === '$schema') continue;
    if (name === 'app') {
      app = String(value);
      continue;
    }
    const spec = SETTINGS_BY_NAME.get(name);
    if (!spec) {
      const guess = closestName(name, SETTINGS_BY_NAME.keys());
      throw new SettingError(
        `Unknown setting "${name}" given to start().${guess ? ` Did you mean "${guess}"?` : ''} ` +
          'See docs/settings.md for the settings.',
        'GSERVE_E_UNKNOWN_SETTING',
      );
    }
    const flag = flagOf(spec);
    if (!flag)
      throw new SettingError(
        `Setting "${name}" cannot be given to start() (it is a server hook): put it in a config file and pass ` +
          `config: 'gserve.config.js'.`,
      );
    let parsed: unknown;
    try {
      parsed = spec.type.parse(value);
    } catch (err) {
      if (err instanceof TypeMismatch)
        throw new SettingError(`Invalid value for setting "${name}" given to start(): ${err.message}.`);
      throw err;
    }
    if (parsed === null) continue;
    if (typeof parsed === 'boolean') args.push(parsed ? `--${flag}` : `--no-${flag}`);
    else if (Array.isArray(parsed)) for (const item of parsed) args.push(`--${flag}`, String(item));
    else args.push(`--${flag}`, String(parsed));
  }
  if (app !== undefined) args.push(app);
  return args;
}

export async function start(opts: StartOptions): Promise<RunningServer> {
  const { args: extra = [], cwd, env, output = 'inherit', readyTimeout = 60_000, settings = {} } = opts;
  const args = argsFor({ ...settings, app: opts.app });
  // Readiness is asked over a control socket of our own, unless the caller chose one.
  let ownDir: string | null = null;
  let socket = settings.controlSocket ?? null;
  const given = extra.indexOf('--control-socket');
  if (given >= 0) socket = extra[given + 1] ?? null;
  if (socket === 'off') socket = null;
  else if (!socket) {
    ownDir = mkdtempSync(join(tmpdir(), 'gserve-api-'));
    socket = join(ownDir, 'gserve.ctl');
    args.unshift('--control-socket', socket);
  }
  const child = spawn(process.execPath, [BIN, ...args, ...extra], {
    cwd,
    env: env ?? process.env,
    stdio: ['ignore', output === 'inherit' ? 'inherit' : 'ignore', 'pipe'],
  });
  let lastError = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (output === 'inherit') process.stderr.write(chunk);
    const errors = chunk.split('\n').filter((l) => l.startsWith('gserve: error:'));
    if (errors.length) lastError = errors[errors.length - 1]!;
  });
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      process.removeListener('exit', killOnExit);
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );

  let urls: string[];
  try {
    urls = await whenServing(child, exited, socket, readyTimeout, () => lastError);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return {
    pid: child.pid!,
    urls,
    url: urls[0] ?? '',
    reload: () => child.kill('SIGHUP'),
    stop: async ({ fast = false } = {}) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(fast ? 'SIGQUIT' : 'SIGTERM');
      return (await exited).code;
    },
    exited,
  };
}

/** Polls the master's status until all its workers are ready; rejects if it exits first. */
async function whenServing(
  child: ChildProcess,
  exited: Promise<{ code: number | null }>,
  socket: string | null,
  timeoutMs: number,
  lastError: () => string,
): Promise<string[]> {
  const master: { exit: { code: number | null } | null } = { exit: null };
  void exited.then((e) => (master.exit = e));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (master.exit) {
      const { code } = master.exit;
      const why = lastError().replace(/^gserve: error: /, '');
      throw new GserveError(
        'GSERVE_E_START',
        `gserve exited with code ${code} before serving${why ? `: ${why}` : ''}`,
        isExitCode(code) ? code : ExitCode.INTERNAL,
      );
    }
    if (Date.now() > deadline)
      throw new GserveError(
        'GSERVE_E_START',
        `gserve (pid ${child.pid}) did not serve within ${timeoutMs} ms; it was stopped.`,
        ExitCode.WORKER_BOOT,
      );
    if (socket) {
      const status = await askStatus(socket).catch(() => null);
      if (status && status.workers.length >= status.master.workers && status.workers.every((w) => w.state === 'ready'))
        return status.master.bind;
    } else {
      throw new GserveError(
        'GSERVE_E_START',
        'start() needs the control socket to know when the workers serve: leave controlSocket unset, or give it ' +
          'a path.',
        ExitCode.USAGE,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The master's status, or a rejection while it cannot tell (not listening yet, refusing). */
async function askStatus(path: string): Promise<StatusReport> {
  const reply = await ask(path, { cmd: 'status' });
  if (!reply.ok) throw new Error('status refused');
  return reply.status();
}
