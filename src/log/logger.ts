import { isatty } from 'node:tty';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

const PINO_LEVEL = Object.freeze({ debug: 'debug', info: 'info', warning: 'warn', error: 'error', critical: 'fatal' });
export type LogLevel = keyof typeof PINO_LEVEL;

const LABEL: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARNING',
  50: 'ERROR',
  60: 'CRITICAL',
};

/** Gunicorn's look for a terminal: `[2026-11-24 11:00:00 +0000] [1234] [INFO] Booting worker`. */
export function gunicornLine(json: string): string {
  try {
    const { time, pid, level, msg, ...rest } = JSON.parse(json);
    const stamp = new Date(time)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' +0000');
    // An error's stack reads in lines below the record, like Python's tracebacks do, not in one escaped string.
    let stack = '';
    if (rest.err && typeof rest.err === 'object' && typeof rest.err.stack === 'string') {
      const { stack: text, ...err } = rest.err;
      rest.err = err;
      stack = text.replace(/^/gm, '    ') + '\n';
    }
    const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
    return `[${stamp}] [${pid}] [${LABEL[level] ?? level}] ${msg}${extra}\n${stack}`;
  } catch {
    return json;
  }
}

export interface LogTarget {
  logger: Logger;
  /** Reopen the file (USR1, after logrotate moved it); a no-op for stderr. */
  reopen(): void;
  /** Writes a JSON log line made elsewhere (a worker's, captured from its stderr) the way this log would. */
  writeLine(json: string): void;
  flush(): void;
}

export interface LoggerOptions {
  level: LogLevel;
  /** `-` for stderr, else a path (appended to). */
  file: string;
  /** Readable lines instead of JSON; by default only when writing to a terminal. */
  pretty?: boolean;
  /** JSON lines (`--log-json`) or readable ones (`--no-log-json`); unset or null: JSON unless stderr is a terminal. */
  json?: boolean | null;
}

/** Whether the error log is JSON: `--log-json`/`--no-log-json`, else JSON unless it goes to a terminal. */
export function errorLogIsJson(settings: { logJson: boolean | null; errorLogfile: string }): boolean {
  return settings.logJson ?? !(settings.errorLogfile === '-' && isatty(2));
}

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

export function createLogger(opts: LoggerOptions): LogTarget {
  const toStderr = opts.file === '-';
  // sync: the master and workers often exit right after logging why; nothing may be lost.
  const dest = pino.destination({ dest: toStderr ? 2 : opts.file, sync: true, mkdir: !toStderr, append: true });
  const pretty = opts.pretty ?? (opts.json == null ? toStderr && isatty(2) : !opts.json);
  const stream: DestinationStream = pretty ? { write: (line: string) => dest.write(gunicornLine(line)) } : dest;
  const writeLine = (json: string) => stream.write(json.endsWith('\n') ? json : json + '\n');
  const logger = pino(
    {
      level: PINO_LEVEL[opts.level],
      base: { pid: process.pid },
      formatters: { level: (_label, number) => ({ level: number }) },
    },
    stream,
  );
  return {
    logger,
    reopen: () => {
      if (!toStderr) dest.reopen();
    },
    writeLine,
    flush: () => dest.flushSync(),
  };
}
