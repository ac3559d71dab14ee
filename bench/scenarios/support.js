// Shared pieces of the bench scenarios: start/stop gserve and a plain server, a small closed-loop
// load generator that records latency per route, percentiles, and process-tree memory.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor200 } from '../lib/proc.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const APPS = join(ROOT, 'bench/scenarios/apps');

/** Starts a server process that logs `Listening at: http://host:port` on stderr; resolves when ready. */
function startServer(args, { readyLines, readyPattern }) {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`server did not start: ${args.join(' ')}\n${text}`)), 30_000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const early = (code) => fail(new Error(`server exited (${code}) at start: ${args.join(' ')}\n${text}`));
    child.on('exit', early);
    const watch = (chunk) => {
      text += chunk;
      const port = /Listening at: http:\/\/[\d.]+:(\d+)/.exec(text)?.[1];
      const ready = (text.match(readyPattern) ?? []).length;
      if (port && ready >= readyLines) {
        clearTimeout(timer);
        child.off('exit', early);
        // Read on, but keep nothing: the log must not grow in this process during the load.
        child.stderr.off('data', watch).resume();
        resolve({ child, port: Number(port), stop: () => stopServer(child) });
      }
    };
    child.stderr.setEncoding('utf8').on('data', watch);
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/**
 * gserve with the given flags, at its default log level (debug logs lines per request in some
 * classes, which would be measured too); waits for every worker (`-w`) to be forked and for a first
 * 200. The default level does not log each worker's readiness, and need not: a worker takes
 * connections only once its app has loaded (async and thread listen then, sync is dispatched to then).
 */
export async function startGserve(flags, app) {
  const w = flags.indexOf('-w');
  const workers = w >= 0 ? Number(flags[w + 1]) : 1;
  const server = await startServer([join(ROOT, 'bin/gserve'), '-b', '127.0.0.1:0', ...flags, app], {
    readyLines: workers,
    readyPattern: /Booting worker with pid/g,
  });
  await waitFor200(server.port);
  return server;
}

/** The hand-written node:cluster baseline (round-robin scheduling, Node's default on Linux). */
export function startCluster(workers, app) {
  return startServer([join(APPS, 'cluster-server.js'), String(workers), app], {
    readyLines: workers,
    readyPattern: /worker listening/g,
  });
}

/**
 * A closed loop: `concurrency` clients, each sending its next request when the last one is
 * answered, for `durationMs`. `pick(i)` names the path of the i-th request overall.
 */
export async function load({ port, concurrency, durationMs, pick, keepAlive = false }) {
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: concurrency }) : false;
  const latencies = new Map();
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  const until = started + durationMs;
  const one = (path) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) errors++;
          else {
            if (!latencies.has(path)) latencies.set(path, []);
            latencies.get(path).push(performance.now() - t0);
          }
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await one(pick(sent++));
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  if (agent) agent.destroy();
  const done = [...latencies.values()].reduce((n, l) => n + l.length, 0);
  return { requests: done, errors, seconds: elapsed, rps: done / elapsed, latencies };
}

/**
 * Runs each measurement `rounds` times, interleaved (A B C A B C …), so that a load change on a
 * shared machine hits every server alike; returns each name's results pooled over the rounds.
 */
export async function interleaved(rounds, measurements) {
  const pooled = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, measure] of Object.entries(measurements)) {
      const result = await measure();
      const into = (pooled[name] ??= { requests: 0, errors: 0, seconds: 0, latencies: new Map(), extra: [] });
      into.requests += result.requests;
      into.errors += result.errors;
      into.seconds += result.seconds;
      for (const [path, values] of result.latencies) {
        if (!into.latencies.has(path)) into.latencies.set(path, []);
        into.latencies.get(path).push(...values);
      }
      if (result.extra !== undefined) into.extra.push(result.extra);
    }
  }
  for (const p of Object.values(pooled)) p.rps = p.requests / p.seconds;
  return pooled;
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Resident memory of a process and all its descendants, in bytes (Linux /proc). */
export function treeRss(pid) {
  let total = 0;
  const visit = (p) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      for (const task of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
        visit(Number(task));
    } catch {
      // gone, or not Linux
    }
  };
  visit(pid);
  return total;
}

/** Parses `--name value` flags into numbers over the defaults. */
export function flagsOver(defaults, argv = process.argv.slice(2)) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (name === 'json') out.json = true;
    else if (name in defaults) out[name] = typeof defaults[name] === 'string' ? argv[++i] : Number(argv[++i]);
  }
  return out;
}

const isMain = (url) => Boolean(process.argv[1]) && fileURLToPath(url) === resolve(process.argv[1]);

/** A scenario run as a script: flags over its defaults, then a table (or one JSON line with --json). */
export async function runIfMain(url, defaults, run, print) {
  if (!isMain(url)) return;
  const options = flagsOver(defaults);
  const result = await run(options);
  if (options.json) console.log(JSON.stringify(result));
  else print(result);
}
export const ms = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
