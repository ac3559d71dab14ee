import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionTimer, type TimerKind } from '../../src/http/timeouts.js';

/**
 * The engine's one timer per connection keeps its Node timer across requests (re-armed on every
 * keep-alive request, it sets a new one only when the new deadline comes first): each deadline must
 * still be kept to the millisecond it would have been with a fresh timer each time.
 */
describe('ConnectionTimer', () => {
  let fired: TimerKind[];
  let timer: ConnectionTimer;
  beforeEach(() => {
    vi.useFakeTimers();
    fired = [];
    timer = new ConnectionTimer(
      (kind) => fired.push(kind),
      () => Date.now(),
    );
  });
  afterEach(() => {
    timer.stop();
    vi.useRealTimers();
  });

  it('fires once, with its kind, when its time is up', () => {
    timer.arm('idle', 1000);
    vi.advanceTimersByTime(999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['idle']);
    expect(timer.kind).toBeNull();
    vi.advanceTimersByTime(10_000);
    expect(fired).toEqual(['idle']);
  });

  it('re-armed for a later deadline, keeps its Node timer and fires at the new deadline', () => {
    timer.arm('idle', 1000);
    vi.advanceTimersByTime(600);
    timer.clear();
    timer.arm('idle', 1000); // due at 1600
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(400); // 1000: the first Node timer fires early and sets itself for the rest
    expect(fired).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(599);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['idle']);
  });

  it('re-armed for an earlier deadline, fires then', () => {
    timer.arm('header', 10_000);
    timer.arm('idle', 500);
    vi.advanceTimersByTime(500);
    expect(fired).toEqual(['idle']);
    vi.advanceTimersByTime(20_000);
    expect(fired).toEqual(['idle']);
  });

  it('cleared, never fires; armed with 0, neither', () => {
    timer.arm('body', 1000);
    timer.clear();
    vi.advanceTimersByTime(5000);
    timer.arm('body', 0);
    vi.advanceTimersByTime(5000);
    expect(fired).toEqual([]);
    expect(timer.kind).toBeNull();
  });

  it('restored after a clear, keeps the deadline it had', () => {
    timer.arm('idle', 1000);
    vi.advanceTimersByTime(700);
    timer.clear();
    expect(timer.restore('idle')).toBe(true);
    vi.advanceTimersByTime(300);
    expect(fired).toEqual(['idle']);
    expect(timer.restore('idle')).toBe(false); // fired: there is no deadline to go back to
  });

  it('stopped, leaves no Node timer behind', () => {
    timer.arm('idle', 1000);
    timer.clear();
    expect(vi.getTimerCount()).toBe(1);
    timer.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
