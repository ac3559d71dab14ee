import { errorCode } from '../errors.js';
import type { Logger } from './error-log.js';

/**
 * Node's own warnings (a deprecation, an ES module in a package without "type") go to gserve's
 * error log as one line each, in its format, instead of Node's several lines on stderr, which broke
 * a JSON log once per worker. `--no-warnings` and NODE_NO_WARNINGS=1 still silence them.
 */
export function logNodeWarnings(log: Logger): void {
  if (process.env.NODE_NO_WARNINGS === '1' || process.execArgv.includes('--no-warnings')) return;
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error) => {
    const code = errorCode(warning);
    log.warn('Node %s%s: %s', warning.name, code ? ` (${code})` : '', warning.message.replace(/\s*\n\s*/g, ' '));
  });
}
