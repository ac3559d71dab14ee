import { describe, expect, it, vi } from 'vitest';
import { CrashBackoff } from '../../src/supervision/backoff.js';
import { blockedLoops, watchForBlockedLoops } from '../../src/supervision/blocked-loop.js';
import { beatIntervalMs, startHeartbeat } from '../../src/supervision/heartbeat.js';

describe('the shared supervisor parts', () => {
  it('crash backoff: the first early death is replaced at once, then the wait doubles to the ceiling', () => {
    const backoff = new CrashBackoff({ provenAfterMs: 5_000, firstDelayMs: 100, maxDelayMs: 1_000 });
    expect(Array.from({ length: 6 }, () => backoff.afterDeath(10))).toEqual([0, 200, 400, 800, 1000, 1000]);
    expect(backoff.strikes).toBe(6);
    expect(backoff.afterDeath(5_000)).toBe(0);
    expect(backoff.afterDeath(10, true)).toBe(0);
    expect(backoff.afterDeath(10)).toBe(200);
  });

  it('blocked loops: only those whose last beat is older than the timeout', () => {
    const now = 10_000;
    const items = [{ lastBeat: 9_000 }, { lastBeat: 5_000 }, { lastBeat: 6_000 }];
    expect(blockedLoops(items, 4_000, now)).toEqual([{ lastBeat: 5_000 }]);
  });

  it('the watch reads the timeout on every check, and 0 turns it off', () => {
    vi.useFakeTimers();
    try {
      let timeout = 0;
      const onBlocked = vi.fn();
      const timer = watchForBlockedLoops({
        everyMs: 1000,
        timeoutMs: () => timeout,
        watched: () => [{ lastBeat: 0 }],
        onBlocked,
        now: () => Date.now(),
      });
      vi.advanceTimersByTime(5_000);
      expect(onBlocked).not.toHaveBeenCalled();
      timeout = 2_000;
      vi.advanceTimersByTime(1_000);
      expect(onBlocked).toHaveBeenCalledWith({ lastBeat: 0 }, 2_000);
      clearInterval(timer);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a check more than an interval late passes once (the watcher's own loop was stopped); the next judges", () => {
    vi.useFakeTimers();
    try {
      let clock = 0;
      const healthy = { lastBeat: 0 };
      const stuck = { lastBeat: 0 };
      const onBlocked = vi.fn();
      const timer = watchForBlockedLoops({
        everyMs: 1000,
        timeoutMs: () => 2_000,
        watched: () => [healthy, stuck],
        onBlocked,
        now: () => clock,
      });
      const tickAt = (at: number) => {
        clock = at;
        vi.advanceTimersByTime(1000);
      };
      tickAt(1_000);
      healthy.lastBeat = 1_000;
      // Stopped for 10 s: both beats look 10 s old, but the healthy one's are still unread.
      tickAt(11_000);
      expect(onBlocked).not.toHaveBeenCalled();
      healthy.lastBeat = 11_000; // read after the timers
      tickAt(12_000);
      expect(onBlocked.mock.calls).toEqual([[stuck, 2_000]]);
      // Late twice in a row: the second late check judges.
      onBlocked.mockClear();
      healthy.lastBeat = 19_500;
      tickAt(20_000);
      expect(onBlocked).not.toHaveBeenCalled();
      healthy.lastBeat = 29_500;
      tickAt(30_000);
      expect(onBlocked.mock.calls).toEqual([[stuck, 2_000]]);
      clearInterval(timer);
    } finally {
      vi.useRealTimers();
    }
  });

  it('heartbeats: four per timeout, at least one a second, none without a timeout', () => {
    expect(beatIntervalMs(2_000)).toBe(500);
    expect(beatIntervalMs(30_000)).toBe(1_000);
    expect(startHeartbeat(0, () => {})).toBeNull();
    vi.useFakeTimers();
    try {
      const beat = vi.fn();
      const timer = startHeartbeat(2_000, beat);
      vi.advanceTimersByTime(1_000);
      expect(beat).toHaveBeenCalledTimes(2);
      if (timer) clearInterval(timer);
    } finally {
      vi.useRealTimers();
    }
  });
});
