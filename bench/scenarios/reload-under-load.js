#!/usr/bin/env node
// Reload under load: failed requests while a server reloads its workers again and again, for
// gserve's `kill -HUP` against `pm2 reload` of the same app in PM2's cluster mode.
//
//   node bench/scenarios/reload-under-load.js [--reloads 5] [--requests 5000] [--connections 20] [--json]
//
// Each contender serves the same app (reload-under-load.app.cjs) with 2 workers. A bounded client
// sends `requests` GETs over `connections` keep-alive connections (every 10th on a new connection),
// never retrying, and keeps going until the reloads are done; meanwhile the server is reloaded
// `reloads` times, each reload waited for (gserve: its "Reloaded" log line; PM2: `pm2 reload`
// returning). A failed request is a refused or reset connection, a cut response, a non-200, or
// no answer within 10 s.
// PM2 runs with PM2_HOME in a temporary folder and is killed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const APP = join(HERE, 'reload-under-load.app.cjs');
const GSERVE = join(ROOT, 'bin/gserve');
const PM2 = join(ROOT, 'node_modules/pm2/bin/pm2');
const WORKERS = 2;
const REQUEST_TIMEOUT_MS = 10_000;

const freePort = () =>
  new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls until a GET answers 200: the server is up. */
async function waitServing(port, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((done) => {
      const req = request({ host: '127.0.0.1', port, agent: false }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
      });
      req.on('error', () => done(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing serving on port ${port} after ${timeoutMs} ms`);
    await pause(100);
  }
}

/** gserve with 2 workers; reload = SIGHUP to the master, done when it logs "Reloaded". */
async function startGserve(port) {
  const child = spawn(process.execPath, [GSERVE, '-w', String(WORKERS), '-b', `127.0.0.1:${port}`, `${APP}:app`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let reloaded = 0;
  const waiters = [];
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    reloaded += (chunk.match(/"msg":"Reloaded: generation/g) ?? []).length;
    for (const w of waiters.splice(0)) w();
  });
  await waitServing(port);
  return {
    id: 'gserve',
    label: `gserve -w ${WORKERS}, kill -HUP`,
    async reload() {
      const want = reloaded + 1;
      process.kill(child.pid, 'SIGHUP');
      while (reloaded < want) await new Promise((r) => waiters.push(r));
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  };
}

/** PM2 cluster mode with 2 instances; reload = `pm2 reload`, done when the command returns. */
async function startPm2(port) {
  if (!existsSync(PM2)) throw new Error('pm2 is not installed: run `npm install` (it is a dev dependency)');
  const home = mkdtempSync(join(tmpdir(), 'gserve-bench-pm2-'));
  const env = { ...process.env, PM2_HOME: home, RELOAD_BENCH_PORT: String(port) };
  const pm2 = (...args) =>
    new Promise((done, fail) => {
      const child = spawn(process.execPath, [PM2, ...args], { env, stdio: 'ignore' });
      child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`pm2 ${args.join(' ')} exited with ${code}`))));
    });
  const kill = () => {
    spawnSync(process.execPath, [PM2, 'kill'], { env, stdio: 'ignore' });
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await pm2('start', APP, '-i', String(WORKERS), '--name', 'reload-bench');
    await waitServing(port);
  } catch (err) {
    kill();
    throw err;
  }
  return { id: 'pm2', label: `pm2 cluster -i ${WORKERS}, pm2 reload`, reload: () => pm2('reload', 'reload-bench'), stop: async () => kill() };
}

/** The bounded client: at least `requests` GETs, on until `until` settles; nothing retried. */
async function load({ port, requests, connections, until }) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let untilDone = false;
  void until.finally(() => (untilDone = true));
  const out = { requests: 0, failed: 0, errors: {} };
  const fail = (why) => {
    out.failed++;
    out.errors[why] = (out.errors[why] ?? 0) + 1;
  };
  let next = 0;
  const latencies = [];
  const one = (i) =>
    new Promise((resolveOne) => {
      const t0 = performance.now();
      const done = () => {
        latencies.push(performance.now() - t0);
        resolveOne();
      };
      const req = request({ host: '127.0.0.1', port, agent: i % 10 === 0 ? false : agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) fail(`HTTP ${res.statusCode}`);
          done();
        });
        res.on('error', (err) => (fail(err.code ?? err.message), done()));
      });
      req.on('error', (err) => (fail(err.code ?? err.message), done()));
      // A request that never gets an answer (lost in a dying worker) is a failure too, not a hang.
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no answer'), { code: 'TIMEOUT' })));
      req.end();
    });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < requests || !untilDone) {
        await one(next++);
        out.requests++;
      }
    }),
  );
  agent.destroy();
  latencies.sort((x, y) => x - y);
  const p = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
  return { ...out, seconds: (Date.now() - started) / 1000, p99Ms: p(0.99), maxMs: p(1) };
}

/**
 * Runs the scenario for each contender in turn; resolves to one row per contender:
 * `{ id, label, requests, failed, errors: { code: count }, reloads, seconds, p99Ms, maxMs }`, or `{ id, skipped }`.
 */
export async function reloadUnderLoad({ reloads = 5, requests = 5000, connections = 20, contenders = ['gserve', 'pm2'], log = console.log } = {}) {
  const starters = { gserve: startGserve, pm2: startPm2 };
  const rows = [];
  let current = null;
  // Interrupted (Ctrl-C): stop what runs, PM2's daemon included, before leaving.
  const interrupted = async () => {
    await current?.stop();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  for (const id of contenders) {
    const port = await freePort();
    let server;
    try {
      server = current = await starters[id](port);
    } catch (err) {
      log(`reload-under-load: skip ${id}: ${err.message}`);
      rows.push({ id, skipped: err.message });
      continue;
    }
    try {
      const reloading = (async () => {
        for (let n = 0; n < reloads; n++) {
          await pause(100); // let the client get going on the new workers
          await server.reload();
        }
      })();
      const result = await load({ port, requests, connections, until: reloading });
      await reloading;
      const row = { id, label: server.label, reloads, ...result };
      log(`reload-under-load: ${row.label}: ${row.failed} failed of ${row.requests} requests during ${reloads} reloads (${row.seconds.toFixed(1)} s, p99 ${row.p99Ms} ms, max ${row.maxMs} ms)${row.failed ? ' ' + JSON.stringify(row.errors) : ''}`);
      rows.push(row);
    } finally {
      current = null;
      await server.stop();
    }
  }
  process.off('SIGINT', interrupted);
  process.off('SIGTERM', interrupted);
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const rows = await reloadUnderLoad({ reloads: opt('reloads', 5), requests: opt('requests', 5000), connections: opt('connections', 20) });
  if (args.includes('--json')) console.log(JSON.stringify(rows, null, 2));
}
