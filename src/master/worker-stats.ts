import { choices } from '../choices.js';
import { DURATION_BUCKETS, METHODS, STATUS_CLASSES, type StatsReport } from '../worker/stats-report.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * The master's record of what each worker reported, and of why workers ended: the data behind
 * `gserve status` and the metrics. Counters of workers that have exited are folded into the
 * totals so that Prometheus counters never go down.
 */

export const RESTART_REASONS = choices('crash', 'timeout', 'max-requests', 'memory', 'reload');
export type RestartReason = (typeof RESTART_REASONS)[number];

/** Why a worker ended, from the arbiter's reason text; null when it was not a restart (shutdown, scale-down). */
export function restartReason(endReason: string | null): RestartReason | null {
  if (endReason === null) return 'crash';
  if (/reload failed/i.test(endReason)) return null; // a new worker that never served: nothing was replaced
  if (/timed? ?out/i.test(endReason)) return 'timeout';
  if (/max[- ]?requests/i.test(endReason)) return 'max-requests';
  if (/memory|rss/i.test(endReason)) return 'memory';
  if (/reload|hup|upgrade/i.test(endReason)) return 'reload';
  return null;
}

export type WorkerStatus = 'booting' | 'ready' | 'busy' | 'draining';

export interface WorkerRow {
  pid: number;
  state: WorkerStatus;
  generation: number;
  served: number;
  inFlight: number;
  rss: number;
  uptime: number;
  restarts: number;
  /**
   * For `gserve top`: CPU seconds and the request-duration histogram (DURATION_BUCKETS), both since
   * the worker started.
   */
  cpu: number;
  buckets: number[];
  /** The worker's slot (GSERVE_WORKER_INDEX), when the master numbers its workers. */
  index?: number;
}

interface Tracked {
  last: StatsReport | null;
  restarts: number;
  generation: number;
  /** A newer worker has taken this one's place in a reload (its restart count moved on). */
  succeeded: boolean;
}

type Totals = Pick<StatsReport, 'served' | 'durationSum' | 'bytesIn' | 'bytesOut'> & {
  counts: number[];
  buckets: number[];
  tlsHandshakeErrors: number;
  tlsHandshakeTimeouts: number;
};

const emptyTotals = (): Totals => ({
  served: 0,
  durationSum: 0,
  bytesIn: 0,
  bytesOut: 0,
  tlsHandshakeErrors: 0,
  tlsHandshakeTimeouts: 0,
  counts: new Array(METHODS.length * STATUS_CLASSES.length).fill(0),
  buckets: new Array(DURATION_BUCKETS.length + 1).fill(0),
});

function addInto(into: Totals, r: Omit<Totals, 'tlsHandshakeErrors' | 'tlsHandshakeTimeouts'> & Partial<Totals>): void {
  into.served += r.served;
  into.durationSum += r.durationSum;
  into.bytesIn += r.bytesIn;
  into.bytesOut += r.bytesOut;
  into.tlsHandshakeErrors += r.tlsHandshakeErrors ?? 0;
  into.tlsHandshakeTimeouts += r.tlsHandshakeTimeouts ?? 0;
  r.counts.forEach((n, i) => (into.counts[i]! += n));
  r.buckets.forEach((n, i) => (into.buckets[i]! += n));
}

const slotOf = (w: WorkerProcess): string => `${w.generation}:${w.index}`;

export class WorkerStatsBook {
  private readonly tracked = new Map<number, Tracked>();
  /** Totals of workers that have exited. */
  private readonly retired = emptyTotals();
  readonly restarts: Record<RestartReason, number> = { crash: 0, timeout: 0, 'max-requests': 0, memory: 0, reload: 0 };
  /** Why the last worker that could not boot failed (a reload of broken code), for the control socket. */
  lastBootError: string | null = null;
  /**
   * Restart counts of ended workers whose replacement has not started yet, by slot: a replacement
   * takes the slot of the worker it replaces (worker-index.ts), and a worker added meanwhile (TTIN)
   * or another slot's replacement must not inherit its count.
   */
  private readonly owed = new Map<string, number>();

  spawned(w: WorkerProcess): void {
    let restarts = 0;
    const owed = this.owed.get(slotOf(w));
    if (owed !== undefined) {
      this.owed.delete(slotOf(w));
      restarts = owed + 1;
    } else {
      // A reload starts new workers before the old ones end: each new one takes an old one's place.
      const predecessor = [...this.tracked.values()].find((t) => t.generation < w.generation && !t.succeeded);
      if (predecessor) {
        predecessor.succeeded = true;
        restarts = predecessor.restarts + 1;
      }
    }
    this.tracked.set(w.pid, { last: null, restarts, generation: w.generation, succeeded: false });
  }

  reported(w: WorkerProcess, report: StatsReport): void {
    const t = this.tracked.get(w.pid);
    if (t) t.last = report;
  }

  exited(w: WorkerProcess, stopping: boolean): void {
    const t = this.tracked.get(w.pid);
    this.tracked.delete(w.pid);
    if (t?.last) addInto(this.retired, t.last);
    if (w.bootError) this.lastBootError = w.bootError.message;
    if (stopping || w.bootError) return; // a worker that never booted replaced nothing
    const reason = restartReason(w.endReason);
    if (!reason) return;
    this.restarts[reason]++;
    if (reason !== 'reload' && t) this.owed.set(slotOf(w), t.restarts);
  }

  /** Running totals over every worker, living and ended. */
  totals(): Totals {
    const sum = emptyTotals();
    addInto(sum, this.retired);
    for (const t of this.tracked.values()) if (t.last) addInto(sum, t.last);
    return sum;
  }

  row(w: WorkerProcess, now = Date.now()): WorkerRow {
    const t = this.tracked.get(w.pid);
    const last = t?.last ?? null;
    const inFlight = last?.inFlight ?? 0;
    const state: WorkerStatus =
      w.state === 'stopping' ? 'draining' : w.state === 'booting' ? 'booting' : inFlight > 0 ? 'busy' : 'ready';
    return {
      pid: w.pid,
      state,
      generation: w.generation,
      served: last?.served ?? 0,
      inFlight,
      rss: last?.rss ?? 0,
      uptime: (now - w.bornAt) / 1000,
      restarts: t?.restarts ?? 0,
      cpu: last?.cpu ?? 0,
      buckets: last?.buckets ?? [],
      index: w.index,
    };
  }

  last(pid: number): StatsReport | null {
    return this.tracked.get(pid)?.last ?? null;
  }
}
