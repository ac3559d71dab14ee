/**
 * Crash backoff: how long to wait before replacing something that died (a worker process in the
 * master, an app thread in a `thread` worker). Deaths in a row of ones that never proved
 * themselves are strikes; the first is replaced at once, then the wait doubles up to a ceiling,
 * so a crash loop never spins.
 */
export interface BackoffPolicy {
  /** One that lived this long proved itself healthy: its death is not a strike. */
  readonly provenAfterMs: number;
  /** The wait after the second strike; it doubles with each strike after that. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
}

export class CrashBackoff {
  private count = 0;

  constructor(private readonly policy: BackoffPolicy) {}

  /** Deaths (or failed starts) in a row of ones that had not proved themselves. */
  get strikes(): number {
    return this.count;
  }

  /**
   * Records a death after `livedMs`; `proven`: it showed itself healthy otherwise (it served a
   * request). Returns how long to wait before the replacement (0: at once).
   */
  afterDeath(livedMs: number, proven = false): number {
    if (proven || livedMs >= this.policy.provenAfterMs) this.count = 0;
    return this.strike();
  }

  /** Counts one strike. The first is replaced at once; then firstDelayMs × 2, × 4, … up to maxDelayMs. */
  strike(): number {
    this.count++;
    const { firstDelayMs, maxDelayMs } = this.policy;
    return this.count <= 1 ? 0 : Math.min(maxDelayMs, firstDelayMs * 2 ** (this.count - 1));
  }
}
