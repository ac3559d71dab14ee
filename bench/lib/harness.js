// The harness: runs scenarios over contenders, round by round, and collects medians and ratios.
// A scenario module (bench/scenarios/*.js) exports `scenario`; bench/README.md documents the interface.
import { pathToFileURL } from 'node:url';
import { CONTENDERS } from '../contenders/index.js';
import { StartError, liveServers } from '../contenders/server.js';
import { freePort, rssOf } from './proc.js';
import { runLoad } from './loadgen.js';
import { median, percentile } from './stats.js';
import { WRK, runWrk } from './wrk.js';

/** The settings of a run: --quick trades rounds and seconds for a result in under two minutes. */
export function runSettings({ quick = false, rounds, durationMs, loader } = {}) {
  const duration = durationMs ?? (quick ? 1000 : 3000);
  return {
    quick,
    rounds: rounds ?? (quick ? 2 : 3),
    durationMs: duration,
    warmupMs: Math.min(duration, quick ? 200 : 1000),
    settleMs: quick ? 300 : 1500,
    connections: 50,
    loader: loader ?? (WRK ? 'wrk' : 'builtin'),
  };
}

/**
 * Bounded load at one server: wrk when chosen and the scenario needs only throughput and overall latency;
 * the built-in generator otherwise (per-path latencies, failed-request counts, custom request mixes).
 */
export async function load(
  ctx,
  server,
  {
    path = '/',
    close = false,
    connections = ctx.settings.connections,
    pathFor,
    durationMs = ctx.durationMs,
    builtin = false,
  } = {},
) {
  // wrk counts whole seconds, so the short warm-up always uses the built-in generator.
  if (ctx.settings.loader === 'wrk' && !pathFor && !builtin && !ctx.warmup) {
    const r = await runWrk({ port: server.port, path, durationMs, connections, close });
    return { rps: r.rps, p99: r.p99, failed: r.failed, requests: r.requests };
  }
  const r = await runLoad({ port: server.port, durationMs, connections, close, pathFor: pathFor ?? (() => path) });
  const all = Object.values(r.latencies).flat();
  return {
    rps: r.rps,
    p99: percentile(all, 99),
    failed: r.failed,
    requests: r.requests,
    latencies: r.latencies,
    errors: r.errors,
  };
}

const MB = 1024 * 1024;
/** RSS of the server's processes in MB: total, and its root (master / daemon) alone. */
export function memory(server) {
  const pids = server.pids();
  const root = server.rootPid();
  return {
    totalMB: pids.reduce((sum, pid) => sum + rssOf(pid), 0) / MB,
    masterMB: rssOf(root) / MB,
    processes: pids.length,
  };
}

/** Keeps one running server per contender across the scenarios that reuse it; stops each after its last use. */
class Pool {
  constructor(log) {
    this.log = log;
    this.running = new Map();
    this.failed = new Map();
  }

  async get(contender) {
    if (this.failed.has(contender.id)) throw new StartError(this.failed.get(contender.id));
    let server = this.running.get(contender.id);
    if (!server) {
      try {
        server = await contender.start({ port: await freePort() });
      } catch (err) {
        if (!(err instanceof StartError)) throw err;
        this.failed.set(contender.id, err.message);
        throw err;
      }
      this.running.set(contender.id, server);
    }
    return server;
  }

  async release(id) {
    const server = this.running.get(id);
    this.running.delete(id);
    await server?.stop();
  }

  async close() {
    await Promise.all([...this.running.keys()].map((id) => this.release(id)));
  }
}

function metricValue(row, key) {
  return row?.median?.[key] ?? null;
}

