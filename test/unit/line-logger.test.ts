import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger, LoggerOptions } from '../../src/log/error-log.js';
import { createLineLogger } from '../../src/log/line-logger.js';
import { createLogger } from '../../src/log/logger.js';
import { linesOf } from '../helpers/files.js';

const dir = mkdtempSync(join(tmpdir(), 'gserve-line-logger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The same calls, the way gserve's own code makes them, on one logger. */
function logSome(log: Logger, err: Error): void {
  log.info('Booting worker with pid: %d', 1234);
  log.debug('below the level: not written');
  log.info({ listeners: ['127.0.0.1:8000'], workers: 2 }, 'Listening');
  log.child({ thread: 3 }).warn('Thread %d exited with code %d; replacing it', 3, 1);
  log.error({ err }, 'Error in the app');
  log.error(err);
  log.fatal({ index: 1, reason: 'uncaught exception' }, 'Worker crashed: %s', 'boom');
  log.info({ n: 1 });
}

/** A line without its timestamp, which differs by the milliseconds between the two runs. */
const untimed = (line: string) => {
  const { time, ...rest } = JSON.parse(line);
  expect(typeof time).toBe('number');
  return rest;
};

describe('the line logger of workers and app threads', () => {
  it('writes the records pino writes in the master, field for field and in the same order', () => {
    const err = Object.assign(new TypeError('bad value'), { code: 'E_BAD' });
    const written = (create: (opts: LoggerOptions) => { logger: Logger; flush(): void }, name: string) => {
      const file = join(dir, name);
      const target = create({ level: 'info', file, json: true });
      logSome(target.logger, err);
      target.flush();
      return linesOf(readFileSync(file, 'utf8')).map(untimed);
    };
    const ours = written(createLineLogger, 'line.log');
    const pinos = written((opts) => {
      const target = createLogger(opts);
      target.usePino();
      return target;
    }, 'pino.log');
    expect(ours).toHaveLength(7);
    expect(ours).toEqual(pinos);
    expect(ours.map((r) => Object.keys(r).join())).toEqual(pinos.map((r) => Object.keys(r).join()));
    expect(ours[2]).toMatchObject({ level: 40, thread: 3, msg: 'Thread 3 exited with code 1; replacing it' });
  });

  it("is the master's first logger, until it moves to pino; loggers made before the move follow it", () => {
    const file = join(dir, 'moving.log');
    const require = createRequire(import.meta.url);
    let loads = 0;
    const target = createLogger({ level: 'info', file, json: true }, () => {
      loads++;
      return require('pino');
    });
    const err = Object.assign(new TypeError('bad value'), { code: 'E_BAD' });
    const early = target.logger.child({ worker: 1 });
    logSome(target.logger, err);
    early.info('before the move');
    expect(loads).toBe(0);
    target.usePino();
    target.usePino();
    expect(loads).toBe(1);
    logSome(target.logger, err);
    early.info('after the move');
    target.flush();
    const lines = linesOf(readFileSync(file, 'utf8')).map(untimed);
    expect(lines).toHaveLength(16);
    expect(lines.slice(8, 15)).toEqual(lines.slice(0, 7));
    expect(lines[7]).toEqual({ ...lines[15], msg: 'before the move' });
    expect(lines[15]).toMatchObject({ level: 30, worker: 1, msg: 'after the move' });
  });

  it('stays on the line logger, with a warning, when pino cannot be loaded', () => {
    const file = join(dir, 'no-pino.log');
    const target = createLogger({ level: 'info', file, json: true }, () => {
      throw Object.assign(new Error("Cannot find module 'pino'"), { code: 'MODULE_NOT_FOUND' });
    });
    const early = target.logger.child({ worker: 1 });
    expect(() => target.usePino()).not.toThrow();
    target.logger.info('still logging');
    early.info('and the child too');
    target.flush();
    const lines = linesOf(readFileSync(file, 'utf8')).map(untimed);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      level: 40,
      msg: expect.stringContaining('Cannot load pino'),
      err: { code: 'MODULE_NOT_FOUND' },
    });
    expect(lines[1]).toMatchObject({ level: 30, msg: 'still logging' });
    expect(lines[2]).toMatchObject({ level: 30, worker: 1, msg: 'and the child too' });
  });

  it('writes a record with a cycle in it instead of throwing', () => {
    const file = join(dir, 'cycle.log');
    const target = createLineLogger({ level: 'debug', file, json: true });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    target.logger.debug({ cyclic, big: 10n }, 'odd values');
    target.flush();
    const lines = linesOf(readFileSync(file, 'utf8'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 20, big: '10', cyclic: { a: 1, self: '[Circular]' } });
  });
});
