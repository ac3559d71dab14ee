import { format } from 'node:util';
import {
  type ErrorLogStream,
  LEVEL_NUMBER,
  type LogLevel,
  type Logger,
  type LoggerOptions,
  type LogTarget,
  logTargetOn,
  openErrorLog,
} from './error-log.js';

/**
 * The error log of a worker process and of its app threads: the same JSON records the master's pino
 * writes (`{"level":30,"time":…,"pid":…,…,"msg":…}`), from a few lines of code. pino's modules cost
 * each process about 6 MB of memory, and a server runs one worker per core, each with its threads.
 * test/unit/line-logger.test.ts holds it to pino's output.
 */
const ignore = (): void => {};

export function createLineLogger(opts: LoggerOptions): LogTarget {
  const stream = openErrorLog(opts);
  return logTargetOn(stream, lineLogger(stream, opts.level));
}

/** A line logger writing to an error log already open (the master's, until it loads pino: logger.ts). */
export function lineLogger(stream: ErrorLogStream, level: LogLevel): Logger {
  const threshold = LEVEL_NUMBER[level];

  function make(bindings: Record<string, unknown>): Logger {
    // A level below the threshold is a function that does nothing: a debug call on a hot path costs no arguments array.
    const at = (level: number) =>
      level < threshold
        ? ignore
        : (first: unknown, ...rest: unknown[]): void => {
            stream.write(record(level, bindings, first, rest) + '\n');
          };
    return {
      debug: at(LEVEL_NUMBER.debug),
      info: at(LEVEL_NUMBER.info),
      warn: at(LEVEL_NUMBER.warning),
      error: at(LEVEL_NUMBER.error),
      fatal: at(LEVEL_NUMBER.critical),
      child: (more) => make({ ...bindings, ...more }),
    };
  }

  return make({});
}

/** One log record as pino lays it out: level, time, pid, the bindings, the fields, then the message. */
function record(level: number, bindings: Record<string, unknown>, first: unknown, rest: unknown[]): string {
  let fields: Record<string, unknown> = {};
  let msg: unknown;
  if (first instanceof Error) {
    fields = { err: serializeError(first) };
    msg = rest.length ? message(rest[0], rest.slice(1)) : first.message;
  } else if (typeof first === 'object' && first !== null) {
    for (const [key, value] of Object.entries(first))
      fields[key] = value instanceof Error ? serializeError(value) : value;
    if (rest.length) msg = message(rest[0], rest.slice(1));
  } else {
    msg = message(first, rest);
  }
  const entry = { level, time: Date.now(), pid: process.pid, ...bindings, ...fields, msg };
  try {
    return JSON.stringify(entry);
  } catch {
    return JSON.stringify(entry, safeValue());
  }
}

const message = (template: unknown, args: unknown[]): unknown =>
  args.length && typeof template === 'string' ? format(template, ...args) : template;

/** pino's `err` serializer: the type, message and stack, and the error's own fields (code, errno…). */
function serializeError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.constructor?.name ?? err.name, message: err.message };
  for (const [key, value] of Object.entries(err)) out[key] = value instanceof Error ? serializeError(value) : value;
  out.stack = err.stack;
  return out;
}

/** For what JSON.stringify refuses: a cycle becomes "[Circular]", a BigInt its digits. */
function safeValue(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}
