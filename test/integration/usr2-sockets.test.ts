import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { type IncomingMessage, get as httpGet } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, FIXTURES, ROOT, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { killQuietly, usr2 } from '../helpers/signals.js';

function statusJson(
  socket: string,
): Promise<{ code: number; status?: { master: { pid: number }; workers: Array<{ pid: number }> }; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'status', '--json', '--control-socket', socket],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
          status: err ? undefined : JSON.parse(stdout),
          stderr,
        }),
    );
  });
}

describe('USR2 passes the control socket and the metrics listener to the new master', () => {
  it('after WINCH and TERM of the old master, /metrics and status answer from the new one; none fails', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const socket = join(dir, 'g.ctl');
    const g = await startGserve(
      ['-w', '2', '-p', pidfile, '--metrics-bind', '127.0.0.1:0', join(FIXTURES, 'apps', 'generation')],
      { workers: 2 },
    );
    const metricsUrl = /^Metrics at: (\S+)$/.exec(g.lines.find((l) => l.msg.startsWith('Metrics at: '))!.msg)![1]!;
    expect((await statusJson(socket)).status!.master.pid).toBe(g.pid);

    let newMaster = 0;
    const upgrade = (async () => {
      newMaster = await usr2(g, pidfile);
      g.signal('SIGWINCH');
      await g.waitForLog(/^Worker exited .*: scaled down$/, { count: 2, timeoutMs: 60_000 });
      g.signal('SIGTERM');
      await g.exited;
    })();
    try {
      const result = await runLoad({
        url: g.url,
        total: 2000,
        connections: 10,
        freshEvery: 10,
        header: 'x-served-by',
        until: upgrade,
      });
      await upgrade;
      expect(result.errors).toEqual([]);
      expect([...result.statuses.keys()]).toEqual([200]);
      await waitForExit(g.pid);
      expect(
        g.lines.some((l) => l.pid === newMaster && /^Control socket at: .*taken over from the old master/.test(l.msg)),
      ).toBe(true);
      expect(
        g.lines.some((l) => l.pid === newMaster && /^Metrics at: .*taken over from the old master/.test(l.msg)),
      ).toBe(true);

      const s = await statusJson(socket);
      expect(s.stderr).toBe('');
      expect(s.status!.master.pid).toBe(newMaster);
      const metrics = await get(metricsUrl);
      expect(metrics.status).toBe(200);
      const newWorkers = s.status!.workers.map((w) => w.pid);
      expect(newWorkers.length).toBe(2);
      for (const pid of newWorkers) expect(metrics.body).toContain(`pid="${pid}"`);
    } finally {
      if (newMaster) killQuietly(newMaster);
    }
  });

  it("a new master that exits after WINCH took the old one's workers: the old one says it has none, and HUP serves again", async () => {
    const pidfile = join(tempDir(), 'g.pid');
    const g = await startGserve(['-p', pidfile, join(FIXTURES, 'apps', 'generation')]);
    const newMaster = await usr2(g, pidfile);
    try {
      g.signal('SIGWINCH');
      await g.waitForLog(/^Worker exited .*: scaled down$/);
      process.kill(newMaster, 'SIGTERM');
      // Its listeners still take connections, and no one answers them: the log must say so, and the fix.
      await g.waitForLog(
        /^The new master \(pid: \d+\) exited \(.*\); this master stays in charge with no workers \(WINCH stopped them\): send HUP or TTIN to serve again, or TERM to stop$/,
      );
      g.signal('SIGHUP');
      expect((await get(g.url)).status).toBe(200);
    } finally {
      killQuietly(newMaster);
    }
  });

  it('a new master that exits hands the control socket and the metrics back to the old one', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const socket = join(dir, 'g.ctl');
    const g = await startGserve(['-p', pidfile, '--metrics-bind', '127.0.0.1:0', join(FIXTURES, 'apps', 'generation')]);
    const metricsUrl = /^Metrics at: (\S+)$/.exec(g.lines.find((l) => l.msg.startsWith('Metrics at: '))!.msg)![1]!;
    const newMaster = await usr2(g, pidfile);
    expect((await statusJson(socket)).status!.master.pid).toBe(newMaster);
    process.kill(newMaster, 'SIGTERM');
    await g.waitForLog(/^The new master .* exited/);
    await g.waitForLog(/^Metrics at: /, { count: 3 });
    await g.until(
      () => g.lines.filter((l) => l.pid === g.pid && l.msg.startsWith('Control socket at: ')).length >= 2 || undefined,
      "the old master's control socket again",
    );
    expect((await statusJson(socket)).status!.master.pid).toBe(g.pid);
    expect((await get(metricsUrl)).status).toBe(200);
  });

  it('USR2 during a graceful stop is ignored: no new master outlives the stop', async () => {
    const pidfile = join(tempDir(), 'g.pid');
    const g = await startGserve(['-p', pidfile, join(FIXTURES, 'apps', 'node-pid')]);
    // A request in flight (its head is out, its body comes in 1.5 s) keeps the stop graceful a while.
    const slow = await new Promise<IncomingMessage>((resolve, reject) =>
      httpGet(`${g.url}/slow?ms=1500`, resolve).on('error', reject),
    );
    let body = '';
    slow.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    const slowEnded = once(slow, 'end');
    g.signal('SIGTERM');
    await g.waitForLog(/^Handling signal: term/);
    g.signal('SIGUSR2');
    await g.waitForLog(/^USR2 ignored: this master is stopping$/);
    await slowEnded;
    expect(body).toMatch(/^slow done/);
    expect((await g.exited).code).toBe(0);
    expect(g.lines.some((l) => l.msg.startsWith('Started a new master'))).toBe(false);
  });
});
