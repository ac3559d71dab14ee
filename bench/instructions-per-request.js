// Instructions per request of one worker process, counted by valgrind's callgrind: the same figure for the same
// build whatever else the machine is doing, so a change of 1% shows where req/s and CPU time drown it in noise.
// Hello, keep-alive, 10 connections sending one request at a time, samples taken after a warm-up.
// What a worker does by the clock (timers: gserve's heartbeat and its once-a-second stats report) is counted apart,
// over an idle spell, and taken out: under valgrind a request takes 40 times as long, so per request that work
// weighed 40 times what it does at full speed (about 1,900 instructions per request, against 45 there).
//   node bench/instructions-per-request.js [--only node,unhardened,fetch,asgi] [--requests 10000] [--samples 3] [--warm 30000]
//     [--functions 40] [--keep]
// --functions N: where the instructions go, by function (JavaScript ones named from V8's perf map), the N largest per
// contender and the N largest differences from node:cluster. V8 then writes its map and keeps frames for interpreted
// code, which adds a few percent to every count: compare the totals of runs without it.
// --keep: the run's folder stays, with every dump (NAME.PID.N) and, with --functions, V8's perf maps (perf-PID.map), and
// its path is printed: `callgrind_annotate --tree=caller DUMP` then says which functions call a hot one (a megamorphic
// load, a builtin), their addresses named by the map of the same PID.
// Needs valgrind (apt-get install -y valgrind). Each server runs 30 to 50 times slower under it: a run takes minutes.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killPids, processTree, spawnServer, waitFor200, waitGone, which } from './lib/proc.js';
import { median } from './lib/stats.js';
import { numberArg, oneWorkerGserve, setArg } from './lib/args.js';

const ROOT = join(import.meta.dirname, '..');
const APPS = join(ROOT, 'bench/contenders/apps');
const requests = numberArg('--requests', 10_000);
const samples = numberArg('--samples', 3);
const warm = numberArg('--warm', 30_000);
const only = setArg('--only', ['node', 'unhardened']);
const functions = numberArg('--functions', 0);
const keep = process.argv.includes('--keep');
/** V8 writes /tmp/perf-PID.map, naming the code it compiles (valgrind sees only its addresses). */
const PERF_MAP_FLAGS = '--perf-basic-prof --interpreted-frames-native-stack';

// --keep-alive 60: a dump stops the worker for seconds, longer than the 2 s default an idle connection is kept.
const gserve = (port, app, ...flags) => oneWorkerGserve(port, ['--keep-alive', '60', ...flags, app]);
const CONTENDERS = [
  { id: 'node:cluster (1 worker)', args: (p) => [join(ROOT, 'bench/contenders/node-cluster.js'), String(p), '1'] },
  { id: 'gserve, node interface', only: 'node', args: (p) => gserve(p, join(APPS, 'handler:app')) },
  {
    id: 'gserve, node interface, hardening off',
    only: 'unhardened',
    args: (p) => gserve(p, join(APPS, 'handler:app')),
    env: { GSERVE_BENCH_UNHARDENED: '1' },
  },
  { id: 'gserve, fetch interface', only: 'fetch', args: (p) => gserve(p, join(APPS, 'fetch-app:app')) },
  {
    id: 'gserve, asgi interface',
    only: 'asgi',
    args: (p) => gserve(p, join(APPS, 'gateway-apps:asgi'), '--interface', 'asgi'),
  },
];

/**
 * `count` keep-alive requests over 10 connections, one at a time on each; resolves when all are answered. A
 * connection the server closes (its keep-alive timeout, while a dump stopped it) is opened again.
 */
