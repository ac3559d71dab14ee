// Reload under load: 5 reloads (gserve: SIGHUP to the master; PM2: `pm2 reload`) while a client keeps sending
// requests, each on a new connection; every refused, reset or non-2xx request counts as failed.
import { runIfMain } from '../lib/harness.js';
import { runLoad } from '../lib/loadgen.js';
import { isAlive, sleep } from '../lib/proc.js';

const RELOADS = 5;

/** Waits until none of `before` (the old workers) is still in the server's tree: the reload has finished. */
async function replaced(server, before, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = new Set(server.pids());
    if (![...before].some((pid) => now.has(pid))) return;
    if (Date.now() > deadline) throw new Error(`the old workers were still running ${timeoutMs / 1000}s after the reload`);
    await sleep(20);
  }
}

export const scenario = {
  id: 'reload-under-load',
  title: 'Reload under load: 5 reloads',
  description: `${RELOADS} reloads one after another, each waited for (all old workers gone), under 8 concurrent \`Connection: close\` requests.`,
  reference: 'pm2',
  contenders: ['pm2', 'gserve-async-node'],
  fresh: true,
  rounds: (settings) => (settings.quick ? 1 : 3),
  metrics: [
    { key: 'failed', label: 'failed requests', better: 'lower' },
    { key: 'requests', label: 'requests sent', better: 'higher', ratio: false },
    { key: 'reloadMs', label: 'time per reload', unit: 'ms', better: 'lower' },
  ],
  async measure(contender, ctx) {
    const server = await ctx.start();
    let stop = false;
    try {
      const workersOf = () => server.pids().filter((p) => p !== server.rootPid());
      const gap = ctx.settings.quick ? 200 : 1000;
      const loadDone = (async () => {
        const totals = { requests: 0, failed: 0, errors: {} };
        while (!stop) {
          const r = await runLoad({ port: server.port, durationMs: 250, connections: 8, close: true });
          totals.requests += r.requests;
          totals.failed += r.failed;
          for (const [k, v] of Object.entries(r.errors)) totals.errors[k] = (totals.errors[k] ?? 0) + v;
        }
        return totals;
      })();
      await sleep(gap);
      const t0 = performance.now();
      for (let i = 0; i < RELOADS; i++) {
        const before = new Set(workersOf());
        await server.reload();
        const gone = () => new Error(`${contender.label}: the master exited on the reload signal (this build does not handle it)`);
        await replaced(server, before).catch((err) => {
          throw isAlive(server.rootPid()) ? err : gone();
        });
        if (!isAlive(server.rootPid())) throw gone();
      }
      const reloadMs = (performance.now() - t0) / RELOADS;
      await sleep(gap);
      stop = true;
      const totals = await loadDone;
      if (Object.keys(totals.errors).length) ctx.log(`      ${contender.id} errors: ${JSON.stringify(totals.errors)}`);
      return { failed: totals.failed, requests: totals.requests, reloadMs };
    } finally {
      stop = true;
      await server.stop();
    }
  },
  targets: [
    {
      text: 'reload: 0 failed requests for gserve',
      contender: 'gserve-async-node',
      metric: 'failed',
      atMost: 0,
      ifMissed:
        'A failed request means a connection reached a worker that exited before answering it, or none was accepting ' +
        'for a moment: the new workers must be accepting before the old ones stop, and the old ones must stop accepting ' +
        'and finish what they hold before they exit (the errors by kind are in the run\'s log).',
    },
  ],
};

await runIfMain(import.meta, scenario);
