import type { LoggerOptions } from '../log/error-log.js';
import type { BootSettings } from './boot.js';

/**
 * The error log options of a worker process and of its app threads. With --capture-output the
 * master reads the worker's stderr and formats it itself: it must get JSON.
 */
export function workerLogOptions(settings: BootSettings): LoggerOptions {
  return {
    level: settings.logLevel,
    file: settings.errorLogfile,
    json: Boolean(settings.logJson) || (settings.captureOutput && settings.errorLogfile === '-'),
  };
}