/** Evaluates a scenario's targets against its medians. */
function evaluateTargets(scenario, rows) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return (scenario.targets ?? []).map((t) => {
    const metric = t.metric ?? scenario.metrics[0].key;
    const row = byId.get(t.contender);
    const against = t.against ? byId.get(t.against) : null;
    for (const [id, r] of [[t.contender, row], ...(t.against ? [[t.against, against]] : [])]) {
      if (!r) return { ...t, metric, status: 'not measured', reason: `${id} was not in this run` };
      if (r.status !== 'ok') return { ...t, metric, status: 'not measured', reason: r.reason };
    }
    const value = metricValue(row, metric);
    const base = against ? metricValue(against, metric) : null;
    let measured;
    if (!against) measured = value;
    else if (t.difference)
      measured = value - base; // e.g. "no more than node:cluster + 15 MB"
    else if (base === 0) measured = value === 0 ? 1 : Infinity;
    else measured = value / base;
    if (measured == null || Number.isNaN(measured)) return { ...t, metric, status: 'not measured', reason: 'no value' };
    const met = (t.atLeast == null || measured >= t.atLeast) && (t.atMost == null || measured <= t.atMost);
    return { ...t, metric, measured, relative: Boolean(against) && !t.difference, status: met ? 'met' : 'missed' };
  });
}

/** Each row's medians over its rounds (unless its script gave them), and its ratios to the reference row. */
function summarize(scenario, rows) {
  const numeric = (k) => rows.some((r) => r.rounds.some((v) => typeof v[k] === 'number'));
  const keys = [...new Set(rows.flatMap((r) => r.rounds.flatMap((v) => Object.keys(v))))].filter(numeric);
  for (const row of rows) {
    if (row.status !== 'ok' || row.median) continue;
    row.median = Object.fromEntries(keys.map((k) => [k, median(row.rounds.map((v) => v[k]))]));
  }
  const ref = rows.find((r) => r.id === scenario.reference);
  if (ref?.status !== 'ok') return;
  for (const row of rows) {
    if (row.status !== 'ok') continue;
    row.ratio = Object.fromEntries(
      scenario.metrics
        .filter((m) => m.ratio !== false)
        .map(({ key }) => {
          const a = row.median[key];
          const b = ref.median[key];
          return [key, a == null || b == null ? null : b === 0 ? (a === 0 ? 1 : null) : a / b];
        }),
    );
  }
}

/**
 * Runs the scenarios. Throughput scenarios reuse one server per contender and interleave the contenders round by
 * round (rotating who goes first), so the machine's drift (other processes, thermal, caches) hits all alike;
 * `fresh` scenarios start and stop the contender themselves in each round.
 */
