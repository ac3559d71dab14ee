import { BEAT_MS } from '../supervision/connection-board.js';

/**
 * The worker's one fast timer. The connection board's beat and the event-loop delay sample both
 * need a turn of the loop every BEAT_MS; with a timer each (the delay monitor of perf_hooks ran its
 * own at 10 ms), an idle worker woke 130 times a second, about 1% of a core per idle worker in a
 * VM. One timer for both wakes it 20 times.
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
