// docs/benchmarks.md and docs/benchmarks.json from a run's results.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../contenders/index.js';
import { DEBIAN_PEERS, bunBinary, debVersion } from '../contenders/peers.js';
import { fmt } from './harness.js';
import { runSync, which } from './proc.js';
import { WRK } from './wrk.js';

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function toolVersion(cmd, args, pattern) {
  if (!which(cmd)) return null;
  const r = runSync(cmd, args);
  const m = pattern.exec(r.stdout + r.stderr);
  return m ? m[1] : null;
}

/** What the run ran on and with. */
export function environment(settings) {
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpu[0]?.model ?? 'unknown CPU'} × ${cpu.length}`,
    cores: cpu.length,
    memoryGB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${process.platform} ${release()}`,
    loadAverageBefore: loadavg()[0],
    loadGenerator:
      settings.loader === 'wrk'
        ? `wrk ${toolVersion(WRK, ['-v'], /wrk (\S+)/) ?? ''} (1 thread)`.replace('  ', ' ')
        : 'built-in (bench/lib/loadgen.js)',
    versions: {
      gserve: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
      pm2: pkgVersion('pm2'),
      hono: pkgVersion('hono'),
      '@hono/node-server': pkgVersion('@hono/node-server'),
      nginx: toolVersion('/usr/sbin/nginx', ['-v'], /nginx\/(\S+)/),
      python: toolVersion('/usr/bin/python3', ['--version'], /Python (\S+)/),
      ...Object.fromEntries(DEBIAN_PEERS.map((pkg) => [pkg, debVersion(pkg)])),
      bun: installedBunVersion(),
    },
  };
}

const installedBunVersion = () => (bunBinary() ? runSync(bunBinary(), ['--version']).stdout.trim() : null);

/** Versions of peers installed during the run (Bun, by its scenario), which environment() found missing. */
export function noteLateInstalls(env) {
  env.versions.bun ??= installedBunVersion();
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function targetMeasured(t) {
  if (t.status === 'not measured') return `not measured (${t.reason})`;
  if (t.relative) return `${fmt(t.measured)}×`;
  const unit = t.metric.endsWith('MB') ? ' MB' : t.metric.endsWith('Ms') ? ' ms' : '';
  return `${t.difference && t.measured >= 0 ? '+' : ''}${fmt(t.measured)}${unit}`;
}

/** How far the rounds disagree: (max - min) / median of one metric, as a percentage. */
function spread(row, key) {
  const values = row.rounds.map((v) => v[key]).filter((v) => typeof v === 'number');
  const mid = row.median?.[key];
  if (values.length < 2 || !mid) return '–';
  return `${Math.round(((Math.max(...values) - Math.min(...values)) / mid) * 100)}%`;
}

function scenarioTable(s) {
  const unit = (m) => (m.unit ? ` (${m.unit})` : '');
  const first = s.metrics[0];
  const head = ['contender', ...s.metrics.map((m) => `${m.label}${unit(m)}`), `${first.label}: spread`];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of s.rows) {
    const name = row.id === s.reference ? `**${row.label}** (reference)` : row.label;
    if (row.status !== 'ok') {
      lines.push(`| ${cell(name)} | ${row.status}: ${cell(row.reason)} |${' |'.repeat(head.length - 2)}`);
      continue;
    }
    const value = (m) => {
      const v = fmt(row.median[m.key]);
      const r = m.ratio === false ? null : row.ratio?.[m.key];
      return r == null ? v : `${v} (${fmt(r)}×)`;
    };
    lines.push(`| ${[cell(name), ...s.metrics.map(value), spread(row, first.key)].join(' | ')} |`);
  }
  const better = s.metrics.map((m) => `${m.label}: ${m.better} is better`).join('; ');
  return (
    `${lines.join('\n')}\n\nMedians of the ${s.rounds ? `${s.rounds} ` : ''}rounds; (n×) is the median over the reference's median. ${better}. ` +
    `Spread: (highest − lowest round) / median, for ${first.label}: a ratio closer to 1 than the spreads is within the noise.`
  );
}

