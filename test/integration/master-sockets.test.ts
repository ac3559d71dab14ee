import net from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, runGserve, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { freePort, portOf } from '../helpers/ports.js';

const app = (name: string) => join(FIXTURES, 'apps', name);
const CLASSES = ['async', 'sync', 'thread'] as const;

const others: net.Server[] = [];
afterEach(async () => {
  await Promise.all(others.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function occupy(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer((c) => c.destroy()).listen(0, '127.0.0.1', () => resolve(portOf(s)));
    others.push(s);
  });
}

describe('the master listens before it says so', () => {
  for (const workerClass of CLASSES) {
    it(`${workerClass}: a request sent the instant "Listening at" is logged gets a 200`, async () => {
      const g = await startGserve(['-k', workerClass, app('node-pid.js')], { workers: 0 });
      await g.waitForLog(/^Listening at: /);
      // No worker may be up yet: the connection waits in the master's backlog until one is.
      const early = get(`${g.url}/`);
      const readyBefore = g.lines.some((l) => /^Worker ready/.test(l.msg));
      const r = await early;
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^pid \d+/);
      // Proves the test exercised the backlog at least when the worker was not ready yet.
      if (!readyBefore) expect(g.lines.some((l) => /^Worker ready/.test(l.msg))).toBe(true);
    });
  }
});

describe('a taken port', () => {
  for (const workerClass of CLASSES) {
    it(`${workerClass}: exits 3 at once, naming the address, before any worker is forked`, async () => {
      const port = await occupy();
      const started = Date.now();
      const { code, stderr, g } = await runGserve(['-k', workerClass, '-b', `127.0.0.1:${port}`, app('node-pid.js')]);
      expect(code).toBe(3);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(stderr).toContain(`Cannot listen at 127.0.0.1:${port}: EADDRINUSE`);
      expect(g.lines.some((l) => /^Listening at/.test(l.msg))).toBe(false);
      expect(g.lines.some((l) => /^Booting worker/.test(l.msg))).toBe(false);
      // The one line is the whole story: no stack trace.
      expect(stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('a unix socket in a folder that does not exist: exits 3 naming the folder, without a misleading EACCES', async () => {
    const path = join(tempDir(), 'missing', 'app.sock');
    const { code, stderr } = await runGserve(['-b', `unix:${path}`, app('node-pid.js')]);
    expect(code).toBe(3);
    expect(stderr).toContain(
      `Cannot listen at unix:${path}: The folder ${dirname(path)} does not exist: create it, or choose another socket path.`,
    );
  });

  it('a second gserve on the same port exits 3 and the first keeps serving on it', async () => {
    const first = await startGserve([app('node-pid.js')]);
    const { code, stderr } = await runGserve(['-b', `127.0.0.1:${first.port}`, app('node-pid.js')]);
    expect(code).toBe(3);
    expect(stderr).toContain(`127.0.0.1:${first.port}`);
    expect((await get(`${first.url}/`)).status).toBe(200);
  });

  it('an inherited socket that is not bound (fd://N) is refused, never listened on at a random port', async () => {
    // A bind to a taken port leaves an unbound socket behind: libuv defers the error to listen.
    const port = await occupy();
    const createServerHandle = (
      net as unknown as { _createServerHandle: (...a: unknown[]) => { fd: number; close(): void } }
    )._createServerHandle;
    const unbound = createServerHandle('127.0.0.1', port, 4);
    try {
      const { code, stderr, g } = await runGserve(['-b', 'fd://3', app('node-pid.js')], { fds: [unbound.fd] });
      expect(code).toBe(3);
      expect(stderr).toContain('Cannot listen at fd://3: the inherited socket is not bound to an address');
      expect(g.lines.some((l) => /^Booting worker/.test(l.msg))).toBe(false);
    } finally {
      unbound.close();
    }
  });

  it('fd://N with no socket on that descriptor says so, and how to pass one', async () => {
    const { code, stderr } = await runGserve(['-b', 'fd://9', app('node-pid.js')]);
    expect(code).toBe(3);
    expect(stderr).toMatch(
      /Cannot listen at fd:\/\/9: descriptor 9 is not a socket gserve inherited \(E[A-Z]+\)\. Start gserve from/,
    );
  });

  it('one taken port among several binds fails the whole start', async () => {
    const port = await occupy();
    const { code, stderr } = await runGserve(['-b', '127.0.0.1:0', '-b', `127.0.0.1:${port}`, app('node-pid.js')]);
    expect(code).toBe(3);
    expect(stderr).toContain(`127.0.0.1:${port}`);
  });

  it('a port an earlier --bind already takes names that bind, not "the other server"', async () => {
    const port = await freePort();
    for (const [first, second] of [
      [`127.0.0.1:${port}`, `127.0.0.1:${port}`],
      [`0.0.0.0:${port}`, `localhost:${port}`],
    ]) {
      const { code, stderr } = await runGserve(['-b', first!, '-b', second!, app('node-pid.js')]);
      expect(code).toBe(3);
      expect(stderr).toContain(
        `Cannot listen at ${second}: the --bind ${first} given before it already takes port ${port}. Give each address once`,
      );
    }
  });
});

/** Connects and sends one GET; resolves with the status, or the error code (never hangs on a healthy server). */
function attempt(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () =>
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    );
    let data = '';
    socket.setEncoding('utf8').on('data', (c) => (data += c));
    socket.on('end', () => resolve(data.split(' ')[1] ?? 'empty'));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** A request to /slow whose response head has arrived: the worker is busy with it. */
async function slowInFlight(port: number): Promise<{ done: Promise<string>; finished: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1', () =>
    socket.write('GET /slow?ms=15000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  let data = '';
  let ended = false;
  socket.setEncoding('utf8');
  const head = new Promise<void>((resolve) =>
    socket.on('data', (c: string) => ((data += c), data.includes('\r\n\r\n') && resolve())),
  );
  const done = new Promise<string>((resolve) => socket.on('close', () => ((ended = true), resolve(data))));
  await head;
  return { done, finished: () => ended };
}

describe('TERM and the backlog', () => {
  for (const workerClass of ['async', 'sync'] as const) {
    it(`${workerClass}: once the stop began, new connections are refused at once, not queued and reset`, async () => {
      const g = await startGserve(['-k', workerClass, '--graceful-timeout', '60', app('node-pid.js')]);
      const slow = await slowInFlight(g.port);
      g.signal('SIGTERM');
      await g.waitForLog(/^Worker exiting/);
      const outcome = await attempt(g.port);
      // Decided while the slow request still runs: no client waits for the drain to end.
      expect(slow.finished()).toBe(false);
      expect(outcome).toBe('ECONNREFUSED');
      expect(await slow.done).toMatch(/slow done \d+/);
      expect((await g.exited).code).toBe(0);
    });
  }
});
