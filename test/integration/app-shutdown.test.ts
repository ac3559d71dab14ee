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
  it.each(['async', 'sync'])(
    'TERM (-k %s): the exported close() runs after the in-flight request ends, and the request gets its answer',
    async (workerClass) => {
      const log = join(tempDir(), 'audit.log');
      const g = await startGserve(['-k', workerClass, EXAMPLE], { env: { AUDIT_LOG: log } });
      const pid = [...g.workerPids][0]!;
      const inFlight = get(`${g.url}/?ms=${HOLD_MS}`);
      await waitForEvent(log, `${pid} start ${HOLD_MS}`);
      g.signal('SIGTERM');
      expect((await inFlight).body).toBe(`done after ${HOLD_MS} ms\n`);
      expect((await g.exited).code).toBe(0);
      expect(of(pid, events(log))).toEqual([`start ${HOLD_MS}`, `end ${HOLD_MS}`, 'closed after 1 requests']);
      expect(g.lines.some((l) => l.pid === pid && /^Closing the app: the app module\.close\(\)$/.test(l.msg))).toBe(
        true,
      );
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

  it('a close() that never finishes is cut off at --graceful-timeout with an error line', async () => {
    const dir = tempDir();
    const app = join(dir, 'app.mjs');
    writeFileSync(
      app,
      'export const app = (req, res) => res.end("ok");\nexport const close = () => new Promise(() => {});\n',
    );
    // The worker gives up a little before the master's SIGKILL at 3 s, and says so.
    const g = await startGserve([app, '--graceful-timeout', '3']);
    g.signal('SIGTERM');
    await g.waitForLog(/^The app's shutdown did not finish within --graceful-timeout/);
    expect((await g.exited).code).toBe(0);
  });
});