/** The first metric of every row, with one column per Node version: the tables of each run side by side. */
function sideBySide(title, runs) {
  const scenarios = runs.map((run) => run.results.find((s) => s.title === title));
  const base = scenarios.find(Boolean);
  const metric = base.metrics[0];
  const head = ['contender', ...runs.map((run) => `${metric.label}, Node ${run.environment.node}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  const ids = [...new Set(scenarios.flatMap((s) => s?.rows.map((r) => r.id) ?? []))];
  for (const id of ids) {
    const rows = scenarios.map((s) => s?.rows.find((r) => r.id === id));
    const label = rows.find(Boolean).label;
    const name = id === base.reference ? `**${label}** (reference)` : label;
    const value = (row) => {
      if (!row) return '–';
      if (row.status !== 'ok') return `${row.status}: ${cell(row.reason)}`;
      const r = metric.ratio === false ? null : row.ratio?.[metric.key];
      return r == null ? fmt(row.median[metric.key]) : `${fmt(row.median[metric.key])} (${fmt(r)}×)`;
    };
    lines.push(`| ${[cell(name), ...rows.map(value)].join(' | ')} |`);
  }
  return lines.join('\n');
}

function runTable(env, settings) {
  const out = ['| | |', '| --- | --- |'];
  out.push(`| machine | ${env.cpu}, ${env.memoryGB} GB RAM, ${env.kernel} |`);
  out.push(`| Node | ${env.node} |`);
  out.push(`| load generator | ${env.loadGenerator} |`);
  out.push(
    `| load average before the run | ${env.loadAverageBefore.toFixed(2)} (1 min; above 0.5 means other work shared the machine) |`,
  );
  out.push(
    `| rounds × seconds | ${settings.rounds} × ${settings.durationMs / 1000} s per contender per scenario (warm-up ${settings.warmupMs / 1000} s first) |`,
  );
  out.push(
    `| versions | ${Object.entries(env.versions)
      .map(([k, v]) => `${k} ${v ?? '(not installed)'}`)
      .join(', ')} |`,
  );
  return out;
}

/**
 * The doc for one run, or for several on different Node versions: the first run's tables in full, and where there
 * are more, each scenario's first metric side by side, one column per Node, with every run's targets.
 */
export function markdown(runs, settings, command) {
  const [{ environment: env, results }] = runs;
  const measured = runs.filter((run) => run.results.length);
  const mark = { met: 'met', missed: '**missed**', 'not measured': 'not measured' };
  const out = [];
  out.push('# Benchmarks', '');
  out.push(
    '<!-- Generated by bench/run.js: run `npm run bench` (or `npm run bench -- --quick`) to rewrite this file. -->',
    '',
  );
  if (settings.quick) {
    out.push(
      '> **Quick run** (`--quick`: ' +
        `${settings.rounds} rounds of ${settings.durationMs / 1000} s). These figures are indicative only, and so ` +
        "is each target's met or missed: see the spreads. The full run (`npm run bench`, about 25 minutes with Node 24, on a " +
        'machine left otherwise idle) is the one to quote.',
      '',
    );
  }
  out.push(`Command: \`${command}\`, ${env.date.slice(0, 16).replace('T', ' ')} UTC.`, '');
  out.push(...runTable(env, settings));
  for (const run of runs.slice(1)) {
    if (run.results.length)
      out.push(
        `| also run on | Node ${run.environment.node} (same machine, right after; its own load average before: ${run.environment.loadAverageBefore.toFixed(2)}) |`,
      );
    else out.push(`| not run on | Node ${run.environment.node} |`);
  }
  out.push('');
  out.push(
    `**The load generator shares the machine's ${env.cores} cores with the server under test**: every figure is ` +
      'what a server does with the client beside it, not its ceiling alone. Unless its row or scenario says otherwise, every contender runs 2 worker processes ' +
      '(nginx: 2 worker processes) on 127.0.0.1 and serves the same routes (`bench/contenders/apps/`). The contenders ' +
      'of a scenario are measured in turn, round by round, with the starting contender rotated each round, so drift ' +
      "hits all alike; each figure is the median of the rounds, and ratios are medians over the reference's median. " +
      "Every peer runs as its users deploy it, and its row says how and which version; a row that is not a peer's " +
      'best configuration says so.',
    '',
  );
  const targetsOf = (run) => run.results.flatMap((s) => s.targets.map((t) => ({ ...t, scenario: s.title })));
  const targets = targetsOf(runs[0]);
  out.push('## Targets', '');
  const nodes = measured.map((run) => run.environment.node);
  out.push(`| target | ${nodes.map((n) => `Node ${n}`).join(' | ')} |`, `| --- |${nodes.map(() => ' --- |').join('')}`);
  const perRun = measured.map(targetsOf);
  targets.forEach((t, i) => {
    const cells = perRun.map((ts) => (ts[i] ? `${cell(targetMeasured(ts[i]))}: ${mark[ts[i].status]}` : '–'));
    out.push(`| ${cell(t.text)} | ${cells.join(' | ')} |`);
  });
  out.push('');
  for (const s of results) {
    out.push(
      `## ${s.title}`,
      '',
      `${s.description} Reference: ${s.rows.find((r) => r.id === s.reference)?.label ?? s.reference}.`,
      '',
    );
    if (measured.length > 1) out.push(sideBySide(s.title, measured), '', `All figures on Node ${env.node}:`, '');
    out.push(scenarioTable(s), '');
  }
  const open = targets.filter((t) => t.status !== 'met');
  out.push('## Closing note', '');
  if (!open.length) out.push(`Every target was met in this run on Node ${env.node}.`);
  for (const t of open) {
    const why = t.status === 'missed' ? (t.ifMissed ?? 'not yet analysed') : `not measured: ${t.reason}.`;
    out.push(`- **${t.text}** — ${t.status === 'missed' ? `missed (${targetMeasured(t)}). ` : ''}${why}`);
  }
  out.push('');
  return out.join('\n');
}
