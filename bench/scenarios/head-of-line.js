// Head-of-line scenario: 1 request in 10 blocks its worker for 50 ms. How long do the other,
// fast requests wait? gserve `sync` (the master hands a connection only to an idle worker) against
// a hand-written node:cluster server (round-robin: connections go to busy workers too), same
// workers, same app; gserve `async` (workers accept from the shared socket) for reference.
//
//   node bench/scenarios/head-of-line.js [--workers 2] [--concurrency 2] [--duration 5000] [--rounds 3] [--json]
// Each round measures every server for --duration ms, servers interleaved; results are pooled.
//
// Exports run(options) -> { scenario, params, servers: { name: { fastP50, fastP99, slowP99, rps, errors } }, ratio, summary }
// where ratio = cluster fast p99 / gserve sync fast p99 (above 1: sync keeps fast requests faster).
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { APPS, interleaved, load, ms, percentile, runIfMain, startCluster, startGserve } from './support.js';

// One client per worker: a load the workers can carry, where waiting comes from placement, not saturation.
export const defaults = { workers: 2, concurrency: 2, duration: 5_000, rounds: 3 };

/** Every tenth request is slow, the same sequence for every server. */
const pick = (i) => (i % 10 === 9 ? `/slow?${i}` : `/fast?${i}`);

async function measure(start, params) {
  const server = await start();
  try {
    // A short warm-up, so that JIT and connection set-up do not count.
    await load({ port: server.port, concurrency: 2, durationMs: 500, pick });
    return await load({ port: server.port, concurrency: params.concurrency, durationMs: params.duration, pick });
  } finally {
    await server.stop();
  }
}

function summarize(result) {
  const fast = [];
  const slow = [];
  for (const [path, values] of result.latencies) (path.startsWith('/slow') ? slow : fast).push(...values);
  return {
    fastP50: percentile(fast, 50),
    fastP99: percentile(fast, 99),
    slowP99: percentile(slow, 99),
    rps: result.rps,
    requests: result.requests,
    errors: result.errors,
  };
}

export async function run(options = {}) {
  const params = { ...defaults, ...options };
  const loadBefore = loadavg()[0];
  const app = join(APPS, 'mixed.js') + ':app';
  const w = String(params.workers);
  const pooled = await interleaved(params.rounds, {
    'gserve sync': () => measure(() => startGserve(['-k', 'sync', '-w', w], app), params),
    'node:cluster': () => measure(() => startCluster(params.workers, app), params),
    'gserve async': () => measure(() => startGserve(['-k', 'async', '-w', w], app), params),
  });
  const servers = Object.fromEntries(Object.entries(pooled).map(([name, result]) => [name, summarize(result)]));
  const ratio = servers['node:cluster'].fastP99 / servers['gserve sync'].fastP99;
  return {
    scenario: 'head-of-line',
    params,
    // The machine's 1-minute load average before and after: numbers from a busy machine are noisy.
    load: [loadBefore, loadavg()[0]],
    servers,
    ratio,
    summary: `fast-request p99: node:cluster ${ms(servers['node:cluster'].fastP99)} ms / gserve sync ${ms(servers['gserve sync'].fastP99)} ms = ${ratio.toFixed(2)}x`,
  };
}

export function print(result) {
  const { params } = result;
  console.log(
    `head-of-line: ${params.workers} workers, ${params.concurrency} clients, ${params.rounds} x ${params.duration} ms, 1 request in 10 blocks 50 ms`,
  );
  console.log('server          fast p50   fast p99   slow p99     req/s  errors');
  for (const [name, s] of Object.entries(result.servers)) {
    console.log(
      `${name.padEnd(14)} ${ms(s.fastP50).padStart(9)} ${ms(s.fastP99).padStart(10)} ${ms(s.slowP99).padStart(10)} ${s.rps.toFixed(0).padStart(9)} ${String(s.errors).padStart(7)}`,
    );
  }
  console.log(`${result.summary}  (load average ${result.load.map((l) => l.toFixed(1)).join(' -> ')})`);
}

await runIfMain(import.meta.url, defaults, run, print);
