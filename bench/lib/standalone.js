// Standalone scenario scripts, written beside the features they measure (issues #3, #4, #5 and #8), plug into the
// harness here. Each keeps its own runner (its own servers, load and interleaving); an adapter calls that runner
// with the run's rounds and seconds and turns its result into the harness's rows, so its figures land in the
// same doc, with ratios and targets. A script that exports `scenario` needs no adapter.

import { FETCH_PATH_NOTE } from './notes.js';

/** A script restarts its servers every round: in a quick run one round keeps the whole run under two minutes. */
const roundsFor = (settings) => (settings.quick ? 1 : settings.rounds);

const row = (id, label, median, extra = {}) => ({ id, label, status: 'ok', rounds: [], median, ...extra });
const skipped = (id, label, reason) => ({ id, label, status: 'skipped', reason, rounds: [] });

/** Metadata and result conversion for each known standalone script, by scenario id. */
const ADAPTERS = {
  'head-of-line': {
    title: 'Head-of-line: 1 request in 10 blocks for 50 ms',
    description:
      'Every 10th request blocks its worker for 50 ms; p99 of the other, fast requests (`bench/scenarios/head-of-line.js`, one client per worker).',
    reference: 'node:cluster',
    metrics: [
      { key: 'fastP99', label: 'fast p99', unit: 'ms', better: 'lower' },
      { key: 'fastP50', label: 'fast p50', unit: 'ms', better: 'lower' },
      { key: 'slowP99', label: 'slow p99', unit: 'ms', better: 'lower' },
      { key: 'rps', label: 'req/s', better: 'higher' },
      { key: 'failed', label: 'failed', better: 'lower', ratio: false },
    ],
    async collect(mod, settings) {
      const r = await mod.run({ rounds: roundsFor(settings), duration: settings.durationMs });
      return Object.entries(r.servers).map(([name, s]) =>
        row(name, name, { fastP99: s.fastP99, fastP50: s.fastP50, slowP99: s.slowP99, rps: s.rps, failed: s.errors }),
      );
    },
    targets: [
      {
        text: 'head-of-line: fast-request p99 for `sync` ≤ 0.5× node:cluster',
        contender: 'gserve sync',
        against: 'node:cluster',
        atMost: 0.5,
        ifMissed:
          'The sync class wins only if the master hands a connection to an idle worker and never to the one running ' +
          'the 50 ms request; a miss means connections still queue behind a busy worker, or the hand-off costs more ' +
          'than the wait it saves: look at the dispatch queue in the master (src/master/dispatch.ts).',
      },
    ],
  },
  'cpu-bound': {
    title: 'CPU-bound: `-w 1 --threads 2` against `-w 2`',
    description:
      'A CPU-heavy handler (sha256 per request), 8 keep-alive clients after 2 s of warm-up at the same load; RSS of the whole process tree at the end of the load (`bench/scenarios/cpu-bound.js`).',
    reference: '-w 2',
    metrics: [
      { key: 'rps', label: 'req/s', better: 'higher' },
      { key: 'totalMB', label: 'total RSS', unit: 'MB', better: 'lower' },
      { key: 'p99', label: 'p99 latency', unit: 'ms', better: 'lower' },
      { key: 'failed', label: 'failed', better: 'lower', ratio: false },
    ],
    async collect(mod, settings) {
      const r = await mod.run({
        rounds: roundsFor(settings),
        duration: settings.durationMs,
        warmup: settings.quick ? 500 : 2_000,
        loader: settings.loader,
      });
      return Object.entries(r.servers).map(([name, s]) =>
        row(name, `gserve ${name}`, { rps: s.rps, totalMB: s.rssMiB, p99: s.p99, failed: s.errors }),
      );
    },
    targets: [
      {
        text: 'CPU-bound: `-w 1 --threads 2` ≥ 0.9× the throughput of `-w 2`',
        contender: '-w 1 --threads 2',
        against: '-w 2',
        atLeast: 0.9,
        ifMissed:
          'Each app thread is a V8 isolate of its own: three warm up their JIT where `-w 2` has two, and the ' +
          "worker's main thread spends about 0.13 ms of CPU per request (half of it in write(2)) on the cores " +
          'the app threads want. Per-thread CPU from /proc/<pid>/task shows which (docs/worker-classes.md).',
      },
      {
        text: 'CPU-bound: `-w 1 --threads 2` uses less RSS than `-w 2`',
        contender: '-w 1 --threads 2',
        against: '-w 2',
        metric: 'totalMB',
        atMost: 1.0,
      },
    ],
  },
  'reload-under-load': {
    title: 'Reload under load',
    description:
      'gserve `kill -HUP` against `pm2 reload`, 5 reloads each waited for, under keep-alive load (`bench/scenarios/reload-under-load.js`). ' +
      "A quick run makes 2 reloads of gserve alone: PM2's run can take over 10 s, as a request it drops counts as failed only after its 10 s time-out.",
    reference: 'pm2',
    metrics: [
      { key: 'failed', label: 'failed requests', better: 'lower' },
      { key: 'requests', label: 'requests sent', better: 'higher', ratio: false },
      { key: 'p99', label: 'p99 latency', unit: 'ms', better: 'lower' },
      { key: 'max', label: 'max latency', unit: 'ms', better: 'lower' },
    ],
    async collect(mod, settings) {
      const rows = await mod.reloadUnderLoad({
        reloads: settings.quick ? 2 : 5,
        requests: settings.quick ? 1000 : 5000,
        only: settings.quick ? ['gserve'] : null,
        log: () => {},
      });
      return rows.map((r) =>
        r.skipped
          ? skipped(r.id, r.id, r.skipped)
          : row(
              r.id,
              r.label,
              { failed: r.failed, requests: r.requests, p99: r.p99Ms, max: r.maxMs },
              { errors: r.errors },
            ),
      );
    },
    targets: [
      {
        text: 'reload: 0 failed requests for gserve',
        contender: 'gserve',
        metric: 'failed',
        atMost: 0,
        ifMissed:
          'A failed request means a connection reached a worker that exited before answering it, or none was ' +
          'accepting for a moment: new workers must be accepting before the old ones stop, and the old ones must stop ' +
          'accepting and finish what they hold (including idle keep-alive connections they close) before they exit.',
      },
    ],
  },
  'fetch-vs-hono': {
    title: '`fetch` hello: the same Hono app',
    description:
      'One worker process each, hello over 50 keep-alive connections, driven by wrk (`bench/scenarios/fetch-vs-hono.js`).',
    reference: '@hono/node-server, Hono app',
    metrics: [
      { key: 'rps', label: 'req/s', better: 'higher' },
      { key: 'perCpuSecond', label: "requests per second of the server's CPU", better: 'higher' },
    ],
    needsWrk: true,
    async collect(mod, settings) {
      const seconds = Math.max(1, Math.round(settings.durationMs / 1000));
      const r = await mod.run({ duration: seconds, warmup: settings.quick ? 1 : 2, rounds: roundsFor(settings) });
      return r.results.map((x) =>
        row(
          x.name,
          x.name,
          { rps: x.rps, perCpuSecond: x.perCpuSecond },
          { rounds: x.samples.map((rps) => ({ rps })) },
        ),
      );
    },
    targets: [
      {
        text: '`fetch` interface ≥ 1.3× @hono/node-server with the same Hono app',
        contender: 'gserve fetch, Hono app',
        against: '@hono/node-server, Hono app',
        atLeast: 1.3,
        ifMissed: FETCH_PATH_NOTE,
      },
    ],
  },
  'metrics-overhead': {
    title: "Metrics overhead: gserve's request counters off and on",
    description:
      'One worker, hello over keep-alive; counters off, then on with a scrape every second (`bench/scenarios/metrics-overhead.js`).',
    reference: 'off',
    quick: false,
    metrics: [{ key: 'rps', label: 'req/s', better: 'higher' }],
    async collect(mod, settings) {
      const seconds = Math.max(1, Math.round(settings.durationMs / 1000));
      const r = await mod.metricsOverhead({ rounds: roundsFor(settings), seconds });
      return [
        row('off', 'gserve -w 1, counters off', { rps: r.offMedian }, { rounds: r.off.map((rps) => ({ rps })) }),
        row(
          'on',
          'gserve -w 1, counters on, scraped every second',
          { rps: r.onMedian },
          { rounds: r.on.map((rps) => ({ rps })) },
        ),
      ];
    },
  },
};

/** The scenario for a standalone script's module, or null when no adapter knows it. */
export function adaptStandalone(id, mod) {
  const adapter = ADAPTERS[id];
  if (!adapter) return null;
  return {
    id,
    ...adapter,
    rounds: adapter.rounds ?? roundsFor,
    description: `${adapter.description} Figures as the script computes them over its own interleaved rounds.`,
    collect: (settings) => adapter.collect(mod, settings),
  };
}