export async function runScenarios(scenarios, settings, { only, log = console.log } = {}) {
  const pool = new Pool(log);
  const lastUse = new Map();
  // A quick run takes a scenario's shorter list where it has one (the peers that matter most for its targets);
  // contenders named with --contenders come from the whole list.
  const listed = (s) => (settings.quick && !only && s.quickContenders ? s.quickContenders : s.contenders);
  const contendersOf = (s) => listed(s).filter((id) => !only || only.includes(id) || id === s.reference);
  scenarios.forEach((s, i) => {
    if (!s.fresh && !s.collect) for (const id of contendersOf(s)) lastUse.set(id, i);
  });
  const results = [];
  // Servers of `fresh` scenarios are not in the pool: an interrupted run stops them too.
  const cleanup = async () => {
    await pool.close();
    await Promise.all([...liveServers].map((server) => server.stop()));
  };
  const onSignal = async () => {
    await cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const [index, scenario] of scenarios.entries()) {
      const started = Date.now();
      const rounds = scenario.rounds?.(settings) ?? settings.rounds;
      const makeCtx = (extra) => {
        const ctx = {
          settings,
          durationMs: settings.durationMs,
          memory,
          log,
          ...extra,
          load: (server, o) => load(ctx, server, o),
        };
        return ctx;
      };
      log(`\n== ${scenario.title} (${rounds} round${rounds > 1 ? 's' : ''})`);
      const rows = [];
      for (const id of scenario.collect ? [] : contendersOf(scenario)) {
        const contender = CONTENDERS[id];
        if (!contender) throw new Error(`scenario ${scenario.id} names an unknown contender "${id}"`);
        const reason = contender.unavailable();
        const row = { id, label: contender.label, status: reason ? 'skipped' : 'ok', reason, rounds: [] };
        if (reason) log(`   skip ${id}: ${reason}`);
        rows.push(row);
      }
      const active = () => rows.filter((r) => r.status === 'ok');
      if (scenario.collect) {
        // A standalone script (lib/standalone.js): it runs its own servers and rounds and hands back the rows.
        rows.length = 0;
        try {
          if (scenario.needsWrk && !WRK) throw new Error('needs wrk (apt-get install wrk)');
          rows.push(...(await scenario.collect(settings)));
          for (const row of rows)
            log(
              `   ${row.id}: ${row.status === 'ok' ? formatValues(scenario, row.median) : `${row.status}: ${row.reason}`}`,
            );
        } catch (err) {
          rows.push({
            id: scenario.reference,
            label: scenario.reference,
            status: 'failed',
            reason: err.message,
            rounds: [],
          });
          log(`   failed: ${err.message}`);
        }
      } else if (!scenario.fresh) {
        // Start them all at once (the waits overlap); failures are kept by the pool and reported just below.
        await Promise.all(active().map((row) => pool.get(CONTENDERS[row.id]).catch(() => {})));
        for (const row of active()) {
          try {
            const server = await pool.get(CONTENDERS[row.id]);
            await scenario.measure(server, makeCtx({ durationMs: settings.warmupMs, warmup: true }));
          } catch (err) {
            row.status = err instanceof StartError ? 'skipped' : 'failed';
            row.reason = err.message;
            log(`   ${row.status} ${row.id}: ${err.message}`);
          }
        }
      }
      for (let round = 0; round < (scenario.collect ? 0 : rounds); round++) {
        const order = active();
        const shift = round % Math.max(1, order.length);
        for (const row of [...order.slice(shift), ...order.slice(0, shift)]) {
          const contender = CONTENDERS[row.id];
          try {
            const value = scenario.fresh
              ? await scenario.measure(
                  contender,
                  makeCtx({ round, start: async () => contender.start({ port: await freePort() }) }),
                )
              : await scenario.measure(await pool.get(contender), makeCtx({ round }));
            row.rounds.push(value);
            log(`   round ${round + 1} ${row.id}: ${formatValues(scenario, value)}`);
          } catch (err) {
            row.status = err instanceof StartError ? 'skipped' : 'failed';
            row.reason = err.message;
            log(`   ${row.status} ${row.id}: ${err.message}`);
          }
        }
      }
      for (const [id, last] of lastUse) if (last === index) await pool.release(id);
      summarize(scenario, rows);
      results.push({
        id: scenario.id,
        title: scenario.title,
        description: scenario.description,
        reference: scenario.reference,
        metrics: scenario.metrics,
        rounds,
        seconds: (Date.now() - started) / 1000,
        rows,
        targets: evaluateTargets(scenario, rows),
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
  return results;
}

function formatValues(scenario, value) {
  return scenario.metrics
    .filter(({ key }) => typeof value[key] === 'number')
    .map(({ key, unit }) => `${key}=${fmt(value[key])}${unit ? ' ' + unit : ''}`)
    .join(', ');
}

export function fmt(n) {
  if (n == null || Number.isNaN(n)) return 'n/a';
  if (!Number.isFinite(n)) return '∞';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/**
 * Lets `node bench/scenarios/x.js [options]` run that one scenario through the harness. The scenario is handed
 * over rather than imported again: this module is still evaluating, and importing it would wait on itself.
 */
export async function runIfMain(meta, scenario) {
  if (process.argv[1] && meta.url === pathToFileURL(process.argv[1]).href) {
    const { main } = await import('../run.js');
    await main([...process.argv.slice(2), '--scenarios', scenario.id], { [scenario.id]: scenario });
  }
}
