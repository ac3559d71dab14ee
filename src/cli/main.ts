import { dirname } from 'node:path';
import {
  closestName,
  resolveSettings,
  type ResolvedSettings,
  shadowedConfigWarning,
  unknownVariables,
} from '../config/resolve.js';
import { resolveAppModule } from '../interfaces/load.js';
import { SETTINGS } from '../config/settings/index.js';
import { AppLoadError, ExitCode, GserveError, describeError } from '../errors.js';
import { Arbiter } from '../master/arbiter.js';
import { currentLaunch } from '../master/upgrade.js';
import { checkLogFiles } from '../log/destination.js';
import { createLogger, settleLogFormats } from '../log/logger.js';
import { logNodeWarnings } from '../log/node-warnings.js';
import { isControlCommand, runControl } from './control.js';
import { fail } from './fail.js';
import { runCommand, isOtherCommand } from './run-command.js';
import { COMMAND_NAMES, isCommandWord } from './commands.js';
import { loadEnvFiles } from './env-file.js';
import { CommanderError, parseCommandLine } from './program.js';
import { type Owner, resolveOwner } from '../worker/privileges.js';
import { VERSION } from '../version.js';

/** A repeatable flag's values (commander collects them in a list); none when it was not given. */
const stringList = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

function printConfig(resolved: ResolvedSettings): void {
  const rows = SETTINGS.map(({ name }): [string, string, string] => {
    const value = resolved.settings[name];
    const shown = typeof value === 'function' ? '<function>' : JSON.stringify(value);
    // The file the search found is the config in use, though no one named it.
    if (name === 'config' && value === null && resolved.configFile)
      return [name, JSON.stringify(resolved.configFile), 'found by the search from the working directory'];
    return [name, shown, resolved.sources[name]];
  });
  const width = Math.max(...rows.map(([n]) => n.length));
  for (const [name, value, source] of rows) process.stdout.write(`${name.padEnd(width)} = ${value}  # ${source}\n`);
}

/**
 * What start-up awaits now, named for the one wait that cannot end: user code (the config file, the
 * app under --preload or --check-config, the onStarting hook) awaiting a promise that nothing will
 * settle, a top-level await on nothing. No timer or socket is open yet to keep Node running, so it
 * would exit with code 0 and not a word: a container's entrypoint "succeeding" at once.
 */
const startUp: { waitingFor: string; exitCode: ExitCode } = { waitingFor: 'start-up', exitCode: ExitCode.INTERNAL };
const awaiting = (waitingFor: string, exitCode: ExitCode = ExitCode.USAGE) => {
  startUp.waitingFor = waitingFor;
  startUp.exitCode = exitCode;
};

/** What PM2's users type first (`pm2 start app.js`): a hint where they meet "too many arguments". */
const PM2_VERBS = new Set(['start', 'restart', 'run', 'serve']);

