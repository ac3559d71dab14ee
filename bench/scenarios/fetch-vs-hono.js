#!/usr/bin/env node
// The fetch fast path against the node interface and @hono/node-server, same machine, same run.
// Each server runs as ONE process (gserve -w 1); wrk drives it with keep-alive connections.
// Run directly: `node bench/scenarios/fetch-vs-hono.js [--duration 10] [--connections 50] [--rounds 3]`.
// Needs `wrk` (apt-get install -y wrk) and a build (`npm run build`).
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const APPS = join(ROOT, 'bench/apps');

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

async function waitForPort(port, child) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise((res) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        res(true);
      }).on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}

function wrk(port, { duration, connections }) {
  return new Promise((res, rej) =>
    execFile('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, `http://127.0.0.1:${port}/`], (err, stdout) => {
      if (err) return rej(err);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
      const total = /(\d+) requests in/.exec(stdout);
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(stdout);
      res({
        rps: rps ? Number(rps[1]) : NaN,
        requests: total ? Number(total[1]) : NaN,
        errors: errors ? errors[0] : null,
      });
    }),
  );
}

/**
 * CPU seconds used so far by a process and its descendants (the gserve master and its worker).
 * Requests per CPU-second is the cost per request, which holds steady when other work shares the
 * machine; requests per wall-clock second does not.
 */
function treeCpuSeconds(pid) {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  const visit = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick; // utime, stime
      for (const child of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
        visit(Number(child));
    } catch {
      // gone, or not Linux
    }
  };
  visit(pid);
  return total;
}

/** gserve with one worker serving `app` (a file of bench/apps). */
const gserveOneWorker = (app) => (port) => [
  join(ROOT, 'bin/gserve'),
  '-w',
  '1',
  '-b',
  `127.0.0.1:${port}`,
  '--log-level',
  'warning',
  `${APPS}/${app}:app`,
];

const TARGETS = [
  {
    name: 'gserve node interface',
    args: gserveOneWorker('hello-node.js'),
  },
  {
    name: 'gserve fetch interface',
    args: gserveOneWorker('hello-fetch.js'),
  },
  {
    name: 'gserve fetch, Hono app',
    args: gserveOneWorker('hello-hono.js'),
  },
  { name: '@hono/node-server, Hono app', args: () => [join(APPS, 'hono-node-server.js')] },
];

async function measure(target, { duration, connections, warmup }) {
  const port = await freePort();
  const child = spawn(process.execPath, target.args(port), {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(port, child);
    await wrk(port, { duration: warmup, connections });
    const cpuBefore = treeCpuSeconds(child.pid);
    const result = await wrk(port, { duration, connections });
    const cpu = treeCpuSeconds(child.pid) - cpuBefore;
    return { ...result, perCpuSecond: cpu > 0 ? result.requests / cpu : NaN };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs every target `rounds` times, interleaved so that machine noise hits all alike; reports medians. */
export async function run({ duration = 10, connections = 50, warmup = 2, rounds = 3 } = {}) {
  const samples = new Map(TARGETS.map((t) => [t.name, []]));
  const cpuSamples = new Map(TARGETS.map((t) => [t.name, []]));
  const errors = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const target of TARGETS) {
      const { rps, perCpuSecond, errors: e } = await measure(target, { duration, connections, warmup });
      samples.get(target.name).push(rps);
      cpuSamples.get(target.name).push(perCpuSecond);
      if (e) errors.set(target.name, e);
    }
  }
  const results = TARGETS.map((t) => ({
    name: t.name,
    rps: median(samples.get(t.name)),
    samples: samples.get(t.name),
    perCpuSecond: median(cpuSamples.get(t.name)),
    errors: errors.get(t.name) ?? null,
  }));
  const rps = Object.fromEntries(results.map((r) => [r.name, r.rps]));
  const perCpu = Object.fromEntries(results.map((r) => [r.name, r.perCpuSecond]));
  const ratios = (by) => ({
    fetchVsNode: by['gserve fetch interface'] / by['gserve node interface'],
    honoOnGserveVsHonoNodeServer: by['gserve fetch, Hono app'] / by['@hono/node-server, Hono app'],
  });
  return { results, ...ratios(rps), perCpuSecond: ratios(perCpu) };
}

export default run;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const out = await run({
    duration: arg('duration', 10),
    connections: arg('connections', 50),
    rounds: arg('rounds', 3),
  });
  for (const r of out.results) {
    console.log(
      `${r.name.padEnd(30)} ${r.rps.toFixed(0).padStart(8)} req/s (median of ${r.samples.map((x) => x.toFixed(0)).join(', ')})` +
        `  ${r.perCpuSecond.toFixed(0).padStart(8)} req per CPU-second${r.errors ? `  (${r.errors})` : ''}`,
    );
  }
  console.log(
    `fetch / node:                       ${out.fetchVsNode.toFixed(2)}x req/s, ${out.perCpuSecond.fetchVsNode.toFixed(2)}x req per CPU-second`,
  );
  console.log(
    `Hono on gserve / @hono/node-server: ${out.honoOnGserveVsHonoNodeServer.toFixed(2)}x req/s, ${out.perCpuSecond.honoOnGserveVsHonoNodeServer.toFixed(2)}x req per CPU-second`,
  );
}
