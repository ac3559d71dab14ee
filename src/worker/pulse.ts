import { BEAT_MS } from '../supervision/connection-board.js';

/**
 * The worker's one fast timer. The connection board's beat and the event-loop delay sample both
 * need a turn of the loop every BEAT_MS. With a timer each (perf_hooks' delay monitor ran its own at
 * 10 ms), an idle worker woke about 175 times a second in all, 1.3% of a core in a VM; with this
 * one, about 35 times, 0.6%.
 */
const beats = new Set<(lateMs: number) => void>();
let timer: NodeJS.Timeout | null = null;
let due = 0;

/** Calls `fn` every BEAT_MS with how late this turn came (ms); returns the function that stops it. */
export function onPulse(fn: (lateMs: number) => void): () => void {
  beats.add(fn);
  if (!timer) {
    due = performance.now() + BEAT_MS;
    timer = setInterval(pulse, BEAT_MS).unref();
  }
  return () => {
    beats.delete(fn);
    if (beats.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

function pulse(): void {
  const now = performance.now();
  const late = Math.max(0, now - due);
  due = now + BEAT_MS;
  for (const fn of beats) fn(late);
}
