#!/usr/bin/env node
// gserve's side-by-side benchmarks: `npm run bench` (full) or `npm run bench -- --quick` (under two minutes).
//   --quick                    2 rounds of 1 s instead of 3 rounds of 3 s
//   --scenarios a,b            only these scenarios (ids = file names in bench/scenarios/)
//   --contenders x,y           only these contenders (each scenario's reference is always kept)
//   --rounds N --duration S    override the rounds and the seconds per measurement
//   --load wrk|builtin         the load generator for throughput (default: wrk when installed)
//   --out FILE --json FILE     where to write (default docs/benchmarks.md and docs/benchmarks.json; a run narrowed
//                              by --scenarios or --contenders writes to $TMPDIR/gserve-bench/ instead; --out alone
//                              puts the JSON beside it, FILE with .json for .md)
//   --nodes 24                 also run everything on these Node majors, side by side in the doc (default: 24 in a
//                              full run, none with --quick); `--nodes none` for this Node only
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './contenders/index.js';
import { runScenarios, runSettings } from './lib/harness.js';
import { environment, markdown, noteLateInstalls } from './lib/report.js';
import { nodeBinary } from './lib/node-versions.js';
import { prepareBench } from './lib/setup.js';
import { adaptStandalone } from './lib/standalone.js';
import { WRK } from './lib/wrk.js';

/** The scenarios in the order the doc shows them. A new scenario: add its file here (see bench/README.md). */
export const SCENARIOS = [
  'hello-keepalive',
  'hello-close',
  'json-1k',
  'stream',
  'express',
  'peers-keepalive',
  'peers-close',
  'fetch-vs-hono',
  'head-of-line',
  'cpu-bound',
  'reload-under-load',
  'startup',
  'metrics-overhead',
];

function parseArgs(argv) {
  const opts = { quick: false };
  const list = (v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--scenarios') opts.scenarios = list(value());
    else if (a === '--contenders') opts.contenders = list(value());
    else if (a === '--rounds') opts.rounds = Number(value());
    else if (a === '--duration') opts.durationMs = Number(value()) * 1000;
    else if (a === '--load') opts.loader = value();
    else if (a === '--out') opts.out = value();
    else if (a === '--json') opts.json = value();
    else if (a === '--nodes') {
      const v = value();
      opts.nodes = v === 'none' ? [] : list(v).map(Number);
    } else if (a === '--single') opts.single = true;
    else throw new Error(`unknown option ${a}: see the top of bench/run.js`);
  }
  if (opts.loader && !['wrk', 'builtin'].includes(opts.loader))
    throw new Error(`--load must be wrk or builtin, not ${opts.loader}`);
  if (opts.loader === 'wrk' && !WRK) throw new Error('--load wrk: wrk is not installed (apt-get install wrk)');
  if (opts.nodes?.some((n) => !Number.isInteger(n) || n < 20))
    throw new Error('--nodes takes Node major versions from 20 up, e.g. --nodes 24, or none');
  if (opts.rounds !== undefined && !(opts.rounds >= 1)) throw new Error('--rounds must be 1 or more');
  if (opts.durationMs !== undefined && !(opts.durationMs > 0))
    throw new Error('--duration must be a positive number of seconds');
  return opts;
}

