import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/http.js';
import { FIXTURES, startGserve, tempDir, type Gserve } from '../helpers/gserve.js';

const observe = join(FIXTURES, 'apps', 'observe') + ':app';
const TEXT_LINE = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000\] \[\d+\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] /;

/** A master whose error log is text (the helper reads JSON lines only): wait on the raw stderr. */
async function startText(args: string[], env: Record<string, string> = {}): Promise<{ g: Gserve; url: string }> {
  const g = await startGserve(args, { workers: 0, env });
  const m = await g.until(
    () =>
      (/\] Worker ready/.test(g.stderr) && /Listening at: (http:\/\/127\.0\.0\.1:\d+) /.exec(g.stderr)) || undefined,
    'a ready worker, in text',
  );
  return { g, url: m[1]! };
}

/** Stops a master gracefully and waits for it: its workers' pids are not known from text lines. */
async function stop(g: Gserve): Promise<void> {
  g.signal('SIGTERM');
  await g.exited;
}

const linesOf = (text: string) => text.split('\n').filter(Boolean);

describe('error log format in a pipe (as under Docker and systemd)', () => {
  for (const [how, args, env] of [
    ['--no-log-json', ['--no-log-json'], {}],
    ['GSERVE_LOG_JSON=false', [], { GSERVE_LOG_JSON: 'false' }],
  ] as const) {
    it(`${how} gives readable lines with level names, from the master and the workers`, async () => {
      const { g } = await startText([...args, observe], env);
      await stop(g);
      const lines = linesOf(g.stderr);
      expect(lines.length).toBeGreaterThan(4);
      for (const line of lines) expect(line).toMatch(TEXT_LINE);
      expect(g.stderr).toMatch(/\[INFO\] Booting worker with pid: \d+/);
      expect(g.stderr).toMatch(/\[DEBUG\] /); // the helper runs at --log-level debug
      expect(g.stderr).not.toContain('"level"');
    });
  }

  it('stays JSON by default, with the access log on stdout in JSON too: one stream never mixes the two', async () => {
    const g = await startGserve(['--access-logfile', '-', observe]);
    await get(g.url + '/mixed?q=1', { headers: { 'user-agent': 'mix/1' } });
    await g.until(() => linesOf(g.stdout).length >= 1, 'an access line');
    const record = JSON.parse(linesOf(g.stdout)[0]!);
    expect(record).toMatchObject({ method: 'GET', path: '/mixed', query: 'q=1', status: 200 });
    // The Gunicorn-format line travels along, so --access-logformat still shapes what people read.
    expect(record.msg).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/mixed\?q=1 HTTP\/1\.1" 200 \d+ "-" "mix\/1"$/);
    for (const line of linesOf(g.stderr)) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('Node\'s own warnings are one log line each (an ES module in a package without "type"), not stderr text', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"name":"typeless"}');
    writeFileSync(join(dir, 'app.js'), 'export const app = (req, res) => res.end("ok");\n');
    const g = await startGserve(['-w', '2', 'app.js'], { cwd: dir });
    expect((await get(g.url)).body).toBe('ok');
    await g.waitForLog(/^Node Warning \(MODULE_TYPELESS_PACKAGE_JSON\): Module type of file:/, { count: 2 });
    const notJson = g.stderr.split('\n').filter((line) => line.trim() && !line.startsWith('{'));
    expect(notJson).toEqual([]);
  });

  it('with --no-log-json the access log on stdout is the text format too', async () => {
    const { g, url } = await startText(['--no-log-json', '--access-logfile', '-', observe]);
    await get(url + '/plain', { headers: { 'user-agent': 'plain/1' } });
    await g.until(() => linesOf(g.stdout).length >= 1, 'an access line');
    expect(linesOf(g.stdout)[0]).toMatch(
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/plain HTTP\/1\.1" 200 \d+ "-" "plain\/1"$/,
    );
    await stop(g);
  });

  it("with --no-log-json and --capture-output the workers' lines are formatted once, not wrapped twice", async () => {
    const { g } = await startText(['--no-log-json', '--capture-output', observe]);
    await stop(g);
    const booted = linesOf(g.stderr).filter((l) => l.includes('Worker ready'));
    expect(booted.length).toBeGreaterThan(0);
    for (const line of booted) expect(line).toMatch(/^\[[^\]]+\] \[\d+\] \[DEBUG\] Worker ready/);
    for (const line of linesOf(g.stderr)) {
      expect(line).toMatch(TEXT_LINE);
      expect(line).not.toMatch(/\+0000\].*\+0000\]/); // one prefix, not the master's around the worker's
    }
    // A line the worker itself wrote (through the captured pipe), with the worker's pid.
    expect(g.stderr).toMatch(/\[(\d+)\] \[INFO\] Worker exiting \(pid: \1\)/);
  });
});
