import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, FIXTURES, ROOT, isAlive, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';
import { sendRaw } from '../helpers/raw.js';

const app = join(FIXTURES, 'apps', 'observe') + ':app';

/** Runs `gserve <args>` (a control command) to completion. */
function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** What `gserve status --json` prints. */
interface Status {
  master: {
    pid: number;
    bind: string[];
    workerClass: string;
    workers: number;
    uptime: number;
    generation: number;
    stopping: boolean;
  };
  workers: Array<{
    pid: number;
    state: string;
    served: number;
    inFlight: number;
    rss: number;
    uptime: number;
    restarts: number;
  }>;
  restarts: Record<string, number>;
}

async function statusJson(args: string[]): Promise<Status> {
  const r = await cli(['status', '--json', ...args]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

describe('control socket', () => {
  it('answers gserve status with a table and --json, on a 0600 socket next to the pidfile', async () => {
    const dir = tempDir();
    const pid = join(dir, 'app.pid');
    const g = await startGserve(['-w', '2', '--pid', pid, app]);
    const socket = join(dir, 'app.ctl');
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    await get(g.url + '/');

    const table = await cli(['status', '--pid', pid]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^master ${g.pid} .*up \\d+s`, 'm'));
    expect(table.stdout).toContain(`bind: ${g.url}`);
    expect(table.stdout).toMatch(/worker class: async +workers: 2/);
    expect(table.stdout).toMatch(/^PID +STATE +REQUESTS +IN-FLIGHT +RSS +UPTIME +RESTARTS$/m);
    for (const w of g.workerPids)
      expect(table.stdout).toMatch(new RegExp(`^${w} +(ready|busy) +\\d+ +\\d+ +[\\d.]+ MiB +\\d+s +0$`, 'm'));

    // Counters arrive in the workers' next report.
    const s = await pollUntil(async () => {
      const s = await statusJson(['--pid', pid]);
      return s.workers.reduce((n, w) => n + w.served, 0) >= 1 && s;
    }, 'the served request in status');
    expect(s.master).toMatchObject({ pid: g.pid, bind: [g.url], workerClass: 'async', workers: 2 });
    expect(s.workers.map((w) => w.pid).sort()).toEqual([...g.workerPids].sort());
    for (const w of s.workers) expect(w.rss).toBeGreaterThan(1_000_000);
  });

  it('shows a worker busy with a request in flight', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    const g = await startGserve(['--control-socket', sock, app]);
    const held = new Promise<string>((resolve, reject) => {
      request(g.url + '/hold', { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    held.catch(() => {}); // awaited below; if the test fails before that, its rejection must not surface twice
    const busy = await pollUntil(async () => {
      const s = await statusJson(['--control-socket', sock]);
      return s.workers.find((w) => w.state === 'busy' && w.inFlight === 1);
    }, 'a busy worker');
    expect(g.workerPids.has(busy.pid)).toBe(true);
    await get(g.url + '/release');
    expect(await held).toBe('released\n');
    await pollUntil(
      async () => (await statusJson(['--control-socket', sock])).workers.every((w) => w.state === 'ready'),
      'the worker ready again',
    );
  });

  const THROWS = {
    fetch:
      "export default { fetch(req) { if (req.url.endsWith('/throw')) throw new Error('boom'); return new Response('ok'); } };\n",
    node: "export const app = (req, res) => { if (req.url === '/throw') throw new Error('boom'); res.end('ok'); };\n",
  };
  it.each([
    ['async', 'fetch'],
    ['thread', 'node'],
  ] as const)(
    'counts a request pipelined behind a closing answer out (-k %s, %s app): in flight back to 0, not -1',
    async (workerClass, kind) => {
      const dir = tempDir();
      const sock = join(dir, 'c.sock');
      writeFileSync(join(dir, 'app.mjs'), THROWS[kind]);
      const g = await startGserve(['-k', workerClass, '--control-socket', sock, join(dir, 'app.mjs')]);
      for (let i = 0; i < 2; i++) {
        // The 500 closes the connection; the request behind it was read, and never reaches the app.
        const { data } = await sendRaw(
          g.port,
          'GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
        );
        expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 500 /);
      }
      expect((await get(g.url + '/c')).body).toBe('ok');
      const worker = await pollUntil(async () => {
        const [w] = (await statusJson(['--control-socket', sock])).workers;
        return w!.served >= 3 && w;
      }, 'the three answers counted');
      expect(worker).toMatchObject({ inFlight: 0, state: 'ready' });
    },
  );

  it('scales to N, +N and -N, reporting when the workers serve', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    const g = await startGserve(['--control-socket', sock, app]);
    const up = await cli(['scale', '+2', '--control-socket', sock]);
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^Scaled to 3 workers: \d+, \d+, \d+/);
    let s = await statusJson(['--control-socket', sock]);
    expect(s.master.workers).toBe(3);
    expect(s.workers.map((w) => w.state)).toEqual(['ready', 'ready', 'ready']);
    const down = await cli(['scale', '-1', '--control-socket', sock]);
    expect(down.stdout).toMatch(/^Scaled to 2 workers/);
    const exact = await cli(['scale', '1', '--control-socket', sock]);
    expect(exact.stdout).toMatch(/^Scaled to 1 worker: \d+/); // singular
    s = await statusJson(['--control-socket', sock]);
    expect(s.workers).toHaveLength(1);
    expect((await get(g.url)).status).toBe(200);
    const bad = await cli(['scale', '-5', '--control-socket', sock]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^gserve: error: cannot scale to -4 workers; at least 1 must run/);
    const huge = await cli(['scale', '100000', '--control-socket', sock]);
    expect(huge.code).toBe(1);
    expect(huge.stderr).toMatch(/cannot scale to 100000 workers; 1024 is the most one master runs/);
    const junk = await cli(['scale', 'many', '--control-socket', sock]);
    expect(junk.stderr).toMatch(/scale takes N, \+N or -N, got "many"/);
    expect(junk.code).toBe(2); // a usage error, like every wrong argument; 1 is for a master that said no
  });

  it('a scale that a reload overtakes says so at once (it waited 60 s, then said "not finished")', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    const gate = join(dir, 'gate');
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("v1");\n');
    const g = await startGserve(['--control-socket', sock, 'app.mjs'], { cwd: dir });
    // The reloaded app loads only once the gate file exists: the reload is under way until then.
    writeFileSync(
      join(dir, 'app.mjs'),
      'import { existsSync } from "node:fs";\n' +
        `while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));\n` +
        'export const app = (req, res) => res.end("v2");\n',
    );
    g.signal('SIGHUP');
    await g.waitForLog(/^Booting worker/, { count: 2 });
    const scaling = cli(['scale', '3', '--control-socket', sock]);
    await g.waitForLog(/^Control socket: scale from 1 to 3 workers/);
    writeFileSync(gate, '');
    await g.waitForLog(/^Reloaded: generation 1 is serving/);
    const scaled = await scaling;
    expect(scaled.code).toBe(1);
    expect(scaled.stderr).toMatch(/a reload set the worker count back to 1 \(the workers setting\) while scaling/);
    expect((await get(g.url)).body).toBe('v2');
  });

  it('a reload that a TERM interrupts says the master is stopping, not that the old workers keep serving', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("v1");\n');
    const g = await startGserve(['--control-socket', sock, 'app.mjs'], { cwd: dir });
    // The reloaded app never finishes loading: the reload is under way until the TERM.
    writeFileSync(join(dir, 'app.mjs'), 'await new Promise(() => setInterval(() => {}, 1000));\n');
    const reloading = cli(['reload', '--control-socket', sock]);
    await g.waitForLog(/^Booting worker/, { count: 2 });
    g.signal('SIGTERM');
    const r = await reloading;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reload abandoned: the master is stopping/);
    expect((await g.exited).code).toBe(0);
  });

  it('during a graceful stop, a scale says the master is stopping, and a HUP is logged as ignored', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    const gate = join(dir, 'gate');
    // A request that lasts until the gate file exists holds the stop open for as long as the test needs.
    writeFileSync(
      join(dir, 'app.mjs'),
      'import { existsSync } from "node:fs";\n' +
        'export const app = async (req, res) => {\n' +
        `  while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));\n` +
        '  res.end("done");\n};\n',
    );
    const g = await startGserve(['--control-socket', sock, 'app.mjs'], { cwd: dir });
    const held = get(g.url);
    await g.until(() => existsSync(sock), 'the control socket');
    const busy = () => statusJson(['--control-socket', sock]).then((s) => s.workers.some((w) => w.inFlight === 1));
    await pollUntil(busy, 'the request in flight');
    g.signal('SIGTERM');
    await g.waitForLog(/^Handling signal: term$/);
    const scaled = await cli(['scale', '3', '--control-socket', sock]);
    expect(scaled.code).toBe(1);
    expect(scaled.stderr).toMatch(/cannot scale: the master is stopping/);
    const status = await cli(['status', '--control-socket', sock]);
    expect(status.stdout).toMatch(/^master \d+ .* STOPPING\nbind: \(closed: the master is stopping/);
    expect((await statusJson(['--control-socket', sock])).master).toMatchObject({ stopping: true });
    g.signal('SIGHUP');
    await g.waitForLog(/^HUP ignored: this master is stopping$/);
    writeFileSync(gate, '');
    expect((await held).body).toBe('done');
    expect((await g.exited).code).toBe(0);
  });

  it('a relative --pid under --chdir puts the control socket beside the pidfile, where the CLI looks', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'app.mjs'), 'export const app = (req, res) => res.end("ok");\n');
    const g = await startGserve(['--chdir', 'sub', '-p', 'rel.pid', 'app.mjs'], { cwd: dir });
    expect(existsSync(join(dir, 'sub', 'rel.pid'))).toBe(true);
    const status = await cli(['status', '--json', '-p', join(dir, 'sub', 'rel.pid')]);
    expect(status.stderr).toBe('');
    expect(JSON.parse(status.stdout).master.pid).toBe(g.pid);
    expect(g.stderr).not.toMatch(/cannot listen/);
  });

  it('a socket or pidfile named on the command line reaches the master past a config file that never loads', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("ok");\n');
    const g = await startGserve(['--control-socket', sock, 'app.mjs'], { cwd: dir });
    // Written after the start: the master never read it. Its top-level await never settles.
    writeFileSync(join(dir, 'gserve.config.mjs'), 'await new Promise(() => {});\nexport default {};\n');
    const status = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [BIN, 'status', '--json', '--control-socket', sock],
        { cwd: dir },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(status.stderr).toBe('');
    expect(JSON.parse(status.stdout).master.pid).toBe(g.pid);
  });

  it('reloads: new workers serve, the old ones are gone, and the reply comes when done', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    const g = await startGserve(['-w', '2', '--control-socket', sock, app]);
    const old = [...g.workerPids];
    const r = await cli(['reload', '--control-socket', sock]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Reloaded: generation 1 serving, workers \d+, \d+/);
    const s = await statusJson(['--control-socket', sock]);
    expect(s.master.generation).toBe(1);
    for (const w of s.workers) expect(old).not.toContain(w.pid);
    for (const pid of old) await waitForExit(pid);
    expect(s.workers.every((w) => w.restarts === 1)).toBe(true);
    expect(s.restarts.reload).toBe(2);
  });

  it('bounds what clients can make the master hold: replies left unread, and connections at once', async () => {
    const dir = tempDir();
    const sock = join(dir, 'c.sock');
    await startGserve(['--control-socket', sock, app]);
    const opened = async (): Promise<Socket> => {
      const socket = connect(sock);
      await once(socket, 'connect');
      return socket;
    };
    // 1000 requests in one write, faster than any reply: each reply (a kilobyte of status) was kept
    // until read, about 18 MB/s of the master's memory for a client that never reads.
    const flood = await opened();
    let replies = 0;
    flood.setEncoding('utf8').on('data', (chunk: string) => (replies += chunk.split('\n').length - 1));
    flood.write('{"cmd":"status"}\n'.repeat(1000));
    await once(flood, 'close');
    expect(replies).toBeLessThan(1000);
    // Each client holds a descriptor the master also needs to fork workers: 64 at once, then a refusal.
    const held = await Promise.all(Array.from({ length: 64 }, opened));
    const extra = await opened();
    const [refusal] = (await once(extra.setEncoding('utf8'), 'data')) as [string];
    expect(JSON.parse(refusal)).toEqual({ ok: false, error: 'too many control clients at once; try again' });
    for (const socket of held) socket.destroy();
    await pollUntil(async () => (await cli(['status', '--control-socket', sock])).code === 0, 'status to answer again');
  });

  it('stop waits for the master to exit; stop --fast too', async () => {
    const dir = tempDir();
    for (const fast of [false, true]) {
      const sock = join(dir, `c${fast}.sock`);
      const g = await startGserve(['--control-socket', sock, app]);
      const r = await cli(['stop', '--control-socket', sock, ...(fast ? ['--fast'] : [])]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Stopped master ${g.pid} `));
      expect(isAlive(g.pid)).toBe(false);
      expect((await g.exited).code).toBe(0);
      expect(g.lines.some((l) => l.msg === `Handling signal: ${fast ? 'quit' : 'term'}`)).toBe(true);
    }
  });

  it('status gives up on a master that does not answer (SIGSTOP); top ends quietly when its reader leaves', async () => {
    const sock = join(tempDir(), 'c.sock');
    const g = await startGserve(['--control-socket', sock, app]);
    process.kill(g.pid, 'SIGSTOP');
    try {
      const r = await cli(['status', '--control-socket', sock]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/took the request but has not answered within 10 s: it is stopped \(SIGSTOP\)/);
    } finally {
      process.kill(g.pid, 'SIGCONT');
    }
    // `gserve top | head -1`: the pipe closes after the first frame; EPIPE is the end, not a crash.
    const top = spawn(process.execPath, [BIN, 'top', '--control-socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    top.stderr.on('data', (d: Buffer) => (stderr += d));
    await once(top.stdout, 'data');
    top.stdout.destroy();
    const [code] = await once(top, 'exit');
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('serves without a control socket whose path is too long, and says so (no socket at a cut path)', async () => {
    const dir = tempDir();
    const sock = join(dir, `${'c'.repeat(120 - dir.length)}.ctl`);
    const g = await startGserve(['--control-socket', sock, app]);
    await g.waitForLog(/^Control socket .*: the path is 1\d\d bytes long, .*Set a shorter --control-socket\.$/);
    expect((await get(`${g.url}/`)).status).toBe(200);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('serves without a control socket whose folder is missing, and names the folder (not EACCES)', async () => {
    const missing = join(tempDir(), 'gone');
    const g = await startGserve(['--control-socket', join(missing, 'x.ctl'), app]);
    await g.waitForLog(
      new RegExp(`^Control socket .*: cannot listen \\(The folder ${missing} does not exist: create it, or choose`),
    );
    expect((await get(`${g.url}/`)).status).toBe(200);
  });

  it.skipIf(process.getuid?.() !== 0)(
    "a socket another user made beside root's pidfile is not talked to (exit 2, nothing heard); beside that user's own pidfile it is (sudo)",
    async () => {
      const dir = tempDir();
      const path = join(dir, 'app.ctl');
      const heard: string[] = [];
      const standIn = createServer((s) =>
        s.on('data', (d) => {
          heard.push(String(d));
          s.destroy();
        }),
      );
      await new Promise<void>((resolve) => standIn.listen(path, resolve));
      try {
        chownSync(path, 65534, 65534); // as if nobody had made it first
        const r = await cli(['stop', '--pid', join(dir, 'app.pid')]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(
          /^gserve: error: the control socket .*app\.ctl belongs to uid 65534, not to you \(uid 0\)/,
        );
        expect(heard).toEqual([]);
        // A master run as nobody, whose pidfile and socket are both nobody's: root may talk to it (sudo).
        writeFileSync(join(dir, 'app.pid'), '4242\n');
        chownSync(join(dir, 'app.pid'), 65534, 65534);
        await cli(['status', '--pid', join(dir, 'app.pid')]);
        expect(heard.join('')).toMatch(/"status"/);
      } finally {
        standIn.close();
      }
    },
  );

  it('removes the default sockets that masters killed with -9 left, and keeps a live one', async () => {
    const env = { XDG_RUNTIME_DIR: tempDir() };
    const socketOf = async (g: Awaited<ReturnType<typeof startGserve>>) =>
      (await g.waitForLog(/^Control socket at: /))[0]!.msg.slice('Control socket at: '.length);
    // Started in other folders, so each has a socket of its own name.
    const dead = await startGserve([app], { env, cwd: tempDir() });
    const live = await startGserve([app], { env, cwd: tempDir() });
    const [deadSocket, liveSocket] = [await socketOf(dead), await socketOf(live)];
    dead.child.kill('SIGKILL');
    await dead.exited;
    // Sockets younger than 10 s are left alone (a master may be between bind and listen): age them.
    const old = new Date(Date.now() - 60_000);
    for (const path of [deadSocket, liveSocket]) utimesSync(path, old, old);

    const third = await startGserve([app], { env });
    await third.waitForLog(/^Removed 1 control socket\(s\) left by masters that are gone$/);
    expect(existsSync(deadSocket)).toBe(false);
    expect(existsSync(liveSocket)).toBe(true);
    expect(isAlive(live.pid)).toBe(true);
  });

  it('finds the default socket in $XDG_RUNTIME_DIR, replaces a stale one, says when no master answers', async () => {
    const runtime = tempDir();
    const first = await startGserve([app], { env: { XDG_RUNTIME_DIR: runtime } });
    first.child.kill('SIGKILL'); // leaves its socket behind
    await first.exited;
    const second = await startGserve([app], { env: { XDG_RUNTIME_DIR: runtime } });
    await second.waitForLog(
      new RegExp(`^Control socket at: ${join(runtime, 'gserve')}/[0-9a-f]{10}-[0-9a-f]{10}\\.ctl$`),
    );
    const found = await cli(['status', '--json'], { XDG_RUNTIME_DIR: runtime });
    expect(JSON.parse(found.stdout).master.pid).toBe(second.pid);

    const none = await cli(['status', '--control-socket', join(runtime, 'nothing.sock')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^gserve: error: no gserve master answers on .*nothing\.sock \(ENOENT\)\. Is it running\?/,
    );
    expect(none.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});

describe('status and the access log with every worker class', () => {
  for (const klass of ['sync', 'thread']) {
    it(`counts and logs requests served by the ${klass} class`, async () => {
      const sock = join(tempDir(), 'c.sock');
      const g = await startGserve([
        '-k',
        klass,
        '--control-socket',
        sock,
        '--access-logfile',
        '-',
        '--no-access-log-json',
        app,
      ]);
      for (let i = 0; i < 3; i++) expect((await get(g.url + '/k?i=' + i)).status).toBe(200);
      const s = await pollUntil(async () => {
        const s = await statusJson(['--control-socket', sock]);
        return s.workers[0]!.served === 3 && s;
      }, 'three requests in status');
      expect(s.master.workerClass).toBe(klass);
      await g.until(
        () => g.stdout.split('\n').filter((l) => /"GET \/k\?i=\d HTTP\/1\.1" 200 11 /.test(l)).length === 3,
        'three access lines',
      );
    });
  }
});
