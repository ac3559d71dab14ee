import { describe, expect, it } from 'vitest';
import { BOOT_ENV, takeBoot } from '../../src/worker/boot.js';

describe('the worker module', () => {
  it('imports without starting a worker: no signal handlers, no IPC listener, no timers', async () => {
    const before = ['SIGTERM', 'SIGUSR1', 'message', 'disconnect', 'exit'].map((e) => process.listenerCount(e));
    const { runWorker } = await import('../../src/worker/run-worker.js');
    expect(typeof runWorker).toBe('function');
    const after = ['SIGTERM', 'SIGUSR1', 'message', 'disconnect', 'exit'].map((e) => process.listenerCount(e));
    expect(after).toEqual(before);
  });

  it('takes the boot message out of the environment, so the app never sees it', () => {
    const boot = { settings: { workers: 2 }, listeners: [], generation: 3, cwd: '/srv' };
    const env: NodeJS.ProcessEnv = { [BOOT_ENV]: JSON.stringify(boot), OTHER: 'kept' };
    expect(takeBoot(env)).toEqual(boot);
    expect(env).toEqual({ OTHER: 'kept' });
  });

  it('refuses a missing or malformed boot message with a sentence', () => {
    expect(() => takeBoot({})).toThrow(/GSERVE_WORKER_BOOT is missing or malformed/);
    expect(() => takeBoot({ [BOOT_ENV]: '{"settings":{}}' })).toThrow(/malformed/);
  });
});
