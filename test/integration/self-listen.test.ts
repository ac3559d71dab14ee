import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { FIXTURES, startGserve, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { freePort } from '../helpers/ports.js';

const app = join(FIXTURES, 'apps', 'express-self-listen.js');

function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('data', () => (s.destroy(), resolve('answered')));
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function pidsAnswering(port: number, n: number): Promise<Set<number>> {
  const pids = new Set<number>();
  const deadline = Date.now() + 30_000;
  while (pids.size < n && Date.now() < deadline)
    pids.add(JSON.parse((await get(`http://127.0.0.1:${port}/`)).body).pid);
  return pids;
}

async function start(workers: number, extra: string[] = []): Promise<{ g: Gserve; port: number }> {
  const port = await freePort();
  const g = await startGserve(['-w', String(workers), '-e', `APP_PORT=${port}`, ...extra, app], {
    workers,
    env: { APP_PORT: String(port) },
  });
  return { g, port };
}

describe('an app that listens itself (PM2 style)', () => {
  it("is answered by every worker on its own port, logged once; gserve's --bind is refused", async () => {
    const { g, port } = await start(3);
    const pids = await pidsAnswering(port, 3);
    expect(pids).toEqual(new Set(g.workerPids));
    const said = g.lines.filter((l) => l.msg.startsWith('The app listens itself on '));
    expect(said).toHaveLength(1);
    expect(said[0]!.msg).toContain(`127.0.0.1:${port}`);
    expect(said[0]!.pid).toBe(g.pid);
    expect(await refused(g.port)).toBe('ECONNREFUSED');
  });

  it('exits 3 naming the port when the port the app listens on is taken, instead of serving nothing', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as net.AddressInfo;
    try {
      const r = await runCli(['-b', '127.0.0.1:0', '-w', '2', app], { env: { APP_PORT: String(port) } });
      expect(r).toMatchObject({ code: 3, killed: false });
      expect(r.stderr).toMatch(
        new RegExp(
          `The app's own server cannot listen at 127\\.0\\.0\\.1:${port}: EADDRINUSE\\. Stop the other server`,
        ),
      );
    } finally {
      taken.close();
    }
  });

  it('passes --check-config, and runs under --preload: the master closes the server the check opened', async () => {
    const port = await freePort();
    const check = await runCli(['--check-config', app], { env: { APP_PORT: String(port) } });
    expect(check).toMatchObject({ code: 0, killed: false });
    expect(check.stdout).toMatch(/loads and opens a server of its own, which each worker will run/);
    const { g, port: served } = await start(2, ['--preload']);
    expect(await pidsAnswering(served, 2)).toEqual(new Set(g.workerPids));
  });

  it('survives HUP under load with no failed request, and TERM drains it', async () => {
    const { g, port } = await start(2);
    await pidsAnswering(port, 2);
    const before = new Set(g.workerPids);
    const reloads = (async () => {
      g.signal('SIGHUP');
      await g.waitForLog(/^Reloaded: generation \d+ is serving/, { timeoutMs: 90_000 });
      await g.waitForLog(/^Worker exited .*: reloaded$/, { count: 2, timeoutMs: 60_000 });
    })();
    const result = await runLoad({
      url: `http://127.0.0.1:${port}/`,
      total: 2000,
      connections: 10,
      freshEvery: 10,
      until: reloads,
    });
    await reloads;
    expect(result.errors).toEqual([]);
    expect([...result.statuses.keys()]).toEqual([200]);
    const after = await pidsAnswering(port, 2);
    for (const pid of after) expect(before.has(pid)).toBe(false);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
    expect(await refused(port)).toBe('ECONNREFUSED');
  }, 180_000); // two generations of workers boot on a shared, loaded machine
});
