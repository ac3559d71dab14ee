// Head-of-line blocking: one request in ten blocks its worker for 50 ms. A server that hands new connections
// only to idle workers (gserve's sync class, Gunicorn's sync) keeps the fast requests off the blocked worker;
// node:cluster's round-robin queues them behind it. Measured: the p99 latency of the fast requests only.
import { runIfMain } from '../lib/harness.js';
import { percentile } from '../lib/stats.js';
import { WORKERS } from '../contenders/index.js';

export const scenario = {
  id: 'head-of-line',
  title: 'Head-of-line: 1 request in 10 blocks for 50 ms',
  description: 'Every 10th request is `GET /slow` (50 ms of blocked event loop), the rest `GET /`; `Connection: close`, 2 at a time (one per worker: a load the workers can carry, so waiting comes from where requests are placed, not from saturation); built-in load generator (it tells fast from slow).',
  reference: 'node-cluster',
  contenders: ['node-cluster', 'gserve-sync-node', 'gserve-async-node', 'gunicorn-sync'],
  metrics: [
    { key: 'fastP99', label: 'fast p99', unit: 'ms', better: 'lower' },
    { key: 'fastP50', label: 'fast p50', unit: 'ms', better: 'lower' },
    { key: 'rps', label: 'req/s', better: 'higher' },
    { key: 'failed', label: 'failed', better: 'lower', ratio: false },
  ],
  async measure(server, ctx) {
    const r = await ctx.load(server, { close: true, connections: WORKERS, pathFor: (seq) => (seq % 10 === 9 ? '/slow' : '/') });
    const fast = r.latencies['/'] ?? [];
    return { fastP99: percentile(fast, 99), fastP50: percentile(fast, 50), rps: r.rps, failed: r.failed };
  },
  targets: [
    {
      text: 'head-of-line: fast-request p99 for `sync` ≤ 0.5× node:cluster',
      contender: 'gserve-sync-node',
      against: 'node-cluster',
      atMost: 0.5,
      ifMissed:
        'The sync class wins only if the master hands a connection to an idle worker and never to the one running ' +
        'the 50 ms request; a miss means connections still queue behind a busy worker (or the hand-off itself costs ' +
        'more than the wait it saves): check the idle-worker queue in the master.',
    },
  ],
};

await runIfMain(import.meta, scenario);