function load(port, count) {
  const head = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n`);
  let left = count;
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      let done = false;
      const next = () => {
        if (left-- <= 0) {
          done = true;
          return void socket.end(resolve);
        }
        socket.write(head);
      };
      socket.on('connect', next);
      socket.on('error', (err) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
      // The request on its way when the server closed is sent again.
      socket.on('close', () => {
        if (done) return;
        left++;
        one().then(resolve, reject);
      });
      socket.setEncoding('latin1').on('data', (chunk) => {
        text += chunk;
        for (let end; (end = text.indexOf('\r\n\r\n')) >= 0; ) {
          const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
          if (text.length < end + 4 + length) break;
          text = text.slice(end + 4 + length);
          next();
        }
      });
    });
  return Promise.all(Array.from({ length: 10 }, one));
}

/**
 * What the worker ran for the requests of one dump: its total, less the garbage collector and the other threads
 * (V8's compiler and GC helpers), whose share depends on when they happen to run more than on the request path.
 */
function mutatorInstructions(file) {
  const total = Number(/^totals: (\d+)/m.exec(readFileSync(file, 'latin1'))[1]);
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  let aside = 0;
  for (const line of annotated.split('\n')) {
    const count = /^\s*([\d,]+) /.exec(line);
    if (count && /start_thread \[|Heap::CollectGarbage\(/.test(line)) aside += Number(count[1].replaceAll(',', ''));
  }
  return total - aside;
}

/** Has the worker write its counts so far to a file of their own, and start again from 0. */
const control = (dir, pid) => spawnSync('callgrind_control', [`--vgdb-prefix=${join(dir, 'vgdb')}`, '-d', String(pid)]);

function copyIfThere(from, to) {
  try {
    copyFileSync(from, to);
  } catch {
    // no map: V8 wrote none for that process (run without --functions)
  }
}

async function measure(contender, dir) {
  const port = await freePort();
  const out = join(dir, contender.only ?? 'reference');
  const server = spawnServer(
    'valgrind',
    [
      '--tool=callgrind',
      '--smc-check=all-non-file', // V8 writes the code it runs
      '--trace-children=yes',
      `--callgrind-out-file=${out}.%p`,
      // Its pipes (callgrind_control talks through them) go into the run's folder, removed at the end.
      `--vgdb-prefix=${join(dir, 'vgdb')}`,
      process.execPath,
      ...contender.args(port),
    ],
    {
      env: {
        ...process.env,
        ...contender.env,
        ...(functions > 0 ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${PERF_MAP_FLAGS}` } : {}),
      },
    },
  );
  let pids = [];
  try {
    await waitFor200(port, { timeoutMs: 300_000, alive: () => !server.exited });
    const worker = processTree(server.child.pid)
      .slice(1)
      .find((pid) => /worker\/main\.js|node-cluster\.js/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1')));
    await load(port, warm);
    const taken = [];
    // Sample 0 is thrown away: the first after the warm-up reads several percent high, on every contender.
    for (let i = 0; i <= samples; i++) {
      control(dir, worker); // counts from here
      const started = performance.now();
      await load(port, requests);
      const ms = performance.now() - started;
      control(dir, worker);
      if (i > 0) taken.push({ instructions: mutatorInstructions(`${out}.${worker}.${2 * i + 2}`), ms });
    }
    // The clock's share: an idle spell as long as a sample (its connections closed).
    control(dir, worker);
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, median(taken.map((t) => t.ms))));
    const idleMs = performance.now() - started;
    control(dir, worker);
    const perMs = mutatorInstructions(`${out}.${worker}.${2 * samples + 4}`) / idleMs;
    pids = processTree(server.child.pid);
    return {
      perRequest: taken.map((t) => (t.instructions - perMs * t.ms) / requests),
      clockShare: median(taken.map((t) => (perMs * t.ms) / requests)),
      byFunction: functions > 0 ? byFunction(`${out}.${worker}.${2 * samples + 2}`, `/tmp/perf-${worker}.map`) : null,
    };
  } finally {
    pids = [...new Set([...pids, ...processTree(server.child.pid)])];
    killPids(pids);
    await waitGone(pids);
    for (const pid of pids) {
      const map = `/tmp/perf-${pid}.map`;
      if (keep) copyIfThere(map, join(dir, `perf-${pid}.map`));
      rmSync(map, { force: true });
    }
  }
}

