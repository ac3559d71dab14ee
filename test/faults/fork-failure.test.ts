import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, startGserve, tempDir, waitForExit, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

/**
 * A fork can fail. With the master out of descriptors (`ulimit -n` in a child shell, idle
 * connections to its control socket holding the rest: the sync master holds no more HTTP
 * connections than its limit leaves it, syncHoldLimit()), a worker killed with -9 cannot be replaced at once: the cause is
 * logged and the fork retried; no slot holds a worker without a pid; TERM still finishes.
 */
const apps = join(import.meta.dirname, 'apps');
const ulimit = (n: number) => ['sh', '-c', `ulimit -n ${n} && exec "$@"`, 'sh'];
const openFds = (pid: number) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
};

let sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets = [];
});

/** Opens `n` idle connections (they send nothing) to a port or a unix socket; resolves once each connected or failed. */
async function idle(to: number | string, n: number): Promise<void> {
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const s = typeof to === 'number' ? connect(to, '127.0.0.1', () => resolve()) : connect(to, () => resolve());
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          sockets.push(s);
        }),
    ),
  );
}

function status(sock: string): Promise<{ workers: Array<{ pid: unknown; state: string }> }> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [BIN, 'status', '--json', '--control-socket', sock],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    ),
  );
}

async function termWithin(g: Gserve, ms: number): Promise<number | null> {
  g.signal('SIGTERM');
  const r = await Promise.race([g.exited, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
  return r === null ? null : r.code;
}

describe('a fork that fails', () => {
  it('-k sync out of descriptors: EMFILE is logged and retried, never a pid-less worker; TERM finishes', async () => {
    const sock = join(tempDir(), 'ctl.sock');
    const g = await startGserve(
      ['-k', 'sync', '-w', '2', '--graceful-timeout', '2', '--control-socket', sock, join(apps, 'crashes.js')],
      { wrapper: ulimit(160) },
    );
    await idle(sock, 220); // the master accepts and holds them: its descriptors run out
    await pollUntil(() => openFds(g.pid) >= 150, 'the master near its descriptor limit');
    const victim = [...g.workerPids][0]!;
    process.kill(victim, 'SIGKILL');
    const [failed] = await g.waitForLog(/^Cannot start a worker: EMFILE/);
    expect(failed!.msg).toMatch(/too many open files .*; retrying in \d+ ms$/);
    expect(g.lines.some((l) => /^Booting worker with pid: (?!\d)/.test(l.msg))).toBe(false);
    // The descriptors free up: the retry now starts the replacement.
    for (const s of sockets) s.destroy();
    await g.waitForWorkers(3, 60_000);
    const s = await status(sock);
    expect(s.workers).toHaveLength(2);
    for (const w of s.workers) expect(typeof w.pid).toBe('number');
    expect((await get(g.url)).status).toBe(200);
    expect(await termWithin(g, 20_000)).toBe(0);
  }, 120_000);

  it('-k sync, fork failing while TERM arrives: the master still exits', async () => {
    const sock = join(tempDir(), 'ctl.sock');
    const g = await startGserve(
      ['-k', 'sync', '-w', '2', '--graceful-timeout', '2', '--control-socket', sock, join(apps, 'crashes.js')],
      { wrapper: ulimit(160) },
    );
    await idle(sock, 220);
    await pollUntil(() => openFds(g.pid) >= 150, 'the master near its descriptor limit');
    for (const pid of g.workerPids) process.kill(pid, 'SIGKILL');
    await g.waitForLog(/^Cannot start a worker: EMFILE/, { count: 2 });
    // Both slots wait to retry; the descriptors are still taken.
    expect(await termWithin(g, 20_000)).toBe(0);
    for (const pid of g.workerPids) await waitForExit(pid);
  }, 120_000);

  it('--metrics-bind with hundreds of idle scrapers: the connection cap keeps the master able to fork', async () => {
    const g = await startGserve(['-w', '1', '--metrics-bind', '127.0.0.1:0', join(apps, 'crashes.js')], {
      wrapper: ulimit(160),
    });
    const line = await g.waitForLog(/^Metrics at: /);
    const port = Number(/:(\d+)\/metrics/.exec(line[0]!.msg)![1]);
    await idle(port, 300);
    const victim = [...g.workerPids][0]!;
    process.kill(victim, 'SIGKILL');
    await g.waitForWorkers(2, 60_000);
    expect(g.lines.some((l) => /^Cannot start a worker/.test(l.msg))).toBe(false);
    expect(openFds(g.pid)).toBeLessThan(100);
    for (const s of sockets) s.destroy();
    expect((await get(g.url)).status).toBe(200);
    expect(await termWithin(g, 20_000)).toBe(0);
  }, 120_000);
});
