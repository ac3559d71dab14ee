import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processExists } from '../../src/supervision/process-alive.js';

describe('processExists', () => {
  it('is true for a live process, ours or another user’s (EPERM), false once it has exited', () => {
    expect(processExists(process.pid)).toBe(true);
    expect(processExists(1)).toBe(true); // init: root's, so EPERM when the tests do not run as root
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(processExists(exited)).toBe(false);
  });
});
