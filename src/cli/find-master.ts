import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { resolveSettings } from '../config/resolve.js';
import { ConfigFileError, ExitCode, GserveError, SettingError } from '../errors.js';
import { ControlReply } from './control-client.js';
import { bindKey, controlDir, explicitControlPath, folderKey, pidfilePath } from '../master/control-path.js';
import { connectError } from '../master/socket-path.js';
import { namedFolder } from '../master/upgrade.js';
import { settleWithin } from '../supervision/settle-within.js';

/**
 * Which master a control command (`gserve status|reload|scale|stop|top`) talks to: the one whose
 * control socket the same settings name (--control-socket, beside --pid), else the one started in
 * this folder. When several masters were started here (two binds), the one on the configured bind
 * if the config names one; else the command lists them and exits 2 rather than guess.
 */
export interface FindOptions {
  controlSocket?: string;
  pid?: string;
  config?: string;
  chdir?: string;
}

/**
 * The options above, which are settings too: resolved the way the master resolved them. --chdir is
 * not among them: it says where the command runs (see findControlSocket).
 */
const LOCATING_OPTIONS: ReadonlyArray<keyof FindOptions> = ['controlSocket', 'pid', 'config'];

export class ControlSocketError extends GserveError {
  override name = 'ControlSocketError';
}

/**
 * A socket named by --control-socket or beside --pid may sit in a folder others can write to: one
 * that another user made answers as if it were the master (`gserve stop` said "Stopped" to a stand-in
 * while the master ran on). It is talked to when it is the caller's own or root's; beside a pidfile,
 * also when the pidfile's owner made it (a master run as another user, reached with sudo); named by
 * --control-socket, by root. The default folder is checked as a whole (control-path.ts ensureControlDir).
 */
function ownSocket(path: string, pidfile: string | null): string {
  const ownerOf = (file: string): number | null => {
    try {
      return lstatSync(file).uid;
    } catch {
      return null;
    }
  };
  const owner = ownerOf(path);
  const me = process.geteuid?.();
  if (owner === null || me === undefined || owner === me || owner === 0) return path;
  if (pidfile === null ? me === 0 : ownerOf(pidfile) === owner) return path;
  throw new ControlSocketError(
    'GSERVE_E_CONTROL_OWNER',
    `the control socket ${path} belongs to uid ${owner}, not to you (uid ${me})` +
      (pidfile === null ? '' : ` nor to the pidfile's owner`) +
      ': a master of yours made no such socket. Run the command as its owner if that master is yours; ' +
      'otherwise remove it, or point to yours with --control-socket.',
    ExitCode.USAGE,
  );
}

/**
 * Resolves to the socket path, or throws a ControlSocketError with the exit code to use. `--chdir DIR`
 * runs the search as if from DIR, as `make -C` does: the config file found there, a relative --pid
 * under it, the default sockets of masters started there.
 */
