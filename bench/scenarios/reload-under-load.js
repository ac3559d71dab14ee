// Reload under load: failed requests while a server replaces its workers again and again, for
// gserve's `kill -HUP` against `pm2 reload` of the same app (apps/reload.cjs) in PM2's cluster mode,
// both with 2 workers.
//
//   node bench/scenarios/reload-under-load.js [--reloads 5] [--requests 5000] [--connections 20] [--json]
//
// A bounded client sends at least --requests GETs over --connections keep-alive connections (every
// 10th on a new connection), never retrying, and goes on until the reloads are done; meanwhile the
// server is reloaded --reloads times, each reload waited for (gserve: its "Reloaded" log line; PM2:
// `pm2 reload` returning). A failed request is a refused or reset connection, a cut response, a
// non-200, or no answer within 10 s. PM2 runs with PM2_HOME in a temporary folder and is killed at
// the end (also on Ctrl-C).
//
// Exports run(options) -> { scenario, params, servers: { name: { id, requests, failed, errors, seconds, p99, max } | { id, skipped } }, summary },
// and reloadUnderLoad(options) -> the same as rows, for bench/run.js.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPS, ROOT, ms, percentile, runIfMain, startGserve } from './support.js';

export const defaults = { reloads: 5, requests: 5000, connections: 20 };

const APP = join(APPS, 'reload.cjs');
const PM2 = join(ROOT, 'node_modules/pm2/bin/pm2');
const WORKERS = 2;
const REQUEST_TIMEOUT_MS = 10_000;

const pause = (msecs) => new Promise((r) => setTimeout(r, msecs));

/** gserve -w 2; a reload is SIGHUP to the master, done when it logs "Reloaded". */
async function gserve() {
  const server = await startGserve(['-w', String(WORKERS)], `${APP}:app`);
  let reloaded = 0;
  const waiters = [];
  server.child.stderr.on('data', (chunk) => {
    reloaded += (String(chunk).match(/"msg":"Reloaded: generation/g) ?? []).length;
    for (const w of waiters.splice(0)) w();
  });
  return {
    id: 'gserve',
    name: `gserve -w ${WORKERS}, kill -HUP`,
    port: server.port,
    async reload() {
      const want = reloaded + 1;
      process.kill(server.child.pid, 'SIGHUP');
      while (reloaded < want) await new Promise((r) => waiters.push(r));
    },
    stop: server.stop,
  };
}

const freePort = () =>
  new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });

/** Polls until a GET answers 200. */
async function waitServing(port) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise((done) => {
      const req = request({ host: '127.0.0.1', port, agent: false }, (res) =>
        res.resume().on('end', () => done(res.statusCode === 200)),
      );
      req.on('error', () => done(false)).end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing serving on port ${port}`);
    await pause(100);
  }
}

/** PM2 cluster mode -i 2; a reload is `pm2 reload`, done when the command returns. */
async function pm2() {
  if (!existsSync(PM2)) throw new Error('pm2 is not installed: run `npm install` (it is a dev dependency)');
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), 'gserve-bench-pm2-'));
  const env = { ...process.env, PM2_HOME: home, RELOAD_BENCH_PORT: String(port) };
  const cli = (...args) =>
    new Promise((done, fail) => {
      spawn(process.execPath, [PM2, ...args], { env, stdio: 'ignore' }).on('exit', (code) =>
        code === 0 ? done() : fail(new Error(`pm2 ${args.join(' ')} exited with ${code}`)),
      );
    });
  const stop = async () => {
    spawnSync(process.execPath, [PM2, 'kill'], { env, stdio: 'ignore' });
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await cli('start', APP, '-i', String(WORKERS), '--name', 'reload-bench');
    await waitServing(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    id: 'pm2',
    name: `pm2 cluster -i ${WORKERS}, pm2 reload`,
    port,
    reload: () => cli('reload', 'reload-bench'),
    stop,
  };
}

/** The bounded client: at least `requests` GETs, on until `until` settles; nothing retried. */
async function load({ port, requests, connections, until }) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let untilDone = false;
  void until.finally(() => (untilDone = true));
  const out = { requests: 0, failed: 0, errors: {} };
  const latencies = [];
  let next = 0;
  const one = (i) =>
    new Promise((resolveOne) => {
      const t0 = performance.now();
      const done = (why) => {
        if (why) {
          out.failed++;
          out.errors[why] = (out.errors[why] ?? 0) + 1;
        }
        latencies.push(performance.now() - t0);
        resolveOne();
      };
      const req = request({ host: '127.0.0.1', port, agent: i % 10 === 0 ? false : agent }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200 ? null : `HTTP ${res.statusCode}`));
        res.on('error', (err) => done(err.code ?? err.message));
      });
      req.on('error', (err) => done(err.code ?? err.message));
      // A request that never gets an answer (lost in a dying worker) is a failure, not a hang.
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
  return {
    ...out,
    seconds: (Date.now() - started) / 1000,
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
  };
}

/** options.only: the servers to run, by name (gserve, pm2); the others are reported as skipped. */
export async function run(options = {}) {
  const params = { ...defaults, ...options };
  const servers = {};
  let current = null;
  const interrupted = async () => {
    await current?.stop();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    for (const start of [gserve, pm2]) {
      if (params.only && !params.only.includes(start.name)) {
        servers[start.name] = { id: start.name, skipped: `not run: only ${params.only.join(', ')} asked for` };
        continue;
      }
      try {
        current = await start();
      } catch (err) {
        servers[start.name] = { id: start.name, skipped: err.message };
        continue;
      }
      try {
        const reloading = (async () => {
          for (let n = 0; n < params.reloads; n++) {
            await pause(100); // let the client get going on the new workers
            await current.reload();
          }
        })();
        const result = await load({
          port: current.port,
          requests: params.requests,
          connections: params.connections,
          until: reloading,
        });
        await reloading;
        servers[current.name] = { id: current.id, ...result };
      } finally {
        await current.stop();
        current = null;
      }
    }
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  const summary = Object.entries(servers)
    .map(([name, s]) =>
      s.skipped ? `${name}: skipped (${s.skipped})` : `${name}: ${s.failed} failed of ${s.requests}`,
    )
    .join('; ');
  return { scenario: 'reload-under-load', params, servers, summary };
}

/** For bench/run.js (lib/standalone.js): one row per server, `{ id, label, failed, requests, p99Ms, maxMs, errors }` or `{ id, skipped }`. */
export async function reloadUnderLoad(options = {}) {
  const { servers } = await run(options);
  return Object.entries(servers).map(([label, s]) => ({ ...s, label, p99Ms: s.p99, maxMs: s.max }));
}

export function print(result) {
  const { params } = result;
  console.log(
    `reload-under-load: ${params.reloads} reloads under ${params.connections} keep-alive clients (every 10th request on a new connection), at least ${params.requests} requests`,
  );
  console.log('server                                  requests   failed   seconds       p99       max  errors');
  for (const [name, s] of Object.entries(result.servers)) {
    if (s.skipped) console.log(`${name.padEnd(36)} skipped: ${s.skipped}`);
    else
      console.log(
        `${name.padEnd(36)} ${String(s.requests).padStart(11)} ${String(s.failed).padStart(8)} ${s.seconds.toFixed(1).padStart(9)} ${ms(s.p99).padStart(9)} ${ms(s.max).padStart(9)}  ${JSON.stringify(s.errors)}`,
      );
  }
}

await runIfMain(import.meta.url, defaults, run, print);
