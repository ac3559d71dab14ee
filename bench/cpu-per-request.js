// CPU time per request of one worker process, each server pinned to CPU 0 and wrk to CPU 1: what the
// `node` interface costs beyond node:http, with less noise than req/s (time the machine's other
// tenants take is not counted). Hello, keep-alive, 50 connections, rounds in turn.
//   node bench/cpu-per-request.js [--rounds 8] [--seconds 3] [--only node,fetch,asgi,self] [--path /json] [--express]
// --express: node:cluster and the `node` interface host the Express app of bench/scenarios/express.js instead of the
// hand-written handler, on its route `/users/42`.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWrk, WRK } from './lib/wrk.js';
import { freePort, killPids, processTree, spawnServer, waitFor200, waitGone, which } from './lib/proc.js';
import { median } from './lib/stats.js';
import { numberArg, oneWorkerGserve, setArg } from './lib/args.js';

const ROOT = join(import.meta.dirname, '..');
const APPS = join(ROOT, 'bench/contenders/apps');
const rounds = numberArg('--rounds', 8);
// node:cluster, the reference, is always run; --only picks which of gserve's contenders run beside it.
const only = setArg('--only', ['node', 'self']);
const seconds = numberArg('--seconds', 3);
const express = process.argv.includes('--express');
const pathAt = process.argv.indexOf('--path');
/** `/` answers 13 bytes, `/json` 1 KB (contenders/apps/routes.js). */
const path = pathAt > 0 ? process.argv[pathAt + 1] : express ? '/users/42' : '/';
const nodeApp = join(APPS, express ? 'express-app:app' : 'handler:app');
const pin = which('taskset') && availableParallelism() >= 2;
const onCpu = (cpu, cmd, args) => (pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const gserve = oneWorkerGserve;
const CONTENDERS = [
  {
    id: 'node:cluster (1 worker)',
    args: (p) => [join(ROOT, 'bench/contenders/node-cluster.js'), String(p), '1', 'rr', express ? 'express' : 'node'],
  },
  { id: 'gserve, node interface', only: 'node', args: (p) => gserve(p, [nodeApp]) },
  {
    id: 'gserve, node interface, hardening off',
    only: 'node',
    args: (p) => gserve(p, [nodeApp]),
    env: { GSERVE_BENCH_UNHARDENED: '1' },
  },
  { id: 'gserve, fetch interface', only: 'fetch', args: (p) => gserve(p, [join(APPS, 'fetch-app:app')]) },
  {
    id: 'gserve, asgi interface',
    only: 'asgi',
    args: (p) => gserve(p, ['--interface', 'asgi', join(APPS, 'gateway-apps:asgi')]),
  },
  // gserve's worker without gserve's HTTP layer: the app opens its own node:http server.
  {
    id: 'gserve, app listening itself',
    only: 'self',
    args: () => gserve(0, [join(APPS, 'self-listen.js')]),
    env: (p) => ({ SELF_PORT: String(p) }),
  },
];

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** The one worker process of a server: the descendant that runs the app. */
function workerOf(root) {
  const pids = processTree(root).filter((pid) => pid !== root);
  return pids.find((pid) => {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return cmd.includes('worker/main.js') || cmd.includes('node-cluster.js');
  });
}

const wrk = (port) => runWrk({ port, path, durationMs: seconds * 1000, connections: 50, ...(pin ? { cpu: 1 } : {}) });

async function main() {
  if (!WRK) throw new Error('wrk is not installed (apt-get install -y wrk)');
  console.log(
    `${rounds} rounds of ${seconds} s; ${pin ? 'servers on CPU 0, wrk on CPU 1' : 'not pinned (no taskset, or one CPU)'}`,
  );
  const servers = [];
  try {
    for (const c of CONTENDERS.filter((c) => !c.only || only.has(c.only))) {
      const port = await freePort();
      const [cmd, args] = onCpu(0, process.execPath, c.args(port));
      const env = { ...process.env, ...(typeof c.env === 'function' ? c.env(port) : c.env) };
      const server = spawnServer(cmd, args, { env });
      servers.push({ ...c, port, server });
      await waitFor200(port, { alive: () => !server.exited });
      servers.at(-1).worker = workerOf(server.child.pid);
      await wrk(port); // warm-up
    }
    const perRound = [];
    for (let r = 1; r <= rounds; r++) {
      const row = [];
      for (const s of servers) {
        const before = cpuTicks(s.worker);
        const { requests } = await wrk(s.port);
        row.push(((cpuTicks(s.worker) - before) / ticksPerSecond / requests) * 1e6);
      }
      perRound.push(row);
      console.log(`round ${r}: ${row.map((us, i) => `${servers[i].id} ${us.toFixed(1)} µs`).join(', ')}`);
    }
    console.log("\nCPU per request, median over rounds, and the median of each round's ratio to node:cluster:");
    for (const [i, s] of servers.entries()) {
      const us = median(perRound.map((row) => row[i]));
      const ratio = median(perRound.map((row) => row[i] / row[0]));
      console.log(`  ${s.id.padEnd(40)} ${us.toFixed(1).padStart(6)} µs  ${ratio.toFixed(3)}×`);
    }
  } finally {
    const pids = servers.flatMap((s) => processTree(s.server.child.pid));
    killPids(pids);
    await waitGone(pids);
  }
}

await main();
