import { describe, expect, it } from 'vitest';
import { describeWorker, errorFields, workerIdentity } from '../../src/worker/crash-log.js';
import { gunicornLine } from '../../src/log/logger.js';

describe('crash records', () => {
  it('name the worker by pid, and by index when the master gives one', () => {
    expect(workerIdentity({})).toEqual({ pid: process.pid });
    expect(workerIdentity({ GSERVE_WORKER_INDEX: '3' })).toEqual({ pid: process.pid, index: 3 });
    expect(workerIdentity({ GSERVE_WORKER_INDEX: 'x' })).toEqual({ pid: process.pid });
    expect(describeWorker({ pid: 12, index: 3 })).toBe('pid: 12, index: 3');
    expect(describeWorker({ pid: 12 })).toBe('pid: 12');
  });

  it('carry the message and stack of an Error, and a readable form of anything else thrown', () => {
    const e = new TypeError('boom');
    expect(errorFields(e)).toEqual({ type: 'TypeError', message: 'boom', stack: e.stack });
    expect(errorFields('plain')).toEqual({ message: 'plain' });
    expect(errorFields({ code: 7 })).toEqual({ message: '{"code":7}' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(errorFields(cyclic).message).toBe('[object Object]');
  });

  it('in the text log, print the stack on the lines below the record', () => {
    const json = JSON.stringify({
      level: 60,
      time: 0,
      pid: 42,
      msg: 'Worker (pid: 42) crashed: uncaught exception: boom',
      index: 1,
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (app.js:1:1)' },
    });
    expect(gunicornLine(json)).toBe(
      '[1970-01-01 00:00:00 +0000] [42] [CRITICAL] Worker (pid: 42) crashed: uncaught exception: ' +
        'boom {"index":1,"err":{"type":"Error","message":"boom"}}\n' +
        '    Error: boom\n        at f (app.js:1:1)\n',
    );
  });
});
