import { Command, CommanderError } from './commander.js';
import { ExitCode, errorCode, errorMessage } from '../errors.js';
import type { StatusReport } from '../master/control.js';
import type { WorkerRow } from '../master/worker-stats.js';
import { DURATION_BUCKETS } from '../worker/stats-report.js';
import { ask, noAnswer } from './control-client.js';
import {
  ANSWER_AT_ONCE_MS,
  controlSocketOrExitCode,
  duration,
  withLocatingOptions,
  type ControlOptions,
} from './control.js';
import { fail } from './fail.js';

/**
 * `gserve top`: a live view of the workers over the control socket, like `pm2 monit` or uwsgitop.
 * Rates (req/s, CPU %) and latency percentiles are computed here from the counters each worker
 * reports once a second, over a short sliding window.
 */

interface Sample {
  at: number;
  served: number;
  cpu: number;
  buckets: number[];
}

/** How far back rates look: a few of the workers' one-second reports, so the numbers do not flicker. */
const WINDOW_MS = 3000;

/**
 * The q-th quantile (0..1) of a per-bucket histogram, interpolated inside its bucket; seconds, or
 * null with no data.
 */
export function quantile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : DURATION_BUCKETS[i - 1]!;
      const upper = DURATION_BUCKETS[i];
      if (upper === undefined) return Infinity; // past the last bound
      return lower + ((upper - lower) * (rank - seen)) / n;
    }
    seen += n;
  }
  return null;
}

const ms = (s: number | null) =>
  s === null
    ? '-'
    : s === Infinity
      ? `>${DURATION_BUCKETS.at(-1)! * 1000}ms`
      : s < 0.01
        ? `${(s * 1000).toFixed(1)}ms`
        : `${Math.round(s * 1000)}ms`;
const mib = (bytes: number) => (bytes ? `${(bytes / 1048576).toFixed(1)}M` : '-');

/** Keeps each worker's recent samples and turns them into rates. */
export class RateBook {
  private readonly samples = new Map<number, Sample[]>();

  add(rows: readonly WorkerRow[], at: number): void {
    const live = new Set(rows.map((r) => r.pid));
    for (const pid of this.samples.keys()) if (!live.has(pid)) this.samples.delete(pid);
    for (const r of rows) {
      const list = this.samples.get(r.pid) ?? [];
      list.push({ at, served: r.served, cpu: r.cpu ?? 0, buckets: r.buckets ?? [] });
      while (list.length > 2 && at - list[1]!.at >= WINDOW_MS) list.shift();
      this.samples.set(r.pid, list);
    }
  }

