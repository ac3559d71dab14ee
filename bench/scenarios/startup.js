// Cold start and idle memory, from the same fresh start: the time from spawning the server command to its first
// 200 (polled every 5 ms on fresh connections), then the RSS of the whole server (master or daemon + workers) idle.
import { runIfMain } from '../lib/harness.js';
import { sleep } from '../lib/proc.js';

/** Rounds of a full run (bench/README.md): each round starts every contender afresh, a few seconds each. */
const COLD_START_ROUNDS = 7;

const MEMORY_NOTE =
  "A Node process's floor is about 40 MB RSS (node:cluster's bare primary shows it); what the master adds above it is " +
  'the modules it imports. Importing lazily what only workers or rare commands need (the HTTP engine, interface ' +
  'adapters, docs and schema code) is what brings it down.';

export const scenario = {
  id: 'startup',
  title: 'Cold start and idle memory',
  description:
    'Each round starts the server afresh: cold start is the time from spawning its command (PM2: `pm2 start`, daemon included) ' +
    'to the first 200; then, left idle, the RSS summed over its process tree (PM2: the daemon + its instances; master = the daemon).',
  reference: 'node-cluster',
  contenders: ['node-cluster', 'gserve-async-node', 'pm2', 'nginx', 'gunicorn-sync', 'uvicorn'],
  quickContenders: ['node-cluster', 'gserve-async-node'],
  fresh: true,
  // A cold start is one sample per start, and one start varies by ±15% on a shared 2-core machine: more rounds than a
  // throughput figure (which averages thousands of requests) needs, for a median that holds from run to run.
  rounds: (settings) => (settings.quick ? settings.rounds : Math.max(settings.rounds, COLD_START_ROUNDS)),
  metrics: [
    { key: 'coldMs', label: 'cold start', unit: 'ms', better: 'lower' },
    { key: 'totalMB', label: 'idle RSS, all', unit: 'MB', better: 'lower' },
    { key: 'masterMB', label: 'idle RSS, master', unit: 'MB', better: 'lower' },
    { key: 'processes', label: 'processes', better: 'lower', ratio: false },
  ],
  async measure(contender, ctx) {
    const server = await ctx.start();
    try {
      await sleep(ctx.settings.settleMs);
      return { coldMs: server.coldStartMs, ...ctx.memory(server) };
    } finally {
      await server.stop();
    }
  },
  targets: [
    {
      text: 'idle memory: master ≤ 60 MB RSS',
      contender: 'gserve-async-node',
      metric: 'masterMB',
      atMost: 60,
      ifMissed: MEMORY_NOTE,
    },
    {
      text: "idle memory: no more than PM2's daemon + workers",
      contender: 'gserve-async-node',
      against: 'pm2',
      metric: 'totalMB',
      atMost: 1.0,
      ifMissed: MEMORY_NOTE,
    },
    {
      text: 'cold start to the first 200 ≤ 1.2× node:cluster',
      contender: 'gserve-async-node',
      against: 'node-cluster',
      metric: 'coldMs',
      atMost: 1.2,
      ifMissed:
        'Start-up is the modules the master and each worker import before the first accept: `node --cpu-prof` on the master shows which.',
    },
    {
      text: 'idle memory, master + 2 workers ≤ node:cluster + 15 MB',
      contender: 'gserve-async-node',
      against: 'node-cluster',
      metric: 'totalMB',
      difference: true,
      atMost: 15,
      ifMissed: MEMORY_NOTE,
    },
  ],
};

await runIfMain(import.meta, scenario);
