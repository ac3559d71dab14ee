// CPU-bound scenario: the same CPU-heavy app on `-w 1 --threads 2` (one process, two app threads)
// and on `-w 2` (two processes, async class): throughput, latency and the memory of the whole
// process tree (master + workers + threads), measured at the end of the load.
//
//   node bench/scenarios/cpu-bound.js [--concurrency 8] [--duration 5000] [--warmup 2000] [--rounds 3] [--loader wrk|builtin] [--json]
// Each round measures every setup for --duration ms, setups interleaved; results are pooled, memory is the rounds' median.
//
// Exports run(options) -> { scenario, params, servers: { name: { rps, p50, p99, rssMiB, errors } }, summary }
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { APPS, interleaved, load, ms, percentile, runIfMain, startGserve, treeRss } from './support.js';
import { WRK, runWrk } from '../lib/wrk.js';

// wrk when installed, like the other scenarios: a Node client would take CPU from the servers it compares.
export const defaults = { concurrency: 8, duration: 5_000, warmup: 2_000, rounds: 3, loader: WRK ? 'wrk' : 'builtin' };

const pick = () => '/';

const rssAnd = (server, latency) => ({ rss: treeRss(server.child.pid), p50: latency.p50, p99: latency.p99 });

async function measure(flags, params) {
  const server = await startGserve(flags, join(APPS, 'cpu.js') + ':app');
  try {
    // Warmed at full load for as long as fetch-vs-hono does: each app thread is a V8 isolate of its own,
    // so `-w 1 --threads 2` has three to warm up (JIT) where `-w 2` has two, and steady state is
    // what this compares.
    const warmup = { port: server.port, durationMs: params.warmup };
    if (params.loader === 'wrk') await runWrk({ ...warmup, connections: params.concurrency });
    else await load({ ...warmup, concurrency: params.concurrency, pick, keepAlive: true });
    if (params.loader === 'wrk') {
      const r = await runWrk({ port: server.port, durationMs: params.duration, connections: params.concurrency });
      // wrk reports percentiles, not latencies: one round's p50 and p99 travel in `extra`.
      const seconds = r.requests / r.rps;
      return { requests: r.requests, errors: r.failed, seconds, latencies: new Map(), extra: rssAnd(server, r) };
    }
    const result = await load({
      port: server.port,
      concurrency: params.concurrency,
      durationMs: params.duration,
      pick,
      keepAlive: true,
    });
    return { ...result, extra: rssAnd(server, {}) };
  } finally {
    await server.stop();
  }
}

export async function run(options = {}) {
  const params = { ...defaults, ...options };
  const loadBefore = loadavg()[0];
  const pooled = await interleaved(params.rounds, {
    '-w 1 --threads 2': () => measure(['-w', '1', '--threads', '2'], params),
    '-w 2': () => measure(['-w', '2'], params),
    // For reference: one process, one app thread.
    '-w 1': () => measure(['-w', '1'], params),
  });
  const servers = Object.fromEntries(
    Object.entries(pooled).map(([name, r]) => {
      const latencies = [...r.latencies.values()].flat();
      const rssMiB =
        percentile(
          r.extra.map((e) => e.rss),
          50,
        ) /
        2 ** 20;
      // The built-in client's latencies pooled over the rounds, or the median of wrk's per-round figures.
      const latency = (p) =>
        latencies.length > 0
          ? percentile(latencies, p)
          : percentile(
              r.extra.map((e) => e[`p${p}`]),
              50,
            );
      return [
        name,
        {
          rps: r.rps,
          p50: latency(50),
          p99: latency(99),
          rssMiB,
          requests: r.requests,
          errors: r.errors,
        },
      ];
    }),
  );
  const t = servers['-w 1 --threads 2'];
  const p = servers['-w 2'];
  return {
    scenario: 'cpu-bound',
    params,
    // The machine's 1-minute load average before and after: numbers from a busy machine are noisy.
    load: [loadBefore, loadavg()[0]],
    servers,
    summary: `threads/processes: throughput ${(t.rps / p.rps).toFixed(2)}x, memory ${(t.rssMiB / p.rssMiB).toFixed(2)}x (${t.rssMiB.toFixed(0)} MiB vs ${p.rssMiB.toFixed(0)} MiB)`,
  };
}

export function print(result) {
  const { params } = result;
  console.log(
    `cpu-bound: ${params.concurrency} keep-alive clients (${params.loader}), ${params.rounds} x ${params.duration} ms, sha256 over 2.5 MB per request`,
  );
  console.log('server                 req/s       p50       p99   tree RSS MiB  errors');
  for (const [name, s] of Object.entries(result.servers)) {
    console.log(
      `${name.padEnd(18)} ${s.rps.toFixed(0).padStart(9)} ${ms(s.p50).padStart(9)} ${ms(s.p99).padStart(9)} ${s.rssMiB.toFixed(1).padStart(14)} ${String(s.errors).padStart(7)}`,
    );
  }
  console.log(`${result.summary}  (load average ${result.load.map((l) => l.toFixed(1)).join(' -> ')})`);
}

await runIfMain(import.meta.url, defaults, run, print);
