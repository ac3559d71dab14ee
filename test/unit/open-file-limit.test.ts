import { describe, expect, it } from 'vitest';
import {
  SYNC_HOLD,
  WORKER_DESCRIPTOR_RESERVE,
  descriptorShortage,
  openFileLimit,
  syncHoldLimit,
} from '../../src/master/open-file-limit.js';

/** The lines of /proc/self/limits around the one that matters, as Linux prints them. */
const limits = (soft: string, hard: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             95145                95145                processes ',
    `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     `,
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits; "unlimited" or an unreadable file is no figure', () => {
    expect(openFileLimit(() => limits('1024', '524288'))).toBe(1024);
    expect(openFileLimit(() => limits('unlimited', 'unlimited'))).toBeNull();
    expect(
      openFileLimit(() => {
        throw Object.assign(new Error('no /proc'), { code: 'ENOENT' });
      }),
    ).toBeNull();
    // This machine's own: Linux has it, and node has raised the soft limit to at least a few hundred.
    expect(openFileLimit()).toBeGreaterThan(100);
  });

  it('warns when --worker-connections and the reserve do not fit, naming the limit and both fixes', () => {
    expect(descriptorShortage(1000, 1000 + WORKER_DESCRIPTOR_RESERVE)).toBeNull();
    expect(descriptorShortage(1000, null)).toBeNull();
    const warning = descriptorShortage(1000, 1000 + WORKER_DESCRIPTOR_RESERVE - 1);
    expect(warning).toContain('--worker-connections 1000');
    expect(warning).toContain(`open-file limit (${1000 + WORKER_DESCRIPTOR_RESERVE - 1})`);
    expect(warning).toContain('past about 999 connections');
    expect(warning).toMatch(/ulimit -n.*LimitNOFILE=.*lower --worker-connections/);
    expect(warning).toContain(`Raise the limit to at least ${1000 + WORKER_DESCRIPTOR_RESERVE}`);
    // A limit below what a worker needs for itself gives no count of connections (it said "about 0").
    const tiny = descriptorShortage(1000, WORKER_DESCRIPTOR_RESERVE);
    expect(tiny).toContain('few or no descriptors left for connections');
    expect(tiny).not.toContain('past about');
  });

  it("holds as many connections in the sync master as its descriptors allow, at most Gunicorn's backlog", () => {
    expect(syncHoldLimit(null, 2)).toBe(SYNC_HOLD);
    expect(syncHoldLimit(20_000, 2)).toBe(2048);
    expect(syncHoldLimit(256, 1)).toBe(256 - WORKER_DESCRIPTOR_RESERVE - 4);
    expect(syncHoldLimit(64, 8)).toBe(1);
  });
});