  rates(pid: number): { reqs: number | null; cpu: number | null; p50: number | null; p99: number | null } {
    const list = this.samples.get(pid);
    if (!list || list.length < 2) return { reqs: null, cpu: null, p50: null, p99: null };
    const first = list[0]!;
    const last = list.at(-1)!;
    const seconds = (last.at - first.at) / 1000;
    if (seconds <= 0) return { reqs: null, cpu: null, p50: null, p99: null };
    const delta = last.buckets.map((n, i) => n - (first.buckets[i] ?? 0));
    return {
      reqs: (last.served - first.served) / seconds,
      cpu: ((last.cpu - first.cpu) / seconds) * 100,
      p50: quantile(delta, 0.5),
      p99: quantile(delta, 0.99),
    };
  }
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  // Numbers read best right-aligned; the first column (PID) and STATE stay left.
  const left = new Set([rows[0]!.indexOf('STATE')]);
  return rows.map((r) =>
    r
      .map((cell, i) => (left.has(i) || i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function renderFrame(status: StatusReport, book: RateBook, path: string, columns: number): string[] {
  const m = status.master;
  const withIndex = status.workers.some((w) => typeof w.index === 'number');
  let totalReqs = 0;
  const body = status.workers
    .slice()
    .sort((a, b) => (a.index ?? 0) - (b.index ?? 0) || a.pid - b.pid)
    .map((w) => {
      const r = book.rates(w.pid);
      totalReqs += r.reqs ?? 0;
      return [
        String(w.pid),
        ...(withIndex ? [typeof w.index === 'number' ? String(w.index) : '-'] : []),
        w.state,
        r.reqs === null ? '-' : r.reqs.toFixed(1),
        String(w.inFlight),
        ms(r.p50),
        ms(r.p99),
        mib(w.rss),
        r.cpu === null ? '-' : r.cpu.toFixed(1),
        String(w.restarts),
        String(w.generation),
        duration(w.uptime),
      ];
    });
  const head = [
    'PID',
    ...(withIndex ? ['INDEX'] : []),
    'STATE',
    'REQ/S',
    'IN-FLIGHT',
    'P50',
    'P99',
    'RSS',
    'CPU%',
    'RESTARTS',
    'GEN',
    'UPTIME',
  ];
  const restarts = Object.entries(status.restarts)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const lines = [
    `gserve top - master ${m.pid}  gserve ${m.version}  up ${duration(m.uptime)}  generation ${m.generation}`,
    `workers ${status.workers.length}/${m.workers} (${m.workerClass})  ${totalReqs.toFixed(1)} req/s  ` +
      `restarts: ${restarts || 'none'}`,
    `bind: ${m.bind.join(', ')}`,
    '',
    ...table([head, ...body]),
    '',
    `q quits · refreshed every second · ${path}`,
  ];
  return lines.map((l) => (l.length > columns ? l.slice(0, columns) : l));
}

const ESC = '\x1b[';
const screen = {
  enter: `${ESC}?1049h${ESC}?25l`,
  leave: `${ESC}?25h${ESC}?1049l`,
  home: `${ESC}H`,
  clearLine: `${ESC}K`,
  clearBelow: `${ESC}J`,
};

export async function runTop(argv: string[]): Promise<number> {
  const cmd = withLocatingOptions(
    new Command('gserve top').description(
      'A live view of the workers of a running master, refreshed every second; q quits.',
    ),
  )
    .option('-n, --iterations <N>', 'Stop after N refreshes (default: until q).')
    .helpOption('-h, --help', 'Show this help.')
    .allowExcessArguments(false)
    .exitOverride();
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError)
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? ExitCode.OK : ExitCode.USAGE;
    throw err;
  }
  const opts = cmd.opts<ControlOptions & { iterations?: string }>();
  const iterations = opts.iterations === undefined ? Infinity : Number(opts.iterations);
  if (!(iterations >= 1) || !Number.isInteger(iterations === Infinity ? 1 : iterations))
    return fail(`--iterations expects a whole number ≥ 1, got ${JSON.stringify(opts.iterations)}.`, ExitCode.USAGE);
  const path = await controlSocketOrExitCode(opts);
  if (typeof path === 'number') return path;

  const book = new RateBook();
  const poll = async (): Promise<StatusReport> => {
    const reply = await ask(path, { cmd: 'status' }, ANSWER_AT_ONCE_MS);
    if (!reply.ok) throw new Error(reply.error);
    const status = reply.status();
    book.add(status.workers, Date.now());
    return status;
  };
  let status: StatusReport;
  try {
    status = await poll();
  } catch (err) {
    return fail(noAnswer(path, err), 1);
  }

  const out = process.stdout;
  const live = out.isTTY === true;
  // Not a terminal (a pipe, a file): plain frames one after another, like `top -b` prints.
  const draw = (lines: string[]) => {
    if (live) out.write(screen.home + lines.map((l) => l + screen.clearLine).join('\n') + '\n' + screen.clearBelow);
    else out.write(lines.join('\n') + '\n\n');
  };
  const columns = () => (live ? out.columns || 80 : 200);

  return new Promise<number>((resolve) => {
    let done = false;
    let count = 0;
    let timer: NodeJS.Timeout | null = null;
    const stdin = process.stdin;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onKey);
      if (live) out.write(screen.leave);
      resolve(code);
    };
    const onKey = (key: Buffer) => {
      const k = key.toString();
      if (k === 'q' || k === 'Q' || k === '\x03' || k === '\x1b') finish(ExitCode.OK);
    };
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      stdin.on('data', onKey);
      stdin.resume();
    }
    if (live) out.write(screen.enter);
    process.once('SIGINT', () => finish(ExitCode.OK));
    process.once('SIGTERM', () => finish(ExitCode.OK));
    out.on('resize', () => draw(renderFrame(status, book, path, columns())));
    // The reader went away (`gserve top | head -1`: EPIPE): done, like `top -b | head`, not a crash.
    out.on('error', () => finish(ExitCode.OK));
    let lastError: string | null = null;
    const tick = async () => {
      if (done) return;
      try {
        status = await poll();
        lastError = null;
      } catch (err) {
        lastError = errorCode(err) ?? errorMessage(err);
      }
      if (done) return;
      const lines = renderFrame(status, book, path, columns());
      if (lastError)
        lines.splice(3, 0, `!! the master does not answer (${lastError}); showing the last data, retrying`);
      draw(lines);
      count++;
      if (count >= iterations) return finish(ExitCode.OK);
      timer = setTimeout(() => void tick(), 1000);
    };
    draw(renderFrame(status, book, path, columns()));
    count++;
    if (count >= iterations) return finish(ExitCode.OK);
    timer = setTimeout(() => void tick(), 1000);
  });
}
