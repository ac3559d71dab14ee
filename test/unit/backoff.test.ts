import { describe, expect, it, vi } from 'vitest';
import { MAX_DELAY_MS, MAX_FORK_RETRY_MS, PROVEN_AFTER_MS, Slot } from '../../src/master/backoff.js';

describe('per-slot crash backoff', () => {
  it('refills at once after the first early death, then waits 200, 400, 800 ms … up to 30 s', () => {
    const slot = new Slot();
    const delays = Array.from({ length: 12 }, () => slot.afterDeath(50, false));
    expect(delays.slice(0, 5)).toEqual([0, 200, 400, 800, 1600]);
    expect(Math.max(...delays)).toBe(MAX_DELAY_MS);
  });

  it('a worker that served a request, or lived 10 s, resets its slot', () => {
    const slot = new Slot();
    for (let i = 0; i < 5; i++) slot.afterDeath(50, false);
    expect(slot.afterDeath(50, true)).toBe(0);
    for (let i = 0; i < 5; i++) slot.afterDeath(50, false);
    expect(slot.afterDeath(PROVEN_AFTER_MS, false)).toBe(0);
  });

  it('slots are independent: one crashing slot does not delay another', () => {
    const bad = new Slot();
    const good = new Slot();
    for (let i = 0; i < 6; i++) bad.afterDeath(50, false);
    expect(good.afterDeath(60_000, false)).toBe(0);
  });

  it('a failed fork always waits, at most 5 s', () => {
    const slot = new Slot();
    expect(slot.afterForkFailure()).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) expect(slot.afterForkFailure()).toBeLessThanOrEqual(MAX_FORK_RETRY_MS);
  });

  it('wait runs once after the delay; cancel drops it', () => {
    vi.useFakeTimers();
    try {
      const slot = new Slot();
      const fn = vi.fn();
      slot.wait(100, fn);
      expect(slot.waiting).toBe(true);
      vi.advanceTimersByTime(100);
      expect(fn).toHaveBeenCalledTimes(1);
      expect(slot.waiting).toBe(false);
      slot.wait(100, fn);
      slot.cancel();
      vi.advanceTimersByTime(1000);
      expect(fn).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
