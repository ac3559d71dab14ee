import { createRequire } from 'node:module';
import {
  type ErrorLogStream,
  errorLogIsJson,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogTarget,
  logTargetOn,
  openErrorLog,
} from './error-log.js';
import { lineLogger } from './line-logger.js';

export { gunicornLine, type Logger, type LoggerOptions, type LogLevel, type LogTarget } from './error-log.js';

const PINO_LEVEL = Object.freeze({ debug: 'debug', info: 'info', warning: 'warn', error: 'error', critical: 'fatal' });

/**
 * Decides the `auto` log formats once, in the master, where the terminal is: workers may have a
 * pipe for stderr (`--capture-output`) and would decide otherwise. `--access-logfile -` follows the
 * error log's JSON, since under Docker or systemd stdout and stderr end up in one stream.
 */
export function settleLogFormats<
  S extends {
    logJson: boolean | null;
    errorLogfile: string;
    accessLogJson: boolean | null;
    accessLogfile: string | null;
  },
>(settings: S): S {
  settings.logJson = errorLogIsJson(settings);
  settings.accessLogJson ??= settings.accessLogfile === '-' && settings.logJson;
  return settings;
}

/** The master's error log; `usePino()` moves it from its first logger to pino. */
export interface MasterLogTarget extends LogTarget {
  usePino(): void;
}

type Pino = typeof import('pino').default;

// require(), as for commander (cli/commander.ts): imported as an ES module it costs the master memory.
const requirePino = (): Pino => createRequire(import.meta.url)('pino');

/**
 * The master's error log: pino. It starts on the line logger (`line-logger.ts`), which writes the
 * same records, and moves to pino once the arbiter calls `usePino()` (when its workers are ready):
 * loading pino's modules takes the master 20-30 ms, which would otherwise come before the first
 * fork, or beside the workers' boot, on every start's way to its first answer. Loggers handed out before the move, and
 * their children, follow it. Workers and app threads keep the line logger, which spares each of them
 * the memory pino's modules take.
 */
export function createLogger(opts: LoggerOptions, loadPino = requirePino): MasterLogTarget {
  const stream = openErrorLog(opts);
  let current = lineLogger(stream, opts.level);
  let onPino = false;
  return {
    ...logTargetOn(
      stream,
      following(() => current),
    ),
    usePino() {
      if (onPino) return;
      onPino = true;
      try {
        current = pinoLogger(loadPino(), stream, opts.level);
      } catch (err) {
        // Called from the arbiter's message handler, with workers serving: a broken install must
        // not end the master there. The line logger writes the same records.
        current.warn(
          { err },
          'Cannot load pino; the master goes on logging without it. Reinstall the dependencies (npm ci).',
        );
      }
    },
  };
}

function pinoLogger(pino: Pino, stream: ErrorLogStream, level: LogLevel): Logger {
  return pino(
    {
      level: PINO_LEVEL[level],
      base: { pid: process.pid },
      formatters: { level: (_label, number) => ({ level: number }) },
    },
    stream,
  );
}

/** A logger that calls whichever logger `current()` returns at the time of each call. */
function following(current: () => Logger): Logger {
  type Level = Exclude<keyof Logger, 'child'>;
  const to = (level: Level) =>
    ((...args: unknown[]) => {
      const logger = current();
      (logger[level] as (...a: unknown[]) => void).apply(logger, args); // pino's methods need their logger as `this`
    }) as Logger[Level];
  return {
    debug: to('debug'),
    info: to('info'),
    warn: to('warn'),
    error: to('error'),
    fatal: to('fatal'),
    child(bindings) {
      // The child of the logger current now, made again after a move.
      let parent: Logger | null = null;
      let child: Logger | null = null;
      return following(() => {
        const now = current();
        if (now !== parent) {
          parent = now;
          child = now.child(bindings);
        }
        return child!;
      });
    },
  };
}
