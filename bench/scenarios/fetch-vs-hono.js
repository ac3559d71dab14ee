#!/usr/bin/env node
// The fetch fast path against the node interface and @hono/node-server, same machine, same run.
// Each server runs as ONE process (gserve -w 1); wrk drives it with keep-alive connections.
// Run directly: `node bench/scenarios/fetch-vs-hono.js [--duration 10] [--connections 50] [--rounds 3]`.
// Needs `wrk` (apt-get install -y wrk) and a build (`npm run build`).
import { execFile, spawn } from 'node:child_process';
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
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(stdout);
      res({ rps: rps ? Number(rps[1]) : NaN, errors: errors ? errors[0] : null });
    }),
  );
}

const TARGETS = [
  { name: 'gserve node interface', args: (port) => [join(ROOT, 'bin/gserve'), '-w', '1', '-b', `127.0.0.1:${port}`, '--log-level', 'warning', `${APPS}/hello-node.js:app`] },
  { name: 'gserve fetch interface', args: (port) => [join(ROOT, 'bin/gserve'), '-w', '1', '-b', `127.0.0.1:${port}`, '--log-level', 'warning', `${APPS}/hello-fetch.js:app`] },
  { name: 'gserve fetch, Hono app', args: (port) => [join(ROOT, 'bin/gserve'), '-w', '1', '-b', `127.0.0.1:${port}`, '--log-level', 'warning', `${APPS}/hello-hono.js:app`] },
  { name: '@hono/node-server, Hono app', args: () => [join(APPS, 'hono-node-server.js')] },
];

async function measure(target, { duration, connections, warmup }) {
  const port = await freePort();
  const child = spawn(process.execPath, target.args(port), { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitForPort(port, child);
    await wrk(port, { duration: warmup, connections });
    return await wrk(port, { duration, connections });
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs every target `rounds` times, interleaved so that machine noise hits all alike; reports medians. */
export async function run({ duration = 10, connections = 50, warmup = 2, rounds = 3 } = {}) {
  const samples = new Map(TARGETS.map((t) => [t.name, []]));
  const errors = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const target of TARGETS) {
      const { rps, errors: e } = await measure(target, { duration, connections, warmup });
      samples.get(target.name).push(rps);
      if (e) errors.set(target.name, e);
    }
  }
  const results = TARGETS.map((t) => ({ name: t.name, rps: median(samples.get(t.name)), samples: samples.get(t.name), errors: errors.get(t.name) ?? null }));
  const byName = Object.fromEntries(results.map((r) => [r.name, r.rps]));
  return {
    results,
    fetchVsNode: byName['gserve fetch interface'] / byName['gserve node interface'],
    honoOnGserveVsHonoNodeServer: byName['gserve fetch, Hono app'] / byName['@hono/node-server, Hono app'],
  };
}

export default run;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const out = await run({ duration: arg('duration', 10), connections: arg('connections', 50), rounds: arg('rounds', 3) });
  for (const r of out.results) console.log(`${r.name.padEnd(30)} ${r.rps.toFixed(0).padStart(8)} req/s (median of ${r.samples.map((x) => x.toFixed(0)).join(', ')})${r.errors ? `  (${r.errors})` : ''}`);
  console.log(`fetch / node:                          ${out.fetchVsNode.toFixed(2)}x`);
  console.log(`Hono on gserve / @hono/node-server:    ${out.honoOnGserveVsHonoNodeServer.toFixed(2)}x`);
}