/** Runs the gserve command; resolves to the process exit code. */
export async function run(argv: string[]): Promise<number> {
  if (isControlCommand(argv[0])) return runControl(argv);
  if (isOtherCommand(argv[0])) return runCommand(argv);
  let parsed;
  try {
    parsed = parseCommandLine(argv, VERSION);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return ExitCode.OK;
      // commander has printed what was wrong; add where to look.
      process.stderr.write(
        err.code === 'commander.excessArguments' && PM2_VERBS.has(argv[0]!)
          ? `gserve has no "${argv[0]}" command: it serves in the foreground, as Gunicorn does. Run ` +
              `\`gserve ${argv.slice(1).join(' ')}\` under your init system or container, and \`gserve reload\` ` +
              'or `gserve stop` from another shell.\n'
          : 'Run gserve --help to see the flags.\n',
      );
      return ExitCode.USAGE;
    }
    throw err;
  }

  // A command word after options (`gserve -w 2 top`) is a mistake, never an app called "top".
  if (typeof parsed.cli.app === 'string' && isCommandWord(parsed.cli.app)) {
    const word = parsed.cli.app;
    return fail(
      `"${word}" is a gserve command, not an app: run \`gserve ${word}\` on its own. An app module with that ` +
        `name is given as a path: ./${word}`,
      ExitCode.USAGE,
    );
  }

  const misspelled = parsed.cli.chdir === undefined ? misspelledCommand(parsed.cli.app) : null;
  if (misspelled) return fail(misspelled, ExitCode.USAGE);

  let resolved: ResolvedSettings;
  // --user/--group, looked up once (getent): checked here, and the log files are given to it.
  let owner: Owner | null;
  const launch = currentLaunch(); // before --chdir: HUP and USR2 resolve and start from here
  try {
    // Before the settings: GSERVE_* variables in the files count.
    loadEnvFiles(stringList(parsed.cli.envFile), launch.cwd);
    awaiting('the config file (or a module it imports)');
    resolved = await resolveSettings({ cli: parsed.cli, env: process.env, cwd: launch.cwd });
    const shadowed = shadowedConfigWarning(resolved);
    if (shadowed) process.stderr.write(`gserve: warning: ${shadowed}\n`);
    // From a config file they still reach the app (the workers inherit this environment).
    if (!resolved.sources.envFile.startsWith('command line'))
      loadEnvFiles(resolved.settings.envFile, resolved.configFile ? dirname(resolved.configFile) : launch.cwd);
    owner = resolveOwner(resolved.settings.user, resolved.settings.group);
  } catch (err) {
    if (err instanceof GserveError) return fail(describeError(err), err.exitCode);
    throw err;
  }
  if (parsed.printConfig) {
    printConfig(resolved);
    return ExitCode.OK;
  }
  const { settings } = resolved;
  if (!settings.app)
    return fail(
      'No app given: name the app to serve, e.g. `gserve app:app`, or set "app" in the config file.',
      ExitCode.USAGE,
    );
  if (settings.chdir) {
    try {
      process.chdir(settings.chdir);
    } catch {
      return fail(
        `Cannot change to directory ${settings.chdir} (from ${resolved.sources.chdir}). Check --chdir.`,
        ExitCode.USAGE,
      );
    }
  }
  // --check-config, and --preload (a broken app stops gserve before any worker starts).
  if (parsed.checkConfig || settings.preload) {
    try {
      // The TLS files as the master will read them at its start: a check that passed them would be a false OK.
      if (parsed.checkConfig) {
        (await import('../http/tls.js')).tlsOptions(settings);
        checkLogFiles(settings, { dryRun: true });
        for (const warning of unknownVariables(process.env)) process.stderr.write(`gserve: warning: ${warning}\n`);
      }
      // Imported here only: otherwise the master never loads the interface adapters (ws, the engine).
      awaiting(`the app ${settings.app} (loaded in the master by --preload or --check-config)`, ExitCode.APP_LOAD);
      const { loadHostedApp } = await import('../worker/hosted.js');
      const selfListen = await import('../worker/self-listen.js');
      selfListen.watchAppListens();
      let loaded: string;
      try {
        loaded = `loads as a ${(await loadHostedApp(settings.app, settings.interface, process.cwd())).kind} app`;
      } catch (err) {
        // An app that listens itself runs in the workers as it does without these flags.
        if (!selfListen.listensInsteadOfExporting(err)) throw err;
        loaded = 'loads and opens a server of its own, which each worker will run (PM2 style)';
      } finally {
        await selfListen.closeAppServers();
      }
      if (parsed.checkConfig) {
        process.stdout.write(
          `Config OK${resolved.configFile ? ` (${resolved.configFile})` : ''}; app ${settings.app} ${loaded}.\n`,
        );
        return ExitCode.OK;
      }
    } catch (err) {
      if (err instanceof AppLoadError && err.excerpt)
        return fail(`${describeError(err)}\n${err.excerpt}`, err.exitCode);
      if (err instanceof GserveError) return fail(describeError(err), err.exitCode);
      return fail(describeError(err), ExitCode.APP_LOAD);
    }
  }

  settleLogFormats(settings);
  try {
    checkLogFiles(settings, { owner });
  } catch (err) {
    if (err instanceof GserveError) return fail(describeError(err), err.exitCode);
    throw err;
  }
  const log = createLogger({ level: settings.logLevel, file: settings.errorLogfile, json: settings.logJson });
  logNodeWarnings(log.logger);
  const reresolve = async () => {
    const again = await resolveSettings({ cli: parsed.cli, env: process.env, cwd: launch.cwd });
    settleLogFormats(again.settings);
    return again;
  };
  const arbiter = new Arbiter(resolved, log, { launch, reresolve });
  // Once bound, the listeners keep Node running.
  awaiting("the config file's onStarting hook");
  const code = await arbiter.run();
  if (arbiter.failure) fail(arbiter.failure, code);
  return code;
}

export function main(): void {
  // Emitted only when nothing is left to run and run() has not ended (its end calls process.exit).
  process.once('beforeExit', () => {
    const stalled = new GserveError(
      'GSERVE_E_STALLED',
      `Start-up stopped: ${startUp.waitingFor} awaits a promise that nothing is left to settle, such as a ` +
        'top-level await on something that never happens. Make that code finish.',
      startUp.exitCode,
    );
    process.exit(fail(describeError(stalled), stalled.exitCode));
  });
  // A write to stdout that fails (`--print-config > /dev/full`) is reported on a later tick; without
  // a listener it would be a crash, and after process.exit() a silent success.
  let outputFailed: NodeJS.ErrnoException | null = null;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => (outputFailed ??= err));
  run(process.argv.slice(2)).then(
    (code) =>
      setImmediate(() => {
        // A reader that went away (`gserve --print-config | head -1`) is done, as with other tools.
        if (code !== ExitCode.OK || !outputFailed || outputFailed.code === 'EPIPE') return process.exit(code);
        process.exit(fail(`cannot write the output: ${describeError(outputFailed)}`, ExitCode.INTERNAL));
      }),
    (err) => {
      process.stderr.write(
        `gserve: internal error: ${describeError(err)}\n${err instanceof Error ? (err.stack ?? '') : ''}\n` +
          'Please report this.\n',
      );
      process.exit(ExitCode.INTERNAL);
    },
  );
}

/**
 * `gserve statsu`: a bare word near a command's name, with no module of that name to load, is a
 * command mistyped; said before a master boots workers to fail on an app that does not exist.
 */
function misspelledCommand(app: unknown): string | null {
  if (typeof app !== 'string' || !/^[a-z]{4,}$/.test(app)) return null;
  const command = closestName(app, COMMAND_NAMES);
  if (!command || command[0] !== app[0]) return null;
  try {
    resolveAppModule(app, process.cwd());
    return null; // an app of that name exists: serve it
  } catch {
    return `"${app}" is neither a gserve command nor an app module here. Did you mean \`gserve ${command}\`?`;
  }
}
