// The cost of gserve's request counting: the same app, one worker, with the counters off
// (`--control-socket off`, no `--metrics-bind`: nothing reads them, so workers skip them) and on
// (`--metrics-bind`, with a scrape every second during the load, as a busy Prometheus would).
// Rounds alternate off/on so that drift on the shared machine hits both alike.
//
//   node bench/scenarios/metrics-overhead.js [--rounds N] [--seconds S] [--connections C] [--app MODULE:ATTR]
//
// Exports metricsOverhead(options) -> { app, loader, rounds, off: [rps...], on: [rps...], offMedian, onMedian, costPercent,
// recordNs, recordSharePercent } and recordCostNs() (the counting alone, measured in-process).
// Uses wrk when installed, else a small keep-alive load loop in this process. Needs `npm run build`.
import { spawn, spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/gserve');
const WRK = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim() || null;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** Starts gserve and resolves once its worker is ready, with the port it listens on. */
function startServer(app, extra) {
  const args = [BIN, '-b', '127.0.0.1:0', '--log-level', 'debug', ...extra, app];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolveStart, reject) => {
    let port = null;
    let metrics = null;
    let buffer = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      buffer += chunk;
      for (;;) {
        const nl = buffer.indexOf('\n');
        if (nl < 0) break;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let msg = '';
        try {
          msg = JSON.parse(line).msg ?? '';
        } catch {
          continue;
        }
        const listening = /^Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(msg);
        if (listening) port = Number(listening[1]);
        if (msg.startsWith('Metrics at: ')) metrics = msg.slice('Metrics at: '.length);
        if (msg.startsWith('Worker ready')) {
          child.stderr.resume();
          resolveStart({ port, metrics, stop: () => stopServer(child) });
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`gserve exited (${code}) before its worker was ready`)));
  });
}

function stopServer(child) {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.removeAllListeners('exit');
    child.on('exit', () => done());
    child.kill('SIGINT');
  });
}

function runWrk(port, seconds, connections) {
  return new Promise((done, reject) => {
    const child = spawn(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      m ? done(Number(m[1])) : reject(new Error(`could not read wrk's output: ${out.slice(0, 200)}`));
    });
  });
}

/** Keep-alive requests on `connections` sockets for `seconds`; requests per second. */
async function runBuiltin(port, seconds, connections) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const one = () =>
    new Promise((ok, fail) => {
      request({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume().on('end', ok))
        .on('error', fail)
        .end();
    });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < deadline) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  return done / ((Date.now() - started) / 1000);
}

async function measure(app, extra, opts) {
  const server = await startServer(app, extra);
  let scraper = null;
  try {
    if (server.metrics) {
      scraper = setInterval(() => {
        request(server.metrics, (res) => res.resume())
          .on('error', () => {})
          .end();
      }, 1000);
    }
    // A short warm-up so the JIT has seen the request path.
    await runBuiltin(server.port, 1, 10);
    return WRK
      ? await runWrk(server.port, opts.seconds, opts.connections)
      : await runBuiltin(server.port, opts.seconds, opts.connections);
  } finally {
    if (scraper) clearInterval(scraper);
    await server.stop();
  }
}

/**
 * The counting alone, in this process: nanoseconds per WorkerStats.record() call (the work the
 * worker adds per response when the counters are on). Immune to the noise of a shared machine.
 */
export async function recordCostNs(calls = 2_000_000) {
  const { WorkerStats } = await import(join(ROOT, 'dist/worker/stats.js'));
  const { Socket } = await import('node:net');
  const stats = new WorkerStats(null, true);
  const exchanges = Array.from({ length: 50 }, () => {
    const socket = new Socket();
    return {
      method: 'GET',
      url: '/',
      httpVersion: '1.1',
      status: 200,
      bodyBytes: 13,
      startedAt: performance.now(),
      socket,
      requestHeader: () => undefined,
      responseHeader: () => undefined,
    };
  });
  const runs = [];
  for (let run = 0; run < 5; run++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) stats.record(exchanges[i % 50]);
    runs.push(Number(process.hrtime.bigint() - t0) / calls);
  }
  stats.stop();
  return median(runs);
}

export async function metricsOverhead({
  rounds = 3,
  seconds = 5,
  connections = 50,
  app = 'examples/hello/app:app',
  log = () => {},
} = {}) {
  const off = [];
  const on = [];
  for (let round = 0; round < rounds; round++) {
    off.push(await measure(app, ['--control-socket', 'off'], { seconds, connections }));
    on.push(await measure(app, ['--control-socket', 'off', '--metrics-bind', '127.0.0.1:0'], { seconds, connections }));
    log(`round ${round + 1}: off ${off.at(-1).toFixed(0)} req/s, on ${on.at(-1).toFixed(0)} req/s`);
  }
  const offMedian = median(off);
  const onMedian = median(on);
  const recordNs = await recordCostNs();
  return {
    app,
    loader: WRK ? 'wrk' : 'builtin',
    rounds,
    seconds,
    connections,
    off,
    on,
    offMedian,
    onMedian,
    costPercent: ((offMedian - onMedian) / offMedian) * 100,
    recordNs,
    /** The counting's share of one request's time at the "off" rate. */
    recordSharePercent: (recordNs / (1e9 / offMedian)) * 100,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : fallback;
  };
  const result = await metricsOverhead({
    rounds: Number(arg('rounds', 3)),
    seconds: Number(arg('seconds', 5)),
    connections: Number(arg('connections', 50)),
    app: arg('app', 'examples/hello/app:app'),
    log: (line) => console.log(line),
  });
  console.log(
    `${result.app} (${result.loader}, ${result.connections} connections, ${result.rounds}×${result.seconds}s): ` +
      `metrics off ${result.offMedian.toFixed(0)} req/s, on ${result.onMedian.toFixed(0)} req/s, cost ${result.costPercent.toFixed(1)}%; ` +
      `counting alone ${result.recordNs.toFixed(0)} ns/request = ${result.recordSharePercent.toFixed(2)}% of a request at the "off" rate`,
  );
}
