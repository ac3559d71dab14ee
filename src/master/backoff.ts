/**
 * Crash backoff, one per worker slot. A slot is the place one worker fills: when its worker dies,
 * its replacement takes the same slot and inherits its strikes. Only a slot whose workers keep
 * dying before they prove themselves waits; the other slots are refilled at once, so one bad slot
 * never leaves the server with no workers. The strikes and delays are supervision/backoff.ts's.
 */
import { CrashBackoff } from '../supervision/backoff.js';

/** A worker that lived this long has proved its slot healthy: its death is not a strike. */
export const PROVEN_AFTER_MS = 10_000;
export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 30_000;
export const MAX_FORK_RETRY_MS = 5_000;

let nextSlotId = 0;

export class Slot {
  readonly id = nextSlotId++;
  private readonly backoff = new CrashBackoff({
    provenAfterMs: PROVEN_AFTER_MS,
    firstDelayMs: FIRST_DELAY_MS,
    maxDelayMs: MAX_DELAY_MS,
  });
  private timer: NodeJS.Timeout | null = null;

  /** Deaths (or failed forks) in a row of workers that had not proved themselves. */
  get strikes(): number {
    return this.backoff.strikes;
  }

  /**
   * Records that this slot's worker ended. A worker that served a request or lived
   * PROVEN_AFTER_MS resets the slot. Returns how long to wait before refilling it (0: at once).
   */
  afterDeath(livedMs: number, served: boolean): number {
    return this.backoff.afterDeath(livedMs, served);
  }

  /**
   * A fork that failed (EMFILE, EAGAIN, ENOMEM) is a strike: the retry waits, never spins. The
   * shortage is usually passing (connections close, memory frees), so the retry waits at most
   * MAX_FORK_RETRY_MS.
   */
  afterForkFailure(): number {
    return Math.min(MAX_FORK_RETRY_MS, Math.max(FIRST_DELAY_MS, this.backoff.strike()));
  }

  get waiting(): boolean {
    return this.timer !== null;
  }

  wait(ms: number, then: () => void): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = null;
      then();
    }, ms);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
