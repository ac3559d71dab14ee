import { isatty } from 'node:tty';
import { openDestination, standardStreamWriter } from './destination.js';

/**
 * The error log's lines, whoever writes them: pino in the master, the line logger in workers and
 * app threads. Both write the same JSON record (`{"level":30,"time":…,"pid":…,"msg":…}`), or
 * Gunicorn's readable form of it.
 */

/** gserve's level names (Gunicorn's) and the numbers pino gives them. */
export const LEVEL_NUMBER = Object.freeze({ debug: 20, info: 30, warning: 40, error: 50, critical: 60 });
export type LogLevel = keyof typeof LEVEL_NUMBER;

const LABEL: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARNING',
  50: 'ERROR',
  60: 'CRITICAL',
};

interface LogFn {
  (obj: object, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
}

/** What gserve calls on a logger; a pino logger is one, and so is the line logger. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
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
  /** JSON lines (`--log-json`) or readable ones (`--no-log-json`); unset or null: JSON unless stderr is a terminal. */
  json?: boolean | null;
}

/** Whether the error log is JSON: `--log-json`/`--no-log-json`, else JSON unless it goes to a terminal. */
export function errorLogIsJson(settings: { logJson: boolean | null; errorLogfile: string }): boolean {
  return settings.logJson ?? !(settings.errorLogfile === '-' && isatty(2));
}

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

/** The error log's file or stderr, taking JSON lines and writing them as JSON or readable. */
export interface ErrorLogStream {
  write(line: string): void;
  reopen(): void;
  flush(): void;
}

export function openErrorLog(opts: LoggerOptions): ErrorLogStream {
  const pretty = !errorLogIsJson({ logJson: opts.json ?? null, errorLogfile: opts.file });
  const format = (write: (line: string) => unknown) =>
    pretty ? (line: string) => void write(gunicornLine(line)) : (line: string) => void write(line);
  // sync: the master and workers often exit right after logging why; nothing may be lost.
  if (opts.file === '-') {
    const stderr = standardStreamWriter(2);
    return { write: format(stderr.write), reopen: () => {}, flush: stderr.flush };
  }
  // A file opens now, while the process still can (before --user drops its privileges).
  const file = openDestination(opts.file, 2, true);
  return { write: format((line) => file.write(line)), reopen: () => file.reopen(), flush: () => file.flushSync() };
}

/** The error log open on `stream`, written by `logger`. */
export function logTargetOn(stream: ErrorLogStream, logger: Logger): LogTarget {
  return {
    logger,
    reopen: stream.reopen,
    // A JSON line made elsewhere, written the way this log writes its own.
    writeLine: (json) => stream.write(json.endsWith('\n') ? json : json + '\n'),
    flush: stream.flush,
  };
}
