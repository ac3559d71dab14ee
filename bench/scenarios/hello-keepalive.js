// Hello, keep-alive: the plain request rate of each server, 50 connections reused for every request.
import { runIfMain } from '../lib/harness.js';
import { ASGI_PATH_NOTE, FETCH_PATH_NOTE } from '../lib/notes.js';

export const THROUGHPUT = [
  { key: 'rps', label: 'req/s', better: 'higher' },
  { key: 'p99', label: 'p99 latency', unit: 'ms', better: 'lower' },
  { key: 'failed', label: 'failed', better: 'lower', ratio: false },
];

const GATEWAY_NOTE =
  "nginx answers `return 200` in C without running any app; 0.8× of its rate allows gserve only 1.25× nginx's CPU " +
  "per request for parsing, the adapter, the app and the write, all in JavaScript. The usual gap is the adapter's " +
  'per-request objects (scope or environ, header lists, events): profile one worker with `--cpu-prof` to see which.';

/** One throughput measurement, keeping only the figures the table shows. */
export async function throughput(server, ctx, options) {
  const r = await ctx.load(server, options);
  return { rps: r.rps, p99: r.p99, failed: r.failed };
}

export const scenario = {
  id: 'hello-keepalive',
  title: 'Hello, keep-alive',
  description: '`GET /` → 13-byte text, 50 keep-alive connections.',
  reference: 'node-cluster',
  contenders: [
    'node-cluster',
    'gserve-async-node',
    'gserve-async-node-unhardened',
    'gserve-async-fetch',
    'gserve-async-asgi',
    'gserve-thread-wsgi',
    'node-cluster-reuseport',
    'pm2',
    'hono-node-server',
    'nginx',
  ],
  quickContenders: [
    'node-cluster',
    'gserve-async-node',
    'gserve-async-node-unhardened',
    'gserve-async-fetch',
    'gserve-async-asgi',
  ],
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/' }),
  targets: [
    {
      text: 'async, `node` interface, keep-alive ≥ 1.0× the hand-written node:cluster server',
      contender: 'gserve-async-node',
      against: 'node-cluster',
      atLeast: 1.0,
      ifMissed:
        "gserve's `node` interface runs node:http in each worker as node:cluster does, so parity is the floor; a shortfall " +
        "beyond the rounds' spread points at per-request work in gserve's node path (logging, counters, heartbeats): " +
        'profile one worker with `--cpu-prof`.',
    },
    {
      text: 'async, `node` interface, keep-alive ≥ 0.97× the same build with hardening off (the checks cost ≤ 3%)',
      contender: 'gserve-async-node',
      against: 'gserve-async-node-unhardened',
      atLeast: 0.97,
      ifMissed:
        "The hardening on the node path is gserve's checks on what llhttp parsed (node-checks.ts) and the watch on " +
        "heads still arriving (node-head-watch.ts, llhttp's kOnExecute hook on every read): profile one worker " +
        'with `--cpu-prof` and compare the two rows.',
    },
    {
      text: 'async, `node` interface, keep-alive ≥ 1.1× PM2',
      contender: 'gserve-async-node',
      against: 'pm2',
      atLeast: 1.1,
      ifMissed:
        "PM2's cluster mode is node:cluster round-robin plus its bookkeeping; with keep-alive the balancing costs little, so gserve's margin over it is its lighter per-request path.",
    },
    {
      text: '`fetch` interface on the own engine, keep-alive ≥ 1.2× the hand-written node:cluster server',
      contender: 'gserve-async-fetch',
      against: 'node-cluster',
      atLeast: 1.2,
      ifMissed: FETCH_PATH_NOTE,
    },
    {
      text: '`asgi` interface on the own engine, keep-alive ≥ 1.0× the hand-written node:cluster server',
      contender: 'gserve-async-asgi',
      against: 'node-cluster',
      atLeast: 1.0,
      ifMissed: ASGI_PATH_NOTE,
    },
    {
      text: "gateway interface (`fetch`) on the own engine ≥ 0.8× nginx's ceiling",
      contender: 'gserve-async-fetch',
      against: 'nginx',
      atLeast: 0.8,
      ifMissed: FETCH_PATH_NOTE,
    },
    {
      text: "gateway interface (`asgi`) on the own engine ≥ 0.8× nginx's ceiling",
      contender: 'gserve-async-asgi',
      against: 'nginx',
      atLeast: 0.8,
      ifMissed: GATEWAY_NOTE,
    },
    {
      text: "gateway interface (`wsgi`, thread class) on the own engine ≥ 0.8× nginx's ceiling",
      contender: 'gserve-thread-wsgi',
      against: 'nginx',
      atLeast: 0.8,
      ifMissed: GATEWAY_NOTE,
    },
  ],
};

await runIfMain(import.meta, scenario);
