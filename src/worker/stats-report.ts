/**
 * What a worker reports of its requests once a second (worker/stats.ts), and what the master's
 * status, its metrics and `gserve top` read of it: a module of its own, so that the master's bundle
 * takes these names without the worker's counters (and the modules those import).
 */

export const METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'other'];
export const STATUS_CLASSES: readonly string[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];
/** Upper bounds of the request-duration histogram, in seconds (Prometheus' defaults). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Running totals since the worker started (the master keeps them monotonic across workers). */
export interface StatsReport {
  t: 'stats';
  served: number;
  inFlight: number;
  /** Response counts, index `method * STATUS_CLASSES.length + statusClass`. */
  counts: number[];
  /** Per-bucket (not cumulative) counts; the last is +Inf. */
  buckets: number[];
  durationSum: number;
  bytesIn: number;
  bytesOut: number;
  /** TLS handshakes that failed or did not end within --header-timeout (optional: older workers). */
  tlsHandshakeErrors?: number;
  tlsHandshakeTimeouts?: number;
  rss: number;
  /** CPU time (user + system) since the worker started, in seconds: `gserve top` shows its rate. */
  cpu?: number;
  /** Event-loop delay since the last report, in seconds. */
  loopDelay: { mean: number; p99: number; max: number };
}
