// CPU-bound: ~2 ms of JavaScript per request. One process with two threads against two processes: how much of the
// throughput the thread class keeps, and what it saves in memory.
import { runIfMain } from '../lib/harness.js';

export const scenario = {
  id: 'cpu-bound',
  title: 'CPU-bound: `-w 1 --threads 2` against `-w 2`',
  description: '`GET /cpu` (≈2 ms of CPU per request, the `node` handler), 8 keep-alive connections; RSS summed over master and workers right after the load.',
  reference: 'gserve-async-node',
  contenders: ['gserve-async-node', 'gserve-thread-w1t2', 'gserve-async-w1'],
  metrics: [
    { key: 'rps', label: 'req/s', better: 'higher' },
    { key: 'totalMB', label: 'total RSS', unit: 'MB', better: 'lower' },
    { key: 'failed', label: 'failed', better: 'lower', ratio: false },
  ],
  async measure(server, ctx) {
    const r = await ctx.load(server, { path: '/cpu', connections: 8 });
    return { rps: r.rps, totalMB: ctx.memory(server).totalMB, failed: r.failed };
  },
};

await runIfMain(import.meta, scenario);
