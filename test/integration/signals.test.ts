import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, isAlive, startGserve, tempDir, waitForExit, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';
import { killQuietly, usr2 } from '../helpers/signals.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';

/**
 * docs/signals.md, row by row: the real signal to the real master. Supervision rules
 * (heartbeats, recycling, crash loops, pidfile, hooks) are in supervision.test.ts, and the
 * zero-drop runs in zero-drop.test.ts.
 */

const app = (name: string) => join(FIXTURES, 'apps', name);

/** Starts a request to /slow and resolves once its head arrived; `body` settles when it ends or breaks. */
function slowRequest(url: string, ms: number): Promise<{ body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/slow?ms=${ms}`, { agent: false }, (res) => {
      const body = new Promise<string>((done) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => done(text));
        res.on('error', () => done(`${text}<cut>`));
        res.on('aborted', () => done(`${text}<cut>`));
      });
      resolve({ body });
    });
    req.on('error', reject);
    req.end();
  });
}

const workersReady = (g: Gserve) => g.lines.filter((l) => /^Worker ready/.test(l.msg)).length;
const exitsOf = (g: Gserve) => g.lines.filter((l) => /^Worker exited/.test(l.msg)).length;

describe('signals', () => {
  it('TERM: graceful stop lets the in-flight request finish, then exits 0 and frees the pidfile', async () => {
    const pid = join(tempDir(), 'g.pid');
    const g = await startGserve(['-p', pid, app('node-pid')]);
    expect(readFileSync(pid, 'utf8').trim()).toBe(String(g.pid));
    const slow = await slowRequest(g.url, 1500);
    g.signal('SIGTERM');
    expect(await slow.body).toMatch(/^slow done \d+/);
    expect((await g.exited).code).toBe(0);
    expect(g.lines.some((l) => l.msg === 'Handling signal: term')).toBe(true);
    expect(existsSync(pid)).toBe(false);
  });

  it.each(['SIGINT', 'SIGQUIT'] as const)('%s: fast stop cuts in-flight requests and exits 0', async (sig) => {
    const g = await startGserve([app('node-pid')]);
    const slow = await slowRequest(g.url, 60_000);
    g.signal(sig);
    expect(await slow.body).toMatch(/<cut>$/);
    expect((await g.exited).code).toBe(0);
    for (const pid of g.workerPids) await waitForExit(pid);
  });

  it(
    'HUP: new workers serve the edited app with the new config; bind changes are reported; ' +
      'old workers stop gracefully',
    async () => {
      const dir = tempDir();
      const writeApp = (text: string) =>
        writeFileSync(
          join(dir, 'app.mjs'),
          `export const app = (req, res) => res.end(${JSON.stringify(text)} + ' ' + ` +
            `process.env.GSERVE_WORKER_GENERATION);\n`,
        );
      const writeConfig = (values: object) =>
        writeFileSync(
          join(dir, 'gserve.config.json'),
          JSON.stringify({ app: 'app.mjs', bind: ['127.0.0.1:0'], ...values }),
        );
      writeApp('v1');
      writeConfig({ workers: 1 });
      const g = await startGserve([], { cwd: dir, noBind: true });
      const url = g.url;
      expect((await get(url)).body).toBe('v1 0');

      writeApp('v2');
      writeConfig({ workers: 2, bind: ['127.0.0.1:1'] });
      g.signal('SIGHUP');
      await g.waitForLog(/^Reloaded: generation 1 is serving/);
      await g.until(() => exitsOf(g) >= 1, 'the old worker to exit');
      expect(
        g.lines.some((l) =>
          l.msg.startsWith(
            'Setting "bind" changed (["127.0.0.1:0"] -> ["127.0.0.1:1"]) ' +
              'but needs a stop and start to apply; still using',
          ),
        ),
      ).toBe(true);
      expect(g.lines.filter((l) => /^Worker exited .*: reloaded$/.test(l.msg))).toHaveLength(1);
      expect(workersReady(g)).toBe(3); // one of generation 0, two of generation 1
      expect((await get(url)).body).toBe('v2 1'); // same port: the listener never closed
    },
  );

  it('HUP with an app that no longer loads keeps the old workers serving', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("fine");\n');
    const g = await startGserve(['app.mjs'], { cwd: dir });
    writeFileSync(join(dir, 'app.mjs'), 'throw new Error("broken deploy");\n');
    g.signal('SIGHUP');
    await g.waitForLog(/^Reload failed, keeping the 1 worker of generation 0: .*broken deploy/);
    expect((await get(g.url)).body).toBe('fine');
    writeFileSync(
      join(dir, 'app.mjs'),
      'export const app = (req, res) => res.end("fixed " + process.env.GSERVE_WORKER_GENERATION);\n',
    );
    g.signal('SIGHUP');
    await g.waitForLog(/^Reloaded: generation 2 is serving/); // the failed generation's number is not reused
    // The old worker may take a last connection until it has stopped accepting; wait for it to go.
    await g.waitForLog(/^Worker exited .*: reloaded$/);
    expect((await get(g.url)).body).toBe('fixed 2');
    expect(isAlive(g.pid)).toBe(true);
  });

  it('TERM on -k sync answers the requests still waiting for a worker with 503 (never run), not a silent close', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--log-level', 'debug', app('node-pid')]);
    const slow = await slowRequest(g.url, 1500); // the one worker is busy
    const waiting = [1, 2].map(() => sendRaw(g.port, 'POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi'));
    await g.waitForLog(/^2 request\(s\) wait for an idle worker$/);
    g.signal('SIGTERM');
    for (const { data, closed } of await Promise.all(waiting)) {
      expect(closed).toBe(true);
      const [res] = parseResponses(data);
      expect(res).toMatchObject({ status: 503, headers: { connection: 'close', 'retry-after': '1' } });
      expect(res!.body).toMatch(/shutting down; the request was not run/);
    }
    expect(await slow.body).toMatch(/^slow done/);
    expect((await g.exited).code).toBe(0);
  });

  describe('-k sync: WINCH hands the requests the master holds to the leaving workers', () => {
    /** A fetch app: /hold answers once the file `go` exists (marking `held` when it starts), the rest at once. */
    const gatedApp = (dir: string, slowBoot = false) => {
      writeFileSync(
        join(dir, 'app.mjs'),
        "import { existsSync, writeFileSync } from 'node:fs';\n" +
          'const until = async (f) => { while (!existsSync(f)) await new Promise((r) => setTimeout(r, 20)); };\n' +
          (slowBoot ? "if (existsSync('slow-boot')) await until('go');\n" : '') +
          'export const app = async (request) => {\n' +
          "  if (new URL(request.url).pathname === '/hold') { writeFileSync('held', ''); await until('go'); }\n" +
          "  return new Response('done');\n" +
          '};\n',
      );
    };
    const notRun = (r: { data: Buffer; closed: boolean }) => {
      expect(r.closed).toBe(true);
      const [res] = parseResponses(r.data);
      expect(res).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
      expect(res!.body).toMatch(/the request was not run/);
    };

    it('one a busy worker has not started when its --graceful-timeout runs out gets 503, not a silent close', async () => {
      const dir = tempDir();
      gatedApp(dir);
      const g = await startGserve(['-k', 'sync', '-w', '1', '--graceful-timeout', '2', 'app.mjs'], { cwd: dir });
      const held = sendRaw(g.port, 'GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
      await pollUntil(() => existsSync(join(dir, 'held')), 'the app to hold its request');
      const queued = sendRaw(g.port, 'GET /queued HTTP/1.1\r\nHost: x\r\n\r\n');
      await g.waitForLog(/^1 request\(s\) wait for an idle worker$/);
      g.signal('SIGWINCH');
      notRun(await queued);
      expect((await held).data.length).toBe(0); // cut at the graceful timeout, as ever
      expect(isAlive(g.pid)).toBe(true);
    });

    it("a client that resets while it waits in a leaving worker's queue costs nothing else", async () => {
      const dir = tempDir();
      gatedApp(dir);
      const g = await startGserve(['-k', 'sync', '-w', '1', 'app.mjs'], { cwd: dir });
      const held = sendRaw(g.port, 'GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
      await pollUntil(() => existsSync(join(dir, 'held')), 'the app to hold its request');
      const queued = connect(g.port, '127.0.0.1');
      queued.on('error', () => {});
      queued.write('GET /queued HTTP/1.1\r\nHost: x\r\n\r\n');
      await g.waitForLog(/^1 request\(s\) wait for an idle worker$/);
      g.signal('SIGWINCH');
      await g.waitForLog(/^Worker exiting/);
      queued.resetAndDestroy();
      writeFileSync(join(dir, 'go'), '');
      expect(parseResponses((await held).data)[0]!.body).toBe('done');
      await g.waitForLog(/^Worker exited .*: scaled down$/);
      expect(g.lines.some((l) => /crashed/.test(l.msg))).toBe(false);
    });

    it('a USR2 master accepts nothing before a worker of its own is ready: a broken deploy costs no request', async () => {
      const dir = tempDir();
      const pidfile = join(dir, 'g.pid');
      writeFileSync(join(dir, 'app.mjs'), "export const app = async (request) => new Response('old');\n");
      const g = await startGserve(['-k', 'sync', '-w', '1', '-p', pidfile, 'app.mjs'], { cwd: dir });
      // The new code loads until the file `go` exists, then fails.
      writeFileSync(
        join(dir, 'app.mjs'),
        "import { existsSync } from 'node:fs';\n" +
          "while (!existsSync('go')) await new Promise((r) => setTimeout(r, 20));\n" +
          "throw new Error('the new release is broken');\n",
      );
      g.signal('SIGUSR2');
      const started = await g.waitForLog(/^Starting gserve/, { count: 2 });
      const newMaster = started[1]!.pid;
      try {
        await g.until(() => g.lines.some((l) => l.pid === newMaster && /^Booting worker/.test(l.msg)), 'its worker');
        for (let i = 0; i < 20; i++) {
          const { data } = await sendRaw(g.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
            deadlineMs: 10_000,
          });
          expect(parseResponses(data)[0]?.body, `request ${i}`).toBe('old');
        }
        writeFileSync(join(dir, 'go'), '');
        await g.waitForLog(/^The new master \(pid: \d+\) exited/);
        expect((await get(g.url)).body).toBe('old');
      } finally {
        killQuietly(newMaster);
      }
    });

    it('with no worker ready to take them (the only one still booting), they get 503 at once', async () => {
      const dir = tempDir();
      gatedApp(dir, true);
      const g = await startGserve(['-k', 'sync', '-w', '1', 'app.mjs'], { cwd: dir });
      writeFileSync(join(dir, 'slow-boot'), '');
      process.kill([...g.workerPids][0]!, 'SIGKILL');
      await g.waitForLog(/^Booting worker/, { count: 2 });
      const queued = sendRaw(g.port, 'GET /queued HTTP/1.1\r\nHost: x\r\n\r\n');
      await g.waitForLog(/^1 request\(s\) wait for an idle worker$/);
      g.signal('SIGWINCH');
      notRun(await queued);
    });
  });

  it('a replacement worker that cannot load the app (a deploy half done) leaves the serving worker serving', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("fine");\n');
    const g = await startGserve(['-w', '2', 'app.mjs'], { cwd: dir });
    writeFileSync(join(dir, 'app.mjs'), 'throw new Error("half-deployed");\n');
    const [crashed] = [...g.workerPids];
    process.kill(crashed!, 'SIGKILL');
    await g.waitForLog(
      /^A new worker cannot load the app; the 1 serving worker\(s\) go on, and it is retried: .*half-deployed/,
    );
    expect((await get(g.url)).body).toBe('fine');
    expect(isAlive(g.pid)).toBe(true);
    // The code is fixed: the slot's next retry loads it.
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("fixed");\n');
    await g.waitForLog(/^Booting worker/, { count: 4 });
    expect(isAlive(g.pid)).toBe(true);
  });

  it('HUP after a `current` symlink moved to a new release serves the new release (started in current/)', async () => {
    const dir = tempDir();
    for (const n of [1, 2]) {
      mkdirSync(join(dir, `rel${n}`));
      writeFileSync(join(dir, `rel${n}`, 'app.mjs'), `export const app = (req, res) => res.end("release ${n}");\n`);
    }
    symlinkSync('rel1', join(dir, 'current'));
    const current = join(dir, 'current');
    // As a shell started in current/ would: the kernel resolves the link, $PWD keeps its name.
    const g = await startGserve(['app.mjs'], { cwd: current, env: { PWD: current } });
    expect((await get(g.url)).body).toBe('release 1');
    symlinkSync('rel2', join(dir, 'next'));
    renameSync(join(dir, 'next'), current); // ln -sfn rel2 current, atomically
    g.signal('SIGHUP');
    await g.waitForLog(/^Reloaded: generation 1 is serving/);
    await g.waitForLog(/^Worker exited .*: reloaded$/);
    expect((await get(g.url)).body).toBe('release 2');
  });

  it('HUP after the `current` symlink was removed keeps the old workers and names the missing folder', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'rel1'));
    writeFileSync(join(dir, 'rel1', 'app.mjs'), 'export const app = (req, res) => res.end("release 1");\n');
    const current = join(dir, 'current');
    symlinkSync('rel1', current);
    const g = await startGserve(['app.mjs'], { cwd: current, env: { PWD: current } });
    unlinkSync(current);
    g.signal('SIGHUP');
    // It said "ENOENT: spawn /usr/bin/node ENOENT", blaming node.
    const [line] = await g.waitForLog(/^Cannot start a worker/);
    expect(line!.msg).toContain(`ENOENT: the working folder ${current} no longer exists`);
    await g.waitForLog(/^Reload failed, keeping the 1 worker of generation 0/);
    expect((await get(g.url)).body).toBe('release 1');
  });

  it('TERM during a HUP whose new workers never become ready still stops the master', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("fine");\n');
    // With a long --timeout the HUP would wait minutes for its workers: TERM must not queue behind it.
    const g = await startGserve(['--timeout', '600', 'app.mjs'], { cwd: dir });
    copyFileSync(app('never-loads.mjs'), join(dir, 'app.mjs'));
    g.signal('SIGHUP');
    await g.waitForLog(/^Booting worker/, { count: 2 });
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
    for (const pid of g.workerPids) await waitForExit(pid);
  });

  it("TERM during a HUP refuses new connections at once, though a new worker still loading holds the app's shutdown", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'app.mjs'),
      [
        "import { existsSync, writeFileSync } from 'node:fs';",
        "if (existsSync(new URL('./slow', import.meta.url))) {",
        '  // Loads slowly (a service to reach), and has a shutdown of its own that takes its time.',
        "  process.on('SIGTERM', () => new Promise(() => {}));",
        "  writeFileSync(new URL('./loading', import.meta.url), '');",
        '  await new Promise((resolve) => setTimeout(resolve, 1e9));',
        '}',
        "export const app = (req, res) => res.end('fine');",
        '',
      ].join('\n'),
    );
    const g = await startGserve(['--graceful-timeout', '120', 'app.mjs:app'], { cwd: dir });
    const [serving] = [...g.workerPids];
    writeFileSync(join(dir, 'slow'), '');
    g.signal('SIGHUP');
    await pollUntil(() => existsSync(join(dir, 'loading')), 'the new worker to be loading the app');
    g.signal('SIGTERM');
    await waitForExit(serving!);
    // The master and the serving worker have closed their sockets. The loading worker's copy, which it
    // never listened on, queued new connections until its exit, minutes later, and then reset them.
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(g.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('accepted');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(outcome).toBe('ECONNREFUSED');
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
  });

  it('TERM the moment the first worker is forked stops it and the master, long before --graceful-timeout', async () => {
    // The worker may still be starting node or importing gserve, before any message listener exists:
    // a stop sent over IPC alone was dropped, and the master waited out the graceful timeout.
    const g = await startGserve(['--graceful-timeout', '600', app('never-loads.mjs')], { workers: 0 });
    await g.waitForLog(/^Booting worker/);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
    expect(g.lines.some((l) => /Stop deadline passed/.test(l.msg))).toBe(false);
    for (const pid of g.workerPids) await waitForExit(pid);
  });

  it('TTIN adds a worker, TTOU removes one, never below 1', async () => {
    const g = await startGserve(['-w', '1', app('node-pid')]);
    g.signal('SIGTTIN');
    await g.waitForWorkers(2);
    expect(g.lines.some((l) => l.msg === 'Number of workers: 2 (was 1)')).toBe(true);
    g.signal('SIGTTOU');
    await g.waitForLog(/^Worker exited \(pid: \d+\): scaled down$/);
    g.signal('SIGTTOU');
    await g.waitForLog(/^TTOU ignored: there is 1 worker, and never fewer than 1/);
    expect(g.workerPids.size).toBe(2);
    expect([...g.workerPids].filter(isAlive)).toHaveLength(1);
    expect((await get(g.url)).status).toBe(200);
  });

  it('TTIN while a TERM drains the workers changes nothing: no new worker, no scaling line or hook', async () => {
    const g = await startGserve(['-w', '1', app('node-pid')]);
    const slow = await slowRequest(g.url, 1500);
    g.signal('SIGTERM');
    await g.waitForLog(/^Handling signal: term$/);
    g.signal('SIGTTIN');
    await g.waitForLog(/^Staying at 1 worker: the master is stopping$/);
    expect(await slow.body).toMatch(/^slow done \d+/);
    expect((await g.exited).code).toBe(0);
    expect(g.lines.filter((l) => /^Number of workers|^Booting worker/.test(l.msg))).toHaveLength(1);
  });

  it('USR1 reopens the log file of the master and of the workers (logrotate)', async () => {
    const dir = tempDir();
    const logfile = join(dir, 'error.log');
    const g = await startGserve(['--error-logfile', logfile, app('node-pid')], { workers: 0 });
    const fileHas = (path: string, pattern: RegExp) => existsSync(path) && pattern.test(readFileSync(path, 'utf8'));
    await pollUntil(() => fileHas(logfile, /Worker ready/), 'the worker to be ready');
    renameSync(logfile, logfile + '.1'); // what logrotate does
    g.signal('SIGUSR1');
    await pollUntil(() => fileHas(logfile, /Reopened the log files/), 'the master to write to the new file');
    g.signal('SIGTERM');
    await g.exited;
    const fresh = readFileSync(logfile, 'utf8');
    expect(fresh).toMatch(/"msg":"Worker exiting/); // written by the worker after the reopen
    expect(fresh).toMatch(/"msg":"Shutting down: Master"/);
    expect(readFileSync(logfile + '.1', 'utf8')).not.toMatch(/Shutting down/);
  });

  it('a log file that cannot be written is said once on stderr, and USR1 brings it back once it can be', async () => {
    const dir = tempDir();
    const folder = join(dir, 'logs');
    const logfile = join(folder, 'error.log');
    const g = await startGserve(['--error-logfile', logfile, app('node-pid')], { workers: 0 });
    const fileHas = (pattern: RegExp) => existsSync(logfile) && pattern.test(readFileSync(logfile, 'utf8'));
    await pollUntil(() => fileHas(/Worker ready/), 'the worker to be ready');
    // The folder moves away and a file takes its name: the log cannot be opened where it was.
    renameSync(folder, `${folder}.old`);
    writeFileSync(folder, '');
    g.signal('SIGUSR1');
    await g.until(() => /cannot write the log file .*error\.log .*send USR1 to reopen it/.test(g.stderr), 'the notice');
    expect(isAlive(g.pid)).toBe(true);
    // The folder is back: the next USR1 opens the log again, and the master writes to it.
    rmSync(folder);
    mkdirSync(folder);
    g.signal('SIGUSR1');
    await pollUntil(() => fileHas(/Reopened the log files/), 'the master to write to the log again');
    g.signal('SIGTTIN');
    await pollUntil(() => fileHas(/Number of workers: 2/), 'a later line of the master in the log');
  });

  it('WINCH stops the workers gracefully and keeps the master; TTIN brings one back', async () => {
    const g = await startGserve(['-w', '2', app('node-pid')]);
    g.signal('SIGWINCH');
    await g.until(() => exitsOf(g) >= 2, 'both workers to exit');
    for (const pid of g.workerPids) expect(isAlive(pid)).toBe(false);
    expect(isAlive(g.pid)).toBe(true);
    g.signal('SIGTTIN');
    await g.waitForWorkers(3);
    expect((await get(g.url)).status).toBe(200);
  });

  it("TERM after WINCH keeps the leaving workers' graceful timeout; it used to start again", async () => {
    const g = await startGserve(['-w', '1', '--graceful-timeout', '8', `${app('stop-clock')}:app`]);
    const hung = request(`${g.url}/hang`, { agent: false });
    hung.on('error', () => {});
    hung.end();
    await g.until(() => g.stdout.includes('hang received'), 'the request that never ends');
    g.signal('SIGWINCH');
    await g.until(() => g.stdout.includes('half'), 'half of the graceful timeout');
    g.signal('SIGTERM');
    await g.exited;
    expect(g.stdout).not.toContain('late');
  });

  it('after USR2 and TERM of the old master, the new master removes the unix: socket file when it stops', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const sock = join(dir, 'app.sock');
    const g = await startGserve(['-b', `unix:${sock}`, '-p', pidfile, app('generation')]);
    const newMaster = await usr2(g, pidfile);
    try {
      g.signal('SIGTERM');
      expect((await g.exited).code).toBe(0);
      expect(statSync(sock).isSocket()).toBe(true); // the new master serves on it
      process.kill(newMaster, 'SIGTERM');
      await waitForExit(newMaster);
      expect(existsSync(sock)).toBe(false);
    } finally {
      killQuietly(newMaster);
    }
  });

  it('USR2 after the config changed its bind: the new master says so and serves the sockets passed on, by their names', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const config = join(dir, 'gserve.config.cjs');
    const bindIn = (sock: string) => `module.exports = { bind: ['unix:${join(dir, sock)}'] };\n`;
    writeFileSync(config, bindIn('a.sock'));
    const g = await startGserve(['-c', config, '-p', pidfile, app('generation')], { noBind: true });
    writeFileSync(config, bindIn('b.sock'));
    const newMaster = await usr2(g, pidfile);
    try {
      const mine = (re: RegExp) => g.lines.find((l) => l.pid === newMaster && re.test(l.msg))?.msg;
      expect(mine(/^Setting "bind" changed/)).toContain('needs a stop and start to apply');
      expect(mine(/^Listening at/)).toBe(`Listening at: unix:${join(dir, 'a.sock')} (${newMaster})`);
      expect(existsSync(join(dir, 'b.sock'))).toBe(false);
    } finally {
      killQuietly(newMaster);
    }
  });

  it('USR2 starts a new master on the same sockets, the pidfile moves to .oldbin; stopping it rolls back', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const config = join(dir, 'gserve.config.cjs');
    writeFileSync(
      config,
      `module.exports = { preExec: ` +
        `(server) => require('fs').writeFileSync(${JSON.stringify(join(dir, 'pre-exec'))}, ` +
        `String(server.pid)) };\n`,
    );
    const g = await startGserve(['-c', config, '-p', pidfile, app('generation')]);
    const newMaster = await usr2(g, pidfile);
    try {
      expect(readFileSync(join(dir, 'pre-exec'), 'utf8')).toBe(String(g.pid)); // the preExec hook ran in the old master
      expect(readFileSync(pidfile + '.oldbin', 'utf8').trim()).toBe(String(g.pid));
      const served = new Set<string>();
      for (let i = 0; i < 200 && served.size < 2; i++) served.add(String((await get(g.url)).headers['x-served-by']));
      expect([...served].map((s) => s.split('/')[0]).sort()).toEqual([String(g.pid), String(newMaster)].sort());
      process.kill(newMaster, 'SIGTERM'); // a failed upgrade: the old master takes the pidfile back
      await g.waitForLog(/^The new master \(pid: \d+\) exited/);
      await waitForExit(newMaster);
      expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(g.pid));
      expect(existsSync(pidfile + '.oldbin')).toBe(false);
      expect((await get(g.url)).headers['x-served-by']).toBe(`${g.pid}/0`);
    } finally {
      killQuietly(newMaster);
    }
  });
});