export async function findControlSocket(
  opts: FindOptions,
  here = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
  configWaitMs = CONFIG_WAIT_MS,
): Promise<string> {
  const chdir = opts.chdir === undefined ? null : resolve(here, opts.chdir);
  const cwd = chdir === null ? here : folderOf(chdir);
  // $PWD names the shell's folder, not DIR: DIR as typed is the name a master started there keyed.
  const named = chdir ?? namedFolder(cwd, env.PWD);
  const cli: Record<string, unknown> = {};
  for (const key of LOCATING_OPTIONS) if (opts[key] !== undefined) cli[key] = opts[key];
  const { settings, sources, skipped } = await locatingSettings(cli, env, cwd, configWaitMs);
  const explicit = explicitControlPath(settings, cwd);
  if (explicit === null)
    throw new ControlSocketError(
      'GSERVE_E_CONTROL_OFF',
      'the control socket is off (--control-socket off); use signals instead.',
      ExitCode.USAGE,
    );
  if (explicit !== undefined) return ownSocket(explicit, settings.controlSocket ? null : pidfilePath(settings, cwd));

  const dir = controlDir(env);
  // A master keys its socket by the folder's name as its shell gave it ($PWD: a `current` symlink),
  // else by its real path (started by systemd, which sets no $PWD): either may be this folder's.
  const prefixes = [...new Set([named, cwd])].map((folder) => `${folderKey(folder)}-`);
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => prefixes.some((p) => n.startsWith(p)) && n.endsWith('.ctl'));
  } catch {
    // no master ever ran here
  }
  const sockets = names.map((n) => join(dir, n)).filter((p) => isSocket(p));
  const live = (await Promise.all(sockets.map(async (p) => ((await connectError(p)) === null ? p : null)))).filter(
    (p): p is string => p !== null,
  );
  if (live.length === 1) return live[0]!;
  if (live.length === 0) {
    throw new ControlSocketError(
      'GSERVE_E_NO_MASTER',
      `no gserve master started in ${cwd} answers (looked in ${dir}). Is it running? Point to it with ` +
        `--control-socket, --pid or -c${skipped ? ' (the config file was left out, and with it any pid or control-socket it sets)' : ''}.`,
      FAILED,
    );
  }
  // Several masters were started in this folder: a bind named by the config or environment picks one.
  if (sources.bind !== 'default') {
    const wanted = live.find((p) =>
      prefixes.some((prefix) => p === join(dir, `${prefix}${bindKey(settings.bind[0])}.ctl`)),
    );
    if (wanted) return wanted;
  }
  const rows = await Promise.all(live.map(async (p) => `  ${p}  ${await describeMaster(p)}`));
  throw new ControlSocketError(
    'GSERVE_E_AMBIGUOUS_MASTER',
    `${live.length} gserve masters were started in ${cwd}; say which with --control-socket:\n${rows.join('\n')}`,
    ExitCode.USAGE,
  );
}

/**
 * How long a control command waits for the config file to load. One whose function awaits a secret
 * store or an API that does not answer would otherwise keep `gserve stop` and `gserve status` from a
 * running master for as long as that wait lasts, forever for a promise nothing settles.
 */
export const CONFIG_WAIT_MS = 5000;

/**
 * The settings that locate the master. A config file broken since the master started (a typo being
 * fixed, a secret its function cannot read now), or one that does not finish loading, must not keep
 * `gserve stop` from the running master: it is then left out, with a warning, and the command line
 * and environment still point the way.
 */
async function locatingSettings(cli: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string, waitMs: number) {
  const withoutConfig = async () => ({
    ...(await resolveSettings({ cli, env, cwd, withoutConfigFile: true })),
    skipped: true,
  });
  // A socket or pidfile named on the command line is the way to the master: a config file found in
  // this folder (one that never finishes loading, say) is not needed, unless -c names it.
  if ((cli.controlSocket !== undefined || cli.pid !== undefined) && cli.config === undefined)
    return { ...(await withoutConfig()), skipped: false };
  try {
    const loaded = await settleWithin(resolveSettings({ cli, env, cwd }), waitMs);
    if (loaded.done) return { ...loaded.value, skipped: false };
    process.stderr.write(
      `gserve: warning: the config file did not finish loading within ${waitMs / 1000} s (does it await a ` +
        'secret store or a network call that does not answer?). Looking for the master without the config file.\n',
    );
  } catch (err) {
    if (!(err instanceof ConfigFileError || err instanceof SettingError)) throw err;
    process.stderr.write(`gserve: warning: ${err.message} Looking for the master without the config file.\n`);
  }
  return withoutConfig();
}

/** The real path of the folder --chdir names; it must be one. */
function folderOf(dir: string): string {
  try {
    if (statSync(dir).isDirectory()) return realpathSync(dir);
  } catch {
    // said below
  }
  throw new ControlSocketError(
    'GSERVE_E_CONTROL_CHDIR',
    `--chdir ${dir} is not a folder. Name the folder the master was started in.`,
    ExitCode.USAGE,
  );
}

/** A control command that could not be done (no master, or the master said no). */
const FAILED = 1;

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** "master 1234, bind http://127.0.0.1:8000", from the master's own status. */
function describeMaster(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path, () => socket.write(JSON.stringify({ cmd: 'status' }) + '\n'));
    let buffer = '';
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => done('(no answer)'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (!buffer.includes('\n')) return;
      try {
        const m = ControlReply.parse(buffer.slice(0, buffer.indexOf('\n'))).status().master;
        done(`master ${m.pid}, bind ${m.bind.join(', ')}`);
      } catch {
        done('(an answer that is not a status)');
      }
    });
    socket.on('error', () => done('(no answer)'));
  });
}
