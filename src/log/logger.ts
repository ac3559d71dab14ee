import { createRequire } from 'node:module';
import { errorLogIsJson, type LoggerOptions, type LogTarget, lineWriter, openErrorLog } from './error-log.js';

export { gunicornLine, type Logger, type LoggerOptions, type LogLevel, type LogTarget } from './error-log.js';

// require(), as for commander (cli/commander.ts): imported as an ES module it costs the master memory.
const pino: typeof import('pino').default = createRequire(import.meta.url)('pino');

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

/**
 * The master's error log: pino. Workers and app threads write the same lines with the line logger
 * (`line-logger.ts`), which spares each of them the memory pino's modules take.
 */
export function createLogger(opts: LoggerOptions): LogTarget {
  const stream = openErrorLog(opts);
  const logger = pino(
    {
      level: PINO_LEVEL[opts.level],
      base: { pid: process.pid },
      formatters: { level: (_label, number) => ({ level: number }) },
    },
    stream,
  );
  return { logger, reopen: stream.reopen, writeLine: lineWriter(stream), flush: stream.flush };
}
