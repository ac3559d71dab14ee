import { afterEach, describe, expect, it, vi } from 'vitest';
import { residentMemory } from '../../src/worker/rss.js';

describe('residentMemory', () => {
  afterEach(() => vi.restoreAllMocks());

  it('keeps the last reading when reading RSS fails for want of descriptors, instead of throwing', () => {
    const first = residentMemory();
    expect(first).toBeGreaterThan(0);
    vi.spyOn(process.memoryUsage, 'rss').mockImplementation(() => {
      throw Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' });
    });
    expect(residentMemory()).toBe(first);
  });
});