/** Runs the harness; `preloaded` maps scenario ids to modules already loaded (a scenario file run directly). */
export async function main(argv, preloaded = {}) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    console.error(`bench: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const ids = opts.scenarios ?? SCENARIOS;
  const unknown = ids.filter((id) => !SCENARIOS.includes(id));
  if (unknown.length) {
    console.error(`bench: unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const scenarios = [];
  for (const id of ids) {
    const file = join(ROOT, 'bench/scenarios', `${id}.js`);
    if (!preloaded[id] && !existsSync(file)) {
      // A scenario another issue adds (its script may not have landed in this checkout yet).
      console.log(`bench: skip ${id}: bench/scenarios/${id}.js is not in this checkout`);
      continue;
    }
    const mod = preloaded[id] ? { scenario: preloaded[id] } : await import(pathToFileURL(file).href);
    const scenario = mod.scenario ?? adaptStandalone(id, mod);
    if (!scenario) {
      console.error(
        `bench: bench/scenarios/${id}.js exports no \`scenario\` and no adapter in bench/lib/standalone.js knows it`,
      );
      process.exitCode = 2;
      return;
    }
    // A scenario that sets no target is left out of a quick run (named with --scenarios, it runs).
    if (opts.quick && scenario.quick === false && !opts.scenarios) {
      console.log(`bench: skip ${id} in a quick run (it sets no target)`);
      continue;
    }
    scenarios.push(scenario);
  }
  const settings = runSettings(opts);
  // A partial run (and so the harness test) installs nothing: it only names what is missing.
  if (!opts.single) prepareBench(console.log, { install: !(opts.scenarios || opts.contenders) });
  if (!WRK) console.log('bench: wrk is not installed (apt-get install wrk): using the built-in load generator');
  const env = environment(settings);
  console.log(
    `bench: ${settings.quick ? 'quick' : 'full'} run on Node ${process.version}, ${settings.rounds} rounds of ${settings.durationMs / 1000} s, load by ${env.loadGenerator}`,
  );
  const t0 = Date.now();
  const results = await runScenarios(scenarios, settings, { only: opts.contenders });
  noteLateInstalls(env);
  const runs = [{ environment: env, results }];
  const here = Number(process.versions.node.split('.')[0]);
  const others = opts.single ? [] : (opts.nodes ?? (settings.quick ? [] : [24])).filter((n) => n !== here);
  for (const major of others) runs.push(await runOnNode(major, argv));
  // Only a run of every scenario and contender may rewrite the committed doc; a partial run goes to a temp folder.
  const partial = Boolean(opts.scenarios || opts.contenders);
  const outDir = partial ? join(tmpdir(), 'gserve-bench') : join(ROOT, 'docs');
  const out = opts.out ?? join(outDir, 'benchmarks.md');
  // Never the committed JSON beside a doc written elsewhere.
  const json = opts.json ?? (opts.out ? opts.out.replace(/(\.md)?$/, '.json') : join(outDir, 'benchmarks.json'));
  const command = `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`;
  mkdirSync(dirname(out), { recursive: true });
  mkdirSync(dirname(json), { recursive: true });
  writeFileSync(out, markdown(runs, settings, command));
  const record = {
    command,
    settings,
    environment: env,
    seconds: (Date.now() - t0) / 1000,
    results,
    otherNodes: runs.slice(1),
  };
  writeFileSync(json, JSON.stringify(record, null, 2) + '\n');
  console.log(
    `\nbench: wrote ${relative(process.cwd(), out)} and ${relative(process.cwd(), json)} in ${Math.round((Date.now() - t0) / 1000)} s`,
  );
}

/** The same run under another Node major (its own process, so gserve and node:cluster run on that Node too). */
async function runOnNode(major, argv) {
  const node = nodeBinary(major);
  if (!node.path) {
    console.log(`bench: skip Node ${major}: ${node.reason}`);
    return { environment: { node: `v${major} (not run: ${node.reason})` }, results: [] };
  }
  const dir = join(tmpdir(), `gserve-bench-node${major}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'run.json');
  const args = [
    ...argv.filter(
      (a, i) => !['--out', '--json', '--nodes'].includes(a) && !['--out', '--json', '--nodes'].includes(argv[i - 1]),
    ),
  ];
  console.log(`\nbench: the same run on Node ${major} (${node.path})`);
  const child = spawn(
    node.path,
    [join(ROOT, 'bench/run.js'), ...args, '--single', '--json', json, '--out', join(dir, 'run.md')],
    { stdio: 'inherit' },
  );
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  try {
    if (code !== 0) return { environment: { node: `v${major} (the run failed: exit ${code})` }, results: [] };
    const run = JSON.parse(readFileSync(json, 'utf8'));
    return { environment: run.environment, results: run.results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
