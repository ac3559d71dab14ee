/**
 * Blocked-loop detection, the watching side of heartbeats (heartbeat.ts): the master watches its
 * worker processes, a `thread` worker watches its app threads. One whose last beat is older than
 * the timeout has an event loop that does not turn (a busy loop, a synchronous wait).
 *
 * Times are monotonic (monotonicNow()): a wall clock stepped forward (NTP, `date -s`) would make
 * every beat look old at once.
 */
export interface Beating {
  /** When it last showed its event loop turning (monotonicNow()). */
  readonly lastBeat: number;
}

/**
 * Milliseconds on a clock that never steps back. process.hrtime rather than performance.now(): the
 * `performance` global loads node's perf_hooks on first use, 2-4 ms of a master's way to its first
 * fork, and the master needs nothing else from it.
 */
export const monotonicNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The ones among `watched` that have not beaten for more than `timeoutMs`. */
export function blockedLoops<T extends Beating>(watched: Iterable<T>, timeoutMs: number, now = monotonicNow()): T[] {
  const blocked: T[] = [];
  for (const item of watched) if (now - item.lastBeat > timeoutMs) blocked.push(item);
  return blocked;
}

export interface BlockedLoopWatch<T extends Beating> {
  readonly everyMs: number;
  /** Read on every check (HUP may change it); 0 or less turns the check off. */
  readonly timeoutMs: () => number;
  /** What to check now: the ones that are running and should beat. */
  readonly watched: () => Iterable<T>;
  readonly onBlocked: (item: T, timeoutMs: number) => void;
  /** The clock of `lastBeat` (tests give a fake one). */
  readonly now?: () => number;
}

/**
 * Checks every `everyMs` and calls `onBlocked` for each blocked one. Returns the timer, to clear it.
 *
 * A check more than one interval late means the watcher itself did not run: stopped (SIGSTOP, a
 * paused container or VM) or stuck in a synchronous call (a log write to a full pipe). The beats
 * sent meanwhile are still unread in its channels, and its timers come before its reads, so every
 * watched one would look blocked and be killed at once. That check passes; the next one, after the
 * reads, judges on fresh beats. One in a row only: a watcher always late still judges.
 */
export function watchForBlockedLoops<T extends Beating>(watch: BlockedLoopWatch<T>): NodeJS.Timeout {
  const now = watch.now ?? monotonicNow;
  let lastCheck = now();
  let passedLate = false;
  return setInterval(() => {
    const at = now();
    const late = at - lastCheck > 2 * watch.everyMs;
    lastCheck = at;
    if (late && !passedLate) {
      passedLate = true;
      return;
    }
    passedLate = false;
    const timeoutMs = watch.timeoutMs();
    if (timeoutMs <= 0) return;
    for (const item of blockedLoops(watch.watched(), timeoutMs, at)) watch.onBlocked(item, timeoutMs);
  }, watch.everyMs);
}
