import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, runGserve, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { missing, missingIpv6 } from '../helpers/needs.js';
import { freePort } from '../helpers/ports.js';

const app = (name: string) => join(FIXTURES, 'apps', name);
const NO_IPV6 = await missingIpv6();

function getUnix(socketPath: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface RawHandle {
  fd: number;
  getsockname(out: { port?: number }): number;
  close(): void;
}
const createServerHandle = (net as unknown as { _createServerHandle: (...a: unknown[]) => RawHandle | number })
  ._createServerHandle;
const handles: RawHandle[] = [];
afterEach(() => {
  for (const h of handles.splice(0)) h.close();
});

/** A bound (not yet listening) TCP socket in this process, the way a parent process or systemd would pass it. */
function boundSocket(): { fd: number; port: number } {
  const handle = createServerHandle('127.0.0.1', 0, 4);
  if (typeof handle === 'number') throw new Error(`bind failed: ${handle}`);
  handles.push(handle);
  const out: { port?: number } = {};
  handle.getsockname(out);
  return { fd: handle.fd, port: out.port! };
}

describe('unix sockets', () => {
  it('serves on unix:PATH and on TCP at once, with --umask, and removes the file at exit', async () => {
    const path = join(tempDir(), 'gserve.sock');
    const g = await startGserve(['-b', '127.0.0.1:0', '-b', `unix:${path}`, '--umask', '007', app('node-peer')]);
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o770);
    const r = await getUnix(path, '/over-unix');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).url).toBe('/over-unix');
    expect((await get(g.url + '/')).status).toBe(200);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it("trusts a unix socket peer's forwarded headers, as Gunicorn does", async () => {
    const path = join(tempDir(), 'proxy.sock');
    await startGserve(['-b', `unix:${path}`, '--forwarded-allow-ips', '10.9.8.7', app('fetch-url')]);
    const r = await new Promise<string>((resolve, reject) => {
      const req = request(
        { socketPath: path, path: '/u', headers: { host: 'site.test', 'x-forwarded-proto': 'https' }, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c) => (body += c));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(r).url).toBe('https://site.test/u');
  });

  it('removes a stale socket file left by a dead server', async () => {
    const path = join(tempDir(), 'stale.sock');
    // A server killed with -9 leaves its socket file behind.
    const dead = spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(dead.signal).toBe('SIGKILL');
    expect(statSync(path).isSocket()).toBe(true);
    await startGserve(['-b', `unix:${path}`, app('fetch-url')]);
    expect((await getUnix(path)).status).toBe(200);
  });

  it('refuses a path a live server answers on, and a path that is not a socket', async () => {
    const dir = tempDir();
    const path = join(dir, 'live.sock');
    const live = net.createServer((s) => s.end()).listen(path);
    await new Promise((r) => live.once('listening', r));
    try {
      const { code, stderr } = await runGserve(['-b', `unix:${path}`, app('fetch-url')]);
      expect(code).toBe(3);
      expect(stderr).toMatch(/another server is listening on this socket/);
      expect(existsSync(path)).toBe(true);
    } finally {
      await new Promise((r) => live.close(r));
    }
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'keep me');
    const { code, stderr } = await runGserve(['-b', `unix:${file}`, app('fetch-url')]);
    expect(code).toBe(3);
    expect(stderr).toMatch(/exists and is not a socket/);
  });

  it('names a missing folder, and refuses a path too long for a socket instead of listening at a cut one', async () => {
    const dir = tempDir();
    const missingFolder = await runGserve(['-b', `unix:${join(dir, 'nope', 'app.sock')}`, app('fetch-url')]);
    expect(missingFolder.code).toBe(3);
    expect(missingFolder.stderr).toContain(`The folder ${join(dir, 'nope')} does not exist`);
    expect(missingFolder.stderr).not.toMatch(/port above 1023/);

    // Node 20 cut such a path at 107 bytes and listened at the cut file, which it then left behind.
    const long = join(dir, `${'x'.repeat(120 - dir.length)}.sock`);
    const { code, stderr } = await runGserve(['-b', `unix:${long}`, app('fetch-url')]);
    expect(code).toBe(3);
    expect(stderr).toMatch(/the path is 1\d\d bytes long, and a unix socket's path may have at most 10[37]/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('inherited sockets', () => {
  it('serves on fd://N handed over by the parent process', async () => {
    const { fd, port } = boundSocket();
    const g = await startGserve(['-b', 'fd://3', '-w', '2', app('node-peer')], { fds: [fd] });
    expect(g.lines.some((l) => l.msg === `Listening at: http://127.0.0.1:${port} (${g.pid})`)).toBe(true);
    const r = await get(`http://127.0.0.1:${port}/fd`);
    expect(r.status).toBe(200);
    expect(g.workerPids.has(JSON.parse(r.body).pid)).toBe(true);
  });

  it.skipIf(missing('systemd-socket-activate'))(
    'uses systemd socket activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) instead of --bind',
    async () => {
      const port = await freePort();
      // systemd-socket-activate listens, then execs gserve at the first connection.
      const g = await startGserve([app('node-peer')], {
        noBind: true,
        workers: 0,
        wrapper: [
          'systemd-socket-activate',
          '-l',
          `127.0.0.1:${port}`,
          '--fdname=web',
          '-E',
          'PATH',
          '-E',
          'HOME',
          '-E',
          'NODE_COMPILE_CACHE',
        ],
      });
      await g.until(() => g.stderr.includes(`Listening on 127.0.0.1:${port}`), 'systemd-socket-activate to listen');
      const r = await get(`http://127.0.0.1:${port}/activated`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).url).toBe('/activated');
      const listening = await g.waitForLog(/^Listening at: /);
      expect(listening[0]!.msg).toBe(`Listening at: systemd fd 3 "web": http://127.0.0.1:${port} (${g.pid})`);
      // --bind's default (127.0.0.1:8000) was not used: only the one listener.
      expect(g.lines.filter((l) => l.msg.startsWith('Listening at: '))).toHaveLength(1);
    },
  );
});

describe('IPv6', () => {
  it.skipIf(NO_IPV6)('listens on [::1]:PORT', async () => {
    const g = await startGserve(['-b', '[::1]:0', app('node-peer')]);
    expect(g.lines.some((l) => /^Listening at: http:\/\/\[::1\]:\d+ /.test(l.msg))).toBe(true);
    const r = await get(`http://[::1]:${g.port}/six`);
    expect(JSON.parse(r.body)).toMatchObject({ remoteAddress: '::1', url: '/six' });
  });
});

describe('host names', () => {
  it('resolves a host name when it binds (node:dns is loaded for it alone), and says which address it took', async () => {
    const g = await startGserve(['-b', 'localhost:0', app('node-peer')]);
    const line = g.lines.find((l) => l.msg.startsWith('Listening at: '))!.msg;
    const address = /^Listening at: http:\/\/(\[[^\]]+\]|[^:]+):\d+ /.exec(line)?.[1];
    expect(['127.0.0.1', '[::1]']).toContain(address);
    const r = await get(`http://${address}:${g.port}/named`);
    expect(JSON.parse(r.body)).toMatchObject({ url: '/named' });
  });

  it('a host name that does not resolve: a message naming it and the fix, exit 3, no stack trace', async () => {
    // .invalid never resolves (RFC 6761).
    const { code, stderr } = await runGserve(['-b', 'nowhere.invalid:0', app('node-peer')]);
    expect(code).toBe(3);
    expect(stderr).toContain(
      'the host name "nowhere.invalid" does not resolve. Use an IP address or a known host name.',
    );
    expect(stderr).toContain('[GSERVE_E_BIND]');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('backlog', () => {
  it.skipIf(missing('ss'))('gives the listen queue the --backlog length', async () => {
    const g = await startGserve(['--backlog', '37', app('fetch-url')]);
    const out = execFileSync('ss', ['-ltnH', `sport = :${g.port}`], { encoding: 'utf8' });
    // For a listening socket, ss shows the backlog in Send-Q.
    expect(out.trim().split(/\s+/).slice(0, 3)).toEqual(['LISTEN', '0', '37']);
  });
});