/**
 * Each function's own instructions per request in one sample's dump (the last), its JavaScript code named from the
 * perf map. Unlike the totals, this counts the functions of every thread (V8's compiler and GC helpers among them).
 */
function byFunction(file, mapFile) {
  const map = readFileSync(mapFile, 'latin1')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [start, size, ...name] = line.split(' ');
      return {
        start: Number.parseInt(start, 16),
        end: Number.parseInt(start, 16) + Number.parseInt(size, 16),
        name: name.join(' '),
      };
    })
    .sort((a, b) => a.start - b.start);
  const named = (address) => {
    let lo = 0;
    let hi = map.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (map[mid].start <= address) lo = mid + 1;
      else hi = mid - 1;
    }
    const hit = map[hi];
    // `JS:*'name file:line`: the marks before the name say which tier compiled it; the tiers of one function add up.
    return hit && address < hit.end ? hit.name.replace(/^JS:[*~^+]?'?/, '') : 'JIT code without a name';
  };
  const annotated = execFileSync('callgrind_annotate', ['--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const total = Number(/^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/m.exec(annotated)?.[1].replaceAll(',', '') ?? 0);
  const self = new Map();
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!m || /PROGRAM TOTALS/.test(m[2])) continue;
    const count = Number(m[1].replaceAll(',', ''));
    // A dump taken mid-run charges the frames still on the stack with all below them: not a function's own.
    if (count > total / 2 || /start_thread|[ :]clone /.test(m[2])) continue;
    const address = /\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(m[2]);
    const name = address ? named(Number.parseInt(address[1], 16)) : m[2].replace(/ \[.*\]$/, '').replace(/^.*?:/, '');
    self.set(name, (self.get(name) ?? 0) + count / requests);
  }
  return self;
}

function printFunctions(rows) {
  const top = (entries) => entries.slice(0, functions);
  const line = (n, name) => `  ${String(Math.round(n)).padStart(7)}  ${name.slice(0, 120)}`;
  for (const r of rows) {
    console.log(`\n${r.id}: the ${functions} functions that run the most instructions per request, their own`);
    for (const [name, n] of top([...r.byFunction].sort((a, b) => b[1] - a[1]))) console.log(line(n, name));
  }
  const reference = rows[0].byFunction;
  for (const r of rows.slice(1)) {
    const names = new Set([...reference.keys(), ...r.byFunction.keys()]);
    const diff = [...names].map((name) => [name, (r.byFunction.get(name) ?? 0) - (reference.get(name) ?? 0)]);
    console.log(`\n${r.id} against ${rows[0].id}: the ${functions} largest differences`);
    for (const [name, n] of top(diff.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])))) console.log(line(n, name));
  }
}

async function main() {
  for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate'])
    if (!which(tool)) throw new Error(`${tool} is not installed (apt-get install -y valgrind)`);
  console.log(`${samples} samples of ${requests} requests after ${warm}, per contender; instructions per request:`);
  const dir = mkdtempSync(join(tmpdir(), 'gserve-instructions-'));
  try {
    const rows = [];
    for (const c of CONTENDERS.filter((c) => !c.only || only.has(c.only))) {
      const { perRequest, clockShare, byFunction } = await measure(c, dir);
      rows.push({ id: c.id, value: median(perRequest), byFunction });
      console.log(
        `  ${c.id.padEnd(40)} ${perRequest.map((n) => Math.round(n)).join(', ')} (clock's share taken out: ${Math.round(clockShare)})`,
      );
    }
    console.log('\nMedian, and its ratio to node:cluster:');
    for (const r of rows)
      console.log(
        `  ${r.id.padEnd(40)} ${String(Math.round(r.value)).padStart(7)}  ${(r.value / rows[0].value).toFixed(3)}×`,
      );
    if (functions > 0) printFunctions(rows);
  } finally {
    if (keep) console.log(`\nKept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
