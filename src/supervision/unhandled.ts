import type { Logger } from '../log/error-log.js';

/**
 * Unhandled promise rejections in the app, in a worker process or an app thread: logged once, with
 * the error's message and stack, and the process or thread goes on.
 */

export function errorFields(err: unknown): { type?: string; message: string; stack?: string } {
  if (err instanceof Error) return { type: err.name, message: err.message, stack: err.stack };
  return { message: typeof err === 'string' ? err : safeString(err) };
}

/**
 * pino's err serializer gives an Error its type, message and stack (and own properties); anything
 * else is described.
 */
export const loggable = (err: unknown) => (err instanceof Error ? err : errorFields(err));

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Logs every unhandled rejection of this process or thread. `who` names it in the message
 * ("Worker (pid: 12)", "Thread 3"); `fields` go into the record.
 */
export function logUnhandledRejections(log: Logger, who: string, fields: Record<string, unknown> = {}): void {
  process.on('unhandledRejection', (reason) => {
    log.error(
      { ...fields, err: loggable(reason) },
      '%s: unhandled promise rejection in the app: %s',
      who,
      errorFields(reason).message,
    );
  });
}
