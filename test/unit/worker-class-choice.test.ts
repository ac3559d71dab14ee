import { describe, expect, it } from 'vitest';
import { applyImpliedWorkerClass } from '../../src/config/settings/worker-classes.js';
import { SettingError } from '../../src/errors.js';

const choice = (workerClass: string, threads: number, classSource = 'default') => ({
  settings: { workerClass, threads },
  sources: { workerClass: classSource, threads: 'config file /x/gserve.config.json (key "threads")' },
});

describe('the worker class implied by threads', () => {
  it('turns the default class into thread when threads > 1, naming why', () => {
    const c = choice('async', 4);
    applyImpliedWorkerClass(c);
    expect(c.settings.workerClass).toBe('thread');
    expect(c.sources.workerClass).toBe('implied by threads = 4 (config file /x/gserve.config.json (key "threads"))');
  });
  it('turns an explicit sync into thread, as Gunicorn does', () => {
    const c = choice('sync', 2, 'command line --worker-class');
    applyImpliedWorkerClass(c);
    expect(c.settings.workerClass).toBe('thread');
  });
  it('leaves one thread alone', () => {
    const c = choice('sync', 1, 'command line --worker-class');
    applyImpliedWorkerClass(c);
    expect(c.settings.workerClass).toBe('sync');
  });
  it('refuses threads with an explicit async class', () => {
    expect(() => applyImpliedWorkerClass(choice('async', 2, 'command line --worker-class'))).toThrow(SettingError);
  });
});
