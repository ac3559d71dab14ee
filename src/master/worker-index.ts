/**
 * Worker indexes: each worker of a generation has a slot 0..N-1, exported to the app as
 * GSERVE_WORKER_INDEX and NODE_APP_INSTANCE (PM2's name), e.g. to run a cron job in worker 0 only.
 * A replacement (crash, timeout, recycling) takes the lowest free slot, which is the slot of the
 * worker it replaces; TTIN adds the next slot, TTOU removes the highest. A worker that is stopping
 * (draining) no longer holds its slot, so its replacement may run beside it for a moment.
 */
export interface Indexed {
  index: number;
  generation: number;
}

/** The lowest slot no serving worker of this generation holds. */
export function freeIndex(serving: Indexed[], generation: number): number {
  const taken = new Set(serving.filter((w) => w.generation === generation).map((w) => w.index));
  let i = 0;
  while (taken.has(i)) i++;
  return i;
}

/** Which workers to stop when there are `extra` too many: older generations first, then the highest slots. */
export function toRetire<W extends Indexed>(serving: W[], extra: number): W[] {
  if (extra <= 0) return [];
  return [...serving].sort((a, b) => a.generation - b.generation || b.index - a.index).slice(0, extra);
}
