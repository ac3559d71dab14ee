import { createServer, type Server } from 'node:http';
import { BindError } from '../errors.js';
import { parseMetricsBind } from '../config/settings/observability.js';
import { DURATION_BUCKETS, METHODS, STATUS_CLASSES } from '../worker/stats-report.js';
import { RESTART_REASONS, type WorkerStatsBook } from './worker-stats.js';
import type { WorkerProcess } from './worker-process.js';
import { guardMetricsServer } from './metrics-guard.js';
import { residentMemory } from '../worker/rss.js';

/**
 * Prometheus text exposition (format 0.0.4) from the master, built from the workers' last
 * reports. Scrapes never reach a worker: serving /metrics costs the workers nothing.
 */

export interface MetricsSource {
  book: WorkerStatsBook;
  workers(): readonly WorkerProcess[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labels = (pairs: Record<string, string | number>) =>
  '{' +
  Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
    .join(',') +
  '}';
/** Prometheus wants `+Inf` and plain decimals, not `Infinity` or exponents for small numbers. */
const num = (n: number) =>
  n === Infinity ? '+Inf' : Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));

export function renderMetrics(src: MetricsSource): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const totals = src.book.totals();
  const workers = src.workers();

  family('gserve_http_requests_total', 'counter', 'Finished HTTP requests, by method and status class.');
  METHODS.forEach((method, m) =>
    STATUS_CLASSES.forEach((status, s) => {
      const n = totals.counts[m * STATUS_CLASSES.length + s]!;
      if (n > 0) out.push(`gserve_http_requests_total${labels({ method, status })} ${n}`);
    }),
  );

  family('gserve_http_request_duration_seconds', 'histogram', 'Time from the request head to the end of the response.');
  let cumulative = 0;
  DURATION_BUCKETS.forEach((le, i) => {
    cumulative += totals.buckets[i]!;
    out.push(`gserve_http_request_duration_seconds_bucket${labels({ le: num(le) })} ${cumulative}`);
  });
  cumulative += totals.buckets[DURATION_BUCKETS.length]!;
  out.push(`gserve_http_request_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
  out.push(`gserve_http_request_duration_seconds_sum ${num(totals.durationSum)}`);
  out.push(`gserve_http_request_duration_seconds_count ${cumulative}`);

  family('gserve_http_requests_in_flight', 'gauge', "Requests being handled now (as of the workers' last reports).");
  out.push(`gserve_http_requests_in_flight ${workers.reduce((n, w) => n + (src.book.last(w.pid)?.inFlight ?? 0), 0)}`);

  family('gserve_http_received_bytes_total', 'counter', 'Bytes read from HTTP connections (heads and bodies).');
  out.push(`gserve_http_received_bytes_total ${totals.bytesIn}`);
  family('gserve_http_sent_bytes_total', 'counter', 'Bytes written to HTTP connections (heads and bodies).');
  out.push(`gserve_http_sent_bytes_total ${totals.bytesOut}`);

  family(
    'gserve_tls_handshake_failures_total',
    'counter',
    'TLS handshakes that failed, or did not end within --header-timeout of the accept (reason="timeout").',
  );
  out.push(`gserve_tls_handshake_failures_total${labels({ reason: 'error' })} ${totals.tlsHandshakeErrors}`);
  out.push(`gserve_tls_handshake_failures_total${labels({ reason: 'timeout' })} ${totals.tlsHandshakeTimeouts}`);

  family('gserve_workers', 'gauge', 'Worker processes, by state.');
  const states = { booting: 0, ready: 0, busy: 0, draining: 0 };
  for (const w of workers) states[src.book.row(w).state]++;
  for (const [state, n] of Object.entries(states)) out.push(`gserve_workers${labels({ state })} ${n}`);

  family('gserve_worker_restarts_total', 'counter', 'Workers replaced, by reason.');
  for (const reason of RESTART_REASONS)
    out.push(`gserve_worker_restarts_total${labels({ reason })} ${src.book.restarts[reason]}`);

  family(
    'gserve_worker_event_loop_delay_seconds',
    'gauge',
    'Event-loop delay of each worker over its last report interval.',
  );
  for (const w of workers) {
    const r = src.book.last(w.pid);
    if (!r) continue;
    for (const [stat, v] of Object.entries(r.loopDelay))
      out.push(`gserve_worker_event_loop_delay_seconds${labels({ pid: w.pid, stat })} ${num(v)}`);
  }

  family('gserve_worker_resident_memory_bytes', 'gauge', 'Resident set size of each worker.');
  for (const w of workers) {
    const r = src.book.last(w.pid);
    if (r) out.push(`gserve_worker_resident_memory_bytes${labels({ pid: w.pid })} ${r.rss}`);
  }

  family('gserve_master_resident_memory_bytes', 'gauge', 'Resident set size of the master.');
  out.push(`gserve_master_resident_memory_bytes ${residentMemory() ?? 0}`);
  return out.join('\n') + '\n';
}

/** Serves GET /metrics on `--metrics-bind`; resolves once listening. */
/** `inheritedFd`: the listening socket a USR2 predecessor passed on, used instead of binding. */
export async function serveMetrics(
  bind: string,
  src: MetricsSource,
  inheritedFd?: number,
): Promise<{ server: Server; url: string }> {
  const { host, port } = parseMetricsBind(bind);
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderMetrics(src));
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found: metrics are at /metrics\n');
  });
  guardMetricsServer(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new BindError(`Cannot serve metrics on ${bind}: ${err.code ?? err.message}. Pick another --metrics-bind.`),
      ),
    );
    server.listen(inheritedFd !== undefined ? { fd: inheritedFd } : { port, host }, () => resolve());
  });
  const address = server.address();
  const shownPort = typeof address === 'object' && address ? address.port : port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${shownPort}/metrics` };
}
