import type { Socket } from 'node:net';
import { createHistogram, type RecordableHistogram, performance } from 'node:perf_hooks';
import type { FinishedExchange, ProtocolServer } from '../http/protocol-server.js';
import type { AccessLog } from '../log/access.js';
import type { WorkerMessage } from './ipc-messages.js';
import { bytesWritten } from '../http/node-internals.js';
import { onPulse } from './pulse.js';
import { residentMemory } from './rss.js';
import { DURATION_BUCKETS, METHODS, STATUS_CLASSES, type StatsReport } from './stats-report.js';

/**
 * The worker's counters for `gserve status` and the metrics. A response costs a few array
 * increments and a note of its socket; the sockets' byte counters are read, and the totals go to
 * the master over IPC, once a second, not per request.
 */

export const REPORT_INTERVAL_MS = 1000;

/**
 * How many sockets may wait for the next count of bytes; when that many wait, they are counted at
 * once, not at the next report. Clients that reconnect for each request (`Connection: close`)
 * would otherwise keep a second's worth of closed sockets alive, thousands of them, for the
 * garbage collector to carry.
 */
const MAX_UNCOUNTED_SOCKETS = 64;

const METHOD_INDEX: Record<string, number> = Object.fromEntries(METHODS.slice(0, -1).map((m, i) => [m, i]));

const LOOP_DELAY_MAX_US = 3600e6;

export class WorkerStats {
  private served = 0;
  private readonly counts = new Array<number>(METHODS.length * STATUS_CLASSES.length).fill(0);
  private readonly buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  private durationSum = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private tlsHandshakeErrors = 0;
  private tlsHandshakeTimeouts = 0;
  /** Socket byte counters when they were last counted. */
  private readonly seen = new WeakMap<Socket, { read: number; written: number }>();
  /** Sockets that finished a response since the bytes were last counted. */
  private readonly touched = new Set<Socket>();
  private readonly protocols: ProtocolServer[] = [];
  /**
   * How late the worker's pulse came, in µs: the event loop's delay, sampled (pulse.ts). Two
   * significant figures up to an hour: node's default histogram (three figures, up to 2^53) has 45,000
   * counters, which every report's mean and reset went through, about 1.5 million instructions a
   * second in an idle worker; this one has about 3,000.
   */
  private readonly loop: RecordableHistogram = createHistogram({ lowest: 1, highest: LOOP_DELAY_MAX_US, figures: 2 });
  private stopSampling: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  /**
   * @param counting whether anyone reads the counters (a control socket or --metrics-bind); when
   *   not, a response costs only its access-log line, if any.
   */
  constructor(
    private readonly accessLog: AccessLog | null,
    private readonly counting = true,
  ) {
    if (counting)
      this.stopSampling = onPulse((lateMs) =>
        this.loop.record(Math.min(LOOP_DELAY_MAX_US, Math.max(1, Math.round(lateMs * 1e3)))),
      );
  }

  /**
   * Counts this protocol server's in-flight requests and failed TLS handshakes. Its responses come
   * through finished(), which the worker calls from its one 'response' listener.
   */
  observe(protocol: ProtocolServer): void {
    this.protocols.push(protocol);
    protocol.on('tls-handshake-failed', (kind: 'timeout' | 'error') => {
      if (kind === 'timeout') this.tlsHandshakeTimeouts++;
      else this.tlsHandshakeErrors++;
    });
  }

  /** A response is over: count it (when anyone reads the counters) and log it (when there is an access log). */
  finished(x: FinishedExchange | undefined): void {
    if (!x) return;
    if (this.counting) this.record(x);
    else this.accessLog?.write(x);
  }

  private record(x: FinishedExchange): void {
    const now = performance.now();
    this.served++;
    const method = METHOD_INDEX[x.method] ?? METHODS.length - 1;
    const klass = Math.min(Math.max(Math.floor(x.status / 100) - 1, 0), STATUS_CLASSES.length - 1);
    this.counts[method * STATUS_CLASSES.length + klass]!++;
    const seconds = (now - x.startedAt) / 1000;
    this.durationSum += seconds;
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]!) b++;
    this.buckets[b]!++;
    if (this.touched.add(x.socket).size >= MAX_UNCOUNTED_SOCKETS) this.countBytes();
    this.accessLog?.write(x);
  }

  /** Bytes on the wire, both ways, since they were last counted on the sockets that served responses. */
  private countBytes(): void {
    for (const socket of this.touched) {
      const read = socket.bytesRead;
      const written = bytesWritten(socket);
      if (typeof read === 'number' && typeof written === 'number') this.countSocket(socket, read, written);
    }
    this.touched.clear();
  }

  private countSocket(socket: Socket, read: number, written: number): void {
    const before = this.seen.get(socket);
    this.bytesIn += read - (before?.read ?? 0);
    this.bytesOut += written - (before?.written ?? 0);
    if (before) {
      before.read = read;
      before.written = written;
    } else this.seen.set(socket, { read, written });
  }

  get inFlight(): number {
    let n = 0;
    for (const p of this.protocols) n += p.inFlight;
    return n;
  }

  report(): StatsReport {
    const seconds = (us: number) => (us || 0) / 1e6;
    const loopDelay = {
      mean: seconds(this.loop.mean),
      p99: seconds(this.loop.percentile(99)),
      max: seconds(this.loop.max),
    };
    this.loop.reset();
    this.countBytes();
    return {
      t: 'stats',
      served: this.served,
      inFlight: this.inFlight,
      counts: this.counts,
      buckets: this.buckets,
      durationSum: this.durationSum,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      tlsHandshakeErrors: this.tlsHandshakeErrors,
      tlsHandshakeTimeouts: this.tlsHandshakeTimeouts,
      rss: residentMemory() ?? 0,
      cpu: cpuSeconds(),
      loopDelay,
    };
  }

  /** Sends a report now and then every second, while the worker lives. */
  startReporting(send: (m: WorkerMessage) => void): void {
    if (!this.counting) return;
    // After the connections already waiting are taken: the first report is no one's first answer.
    setImmediate(() => send(this.report()));
    this.timer = setInterval(() => send(this.report()), REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  reopenLogs(): void {
    this.accessLog?.reopen();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.stopSampling?.();
    this.accessLog?.flush();
  }
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
