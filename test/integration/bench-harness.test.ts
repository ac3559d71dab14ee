import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/gserve.js';

const running = new Set<ChildProcess>();
afterEach(() => {
  // The harness kills every server it started when it gets SIGTERM.
  for (const child of running) if (child.exitCode === null) child.kill('SIGTERM');
  running.clear();
});

function bench(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/run.js'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

interface Row {
  id: string;
  status: string;
  reason?: string;
  median?: { rps: number; failed: number; [key: string]: number };
  ratio?: { rps: number; [key: string]: number };
}

describe('bench harness', () => {
  it('runs one tiny scenario end to end with the built-in load generator and writes the doc and, beside it, the JSON', async () => {
    const dir = tempDir();
    const md = join(dir, 'benchmarks.md');
    const json = join(dir, 'benchmarks.json');
    const { code, output } = await bench([
      ...['--scenarios', 'hello-keepalive', '--contenders', 'gserve-async-node', '--rounds', '1', '--duration', '0.3'],
      // No --json: it goes beside --out, not over the committed docs/benchmarks.json.
      ...['--load', 'builtin', '--out', md],
    ]);
    expect(code, output).toBe(0);

    const report: {
      results: Array<{ id: string; reference: string; rows: Row[]; targets: Array<{ status: string }> }>;
    } = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.results.map((r) => r.id)).toEqual(['hello-keepalive']);
    const scenario = report.results[0]!;
    const rows = new Map(scenario.rows.map((r) => [r.id, r]));
    // The reference always runs, whatever --contenders says; the others were left out.
    expect([...rows.keys()].sort()).toEqual(['gserve-async-node', 'node-cluster']);
    for (const row of rows.values()) {
      expect(row.status, row.reason).toBe('ok');
      expect(row.median!.rps).toBeGreaterThan(0);
      expect(row.median!.failed).toBe(0);
    }
    expect(rows.get('node-cluster')!.ratio!.rps).toBe(1);
    const gserve = rows.get('gserve-async-node')!;
    expect(gserve.ratio!.rps).toBeCloseTo(gserve.median!.rps / rows.get('node-cluster')!.median!.rps, 6);
    // The node:cluster target is judged; those against contenders left out (PM2, nginx) say they were not measured.
    const [first, ...others] = scenario.targets.map((t) => t.status);
    expect(first).toMatch(/^(met|missed)$/);
    expect(others.length).toBeGreaterThan(0);
    expect(new Set(others)).toEqual(new Set(['not measured']));

    const doc = readFileSync(md, 'utf8');
    expect(doc).toMatch(/^# Benchmarks/);
    expect(doc).toContain('load generator shares the machine');
    expect(doc).toContain(`| Node | ${process.version} |`);
    expect(doc).toMatch(/\| \*\*node:cluster, round-robin \(hand-written\)\*\* \(reference\) \| [\d,.]+ \(1×\) \|/);
    expect(doc).toMatch(/\| gserve -k async, node interface \| [\d,.]+ \([\d.]+×\) \|/);
  });

  it('refuses an unknown scenario with a one-line message naming the known ones', async () => {
    const { code, output } = await bench(['--scenarios', 'nope']);
    expect(code).toBe(2);
    expect(output.trim()).toMatch(/^bench: unknown scenario nope; known: hello-keepalive, [a-z0-9-]+(, [a-z0-9-]+)*$/);
  });
});
