/**
 * Blocked-loop detection, the watching side of heartbeats (heartbeat.ts): the master watches its
 * worker processes, a `thread` worker watches its app threads. One whose last beat is older than
 * the timeout has an event loop that does not turn (a busy loop, a synchronous wait).
 */
export interface Beating {
  /** When it last showed its event loop turning (Date.now()). */
  readonly lastBeat: number;
}

/** The ones among `watched` that have not beaten for more than `timeoutMs`. */
export function blockedLoops<T extends Beating>(watched: Iterable<T>, timeoutMs: number, now = Date.now()): T[] {
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
}

/** Checks every `everyMs` and calls `onBlocked` for each blocked one. Returns the timer, to clear it. */
export function watchForBlockedLoops<T extends Beating>(watch: BlockedLoopWatch<T>): NodeJS.Timeout {
  return setInterval(() => {
    const timeoutMs = watch.timeoutMs();
    if (timeoutMs <= 0) return;
    for (const item of blockedLoops(watch.watched(), timeoutMs)) watch.onBlocked(item, timeoutMs);
  }, watch.everyMs);
}
