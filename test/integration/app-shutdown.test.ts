import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitForEvent, events } from '../helpers/events.js';
import { FIXTURES, ROOT, isAlive, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

// The app's own shutdown (docs/interfaces.md, "Closing the app"): after in-flight requests finish.
const EXAMPLE = join(ROOT, 'examples/graceful-close/app.js');
const SIGNAL_APP = join(FIXTURES, 'apps/signal-listeners.js');
// Long enough that a request in flight is certainly still running when the signal lands.
const HOLD_MS = 1500;

const of = (pid: number, lines: string[]) =>
  lines.filter((l) => l.startsWith(`${pid} `)).map((l) => l.slice(String(pid).length + 1));

describe('the app closes its resources after its requests drain', () => {
  // -k thread: each app thread holds an instance of the app, and closes it: the one that served, and the idle one.
  it.each([
    ['async', [], ['closed after 1 requests']],
    ['sync', [], ['closed after 1 requests']],
    ['thread', ['--threads', '2'], ['closed after 0 requests', 'closed after 1 requests']],
  ])(
    'TERM (-k %s): the exported close() runs after the in-flight request ends, and the request gets its answer',
    async (workerClass, flags, closed) => {
      const log = join(tempDir(), 'audit.log');
      const g = await startGserve(['-k', workerClass, ...flags, EXAMPLE], { env: { AUDIT_LOG: log } });
      // The worker is ready with its first thread; a thread still loading at the stop has nothing to close.
      if (workerClass === 'thread') await g.waitForLog(/^Thread \d+ ready$/, { count: 2 });
      const pid = [...g.workerPids][0]!;
      const inFlight = get(`${g.url}/?ms=${HOLD_MS}`);
      await waitForEvent(log, `${pid} start ${HOLD_MS}`);
      g.signal('SIGTERM');
      expect((await inFlight).body).toBe(`done after ${HOLD_MS} ms\n`);
      expect((await g.exited).code).toBe(0);
      const seen = of(pid, events(log));
      expect(seen.slice(0, 2)).toEqual([`start ${HOLD_MS}`, `end ${HOLD_MS}`]);
      expect(seen.slice(2).sort()).toEqual(closed);
      const closing = g.lines.filter(
        (l) => l.pid === pid && /^Closing the app: the app module\.close\(\)$/.test(l.msg),
      );
      expect(closing).toHaveLength(closed.length);
    },
  );

  it('HUP: the old worker closes after its in-flight request, while the new worker serves', async () => {
    const log = join(tempDir(), 'audit.log');
    const g = await startGserve([EXAMPLE], { env: { AUDIT_LOG: log } });
    const old = [...g.workerPids][0]!;
    const inFlight = get(`${g.url}/?ms=${HOLD_MS}`);
    await waitForEvent(log, `${old} start ${HOLD_MS}`);
    g.signal('SIGHUP');
    expect((await inFlight).body).toBe(`done after ${HOLD_MS} ms\n`);
    await waitForEvent(log, `${old} closed after 1 requests`);
    await waitForExit(old);
    expect(of(old, events(log))).toEqual([`start ${HOLD_MS}`, `end ${HOLD_MS}`, 'closed after 1 requests']);
    expect((await get(`${g.url}/?ms=0`)).body).toBe('done after 0 ms\n');
    expect(isAlive(g.pid)).toBe(true);
  });

  it.each(['SIGTERM', 'SIGHUP'] as const)(
    "%s: the app's own process.on('SIGTERM'/'SIGINT') handlers run once, after the drain",
    async (sig) => {
      const marks = join(tempDir(), 'marks');
      const g = await startGserve([SIGNAL_APP], { env: { MARK_FILE: marks } });
      const pid = [...g.workerPids][0]!;
      const inFlight = get(`${g.url}/?ms=${HOLD_MS}`);
      await waitForEvent(marks, `${pid} start`);
      g.signal(sig);
      expect((await inFlight).body).toBe('done\n');
      await waitForEvent(marks, `${pid} sigint once`);
      await waitForExit(pid);
      // One handler registered for both signals runs once; the SIGINT-only one runs after it.
      expect(of(pid, events(marks))).toEqual(['start', 'end', 'cleanup SIGTERM', 'cleanup done', 'sigint once']);
    },
  );

  it(
    'a TERM sent to the worker itself (systemd KillMode=control-group) does not run the app handler before the ' +
      'drain',
    async () => {
      const marks = join(tempDir(), 'marks');
      const g = await startGserve([SIGNAL_APP], { env: { MARK_FILE: marks } });
      const pid = [...g.workerPids][0]!;
      const inFlight = get(`${g.url}/?ms=${HOLD_MS}`);
      await waitForEvent(marks, `${pid} start`);
      process.kill(pid, 'SIGTERM');
      expect((await inFlight).body).toBe('done\n');
      await waitForExit(pid);
      expect(of(pid, events(marks)).slice(0, 3)).toEqual(['start', 'end', 'cleanup SIGTERM']);
    },
  );

  it.each(['async', 'thread'])(
    "-k %s: a request that never ends no longer keeps the app's close() from running before the timeout",
    async (workerClass) => {
      const dir = tempDir();
      const marks = join(dir, 'marks');
      const app = join(dir, 'app.mjs');
      const mark = (what: string) => `appendFileSync(${JSON.stringify(marks)}, '${what}\\n')`;
      writeFileSync(
        app,
        "import { appendFileSync } from 'node:fs';\n" +
          `export const app = (req, res) => { ${mark('hang')}; };\n` +
          `export const close = () => ${mark('closed')};\n`,
      );
      // It waited for the request, and the master's SIGKILL at the timeout came first.
      const g = await startGserve(['-k', workerClass, '--threads', '1', app, '--graceful-timeout', '3']);
      const hanging = get(g.url).then(
        (r) => r.status,
        () => 'cut',
      );
      await waitForEvent(marks, 'hang');
      g.signal('SIGTERM');
      await g.waitForLog(
        /^Connections still open near --graceful-timeout \(requests, WebSockets\): the app's shutdown runs now$/,
      );
      expect((await g.exited).code).toBe(0);
      expect(events(marks)).toEqual(['hang', 'closed']);
      // Cut with its worker; on -k thread, answered 500 when its thread ends, as when a thread dies.
      expect(await hanging).toBe(workerClass === 'thread' ? 500 : 'cut');
    },
  );

  it.each([
    ['a close() that never finishes', 'async', 'new Promise(() => {})'],
    ['a close() that never finishes', 'thread', 'new Promise(() => {})'],
    // A thread whose loop is blocked cannot even say so: it is ended at the deadline.
    ['a close() that blocks its thread', 'thread', '{ for (;;); }'],
  ])('%s (-k %s) is cut off at --graceful-timeout, and the worker exits 0', async (_what, workerClass, body) => {
    const dir = tempDir();
    const app = join(dir, 'app.mjs');
    const marks = join(dir, 'marks');
    writeFileSync(app, `export const app = (req, res) => res.end("ok");\nexport const close = () => ${body};\n`);
    // The workerExit hook runs last in a worker that ends by itself, never in one the master kills.
    const config = join(dir, 'gserve.config.cjs');
    writeFileSync(
      config,
      `module.exports = { workerExit: () => require('fs').appendFileSync(${JSON.stringify(marks)}, process.pid + ' exit\\n') };\n`,
    );
    // The worker gives up a little before the master's SIGKILL at 3 s, and says so.
    const g = await startGserve(['-c', config, '-k', workerClass, app, '--graceful-timeout', '3']);
    const pid = [...g.workerPids][0]!;
    expect((await get(g.url)).body).toBe('ok');
    g.signal('SIGTERM');
    if (!body.includes('for')) await g.waitForLog(/^The app's shutdown did not finish within --graceful-timeout/);
    expect((await g.exited).code).toBe(0);
    expect(events(marks)).toEqual([`${pid} exit`]);
  });
});
