import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, isAlive, runGserve, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';

const app = (name: string) => `${join(FIXTURES, 'apps', name)}`;

describe('serving', () => {
  it('serves a node app from every worker of -w 2', async () => {
    const g = await startGserve(['-w', '2', app('node-pid') + ':app']);
    const pids = new Set<string>();
    for (let round = 0; round < 50 && pids.size < 2; round++) {
      const responses = await Promise.all(Array.from({ length: 8 }, () => get(g.url + '/')));
      for (const r of responses) {
        expect(r.status).toBe(200);
        pids.add(String(r.headers['x-worker-pid']));
      }
    }
    expect(pids.size).toBe(2);
    for (const pid of pids) expect(g.workerPids.has(Number(pid))).toBe(true);
    expect(g.lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Starting gserve /), 'Using worker: async']),
    );
  });

  it('serves a fetch app, with method, path, query and body', async () => {
    const g = await startGserve([app('fetch-echo')]);
    const r = await get(g.url + '/a/b?x=1', { method: 'POST', body: 'hello' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ method: 'POST', path: '/a/b', query: '?x=1', body: 'hello' });
  });

  it('serves the examples as the README shows', async () => {
    const node = await startGserve(['examples/hello/app:app']);
    expect((await get(node.url)).body).toMatch(/^Hello, world!/);
    const fetch = await startGserve(['examples/hello-fetch/app:app']);
    expect((await get(fetch.url + '/there')).body).toMatch(/^Hello from \/there!/);
  });

  it('loads a CommonJS factory with JSON arguments, and a folder index by its default export', async () => {
    const g = await startGserve([`${app('factory.cjs')}:create("hi", 3)`]);
    expect((await get(g.url)).body).toBe('hi x3\n');
    const folder = await startGserve([join(FIXTURES, 'pkg-dir')]);
    expect((await get(folder.url)).body).toBe('from index\n');
  });

  // `create(greeting, times)` declares two parameters, so uncalled it passes for a (req, res)
  // listener; a one-parameter factory passes for a fetch handler. Each request then made a new app,
  // and on the node interface the client waited until it gave up.
  it.each(['async', 'sync', 'thread'])('answers 500 and says to call a factory named without () (-k %s)', async (k) => {
    const g = await startGserve(['-k', k, `${app('factory.cjs')}:create`]);
    expect((await get(g.url)).status).toBe(500);
    // The same words on every class: an app thread's node server used to say "Error in request".
    const [line] = await g.waitForLog(/^Error handling request GET \//);
    expect(line!.err).toMatchObject({
      code: 'GSERVE_E_APP_UNCALLED_FACTORY',
      message: expect.stringContaining('Call it in APP with parentheses'),
    });
  });

  it('says the same of an async factory named without () (the Fastify recipe), which held every client', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'make.mjs'),
      'export async function create(env, options) {\n' +
        '  await new Promise((resolve) => setImmediate(resolve));\n' +
        '  return (req, res) => res.end("made\\n");\n' +
        '}\n',
    );
    const g = await startGserve([`${join(dir, 'make.mjs')}:create`]);
    expect((await get(g.url)).status).toBe(500);
    const [line] = await g.waitForLog(/^Error handling request GET \//);
    expect(line!.err).toMatchObject({
      code: 'GSERVE_E_APP_UNCALLED_FACTORY',
      message: expect.stringContaining('returned a function instead of answering the request'),
    });
  });

  it('says the same of a fetch app factory named without ()', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'make.mjs'), 'export const make = (options) => ({ fetch: () => new Response("hi") });\n');
    const g = await startGserve([`${join(dir, 'make.mjs')}:make`]);
    expect((await get(g.url)).status).toBe(500);
    const [line] = await g.waitForLog(/^Error handling request GET \//);
    expect(line!.err).toMatchObject({
      code: 'GSERVE_E_APP_UNCALLED_FACTORY',
      message: expect.stringContaining('returned an object with a fetch method instead of a Response'),
    });
  });
});

describe('settings sources', () => {
  it('finds a config file whose values beat defaults and lose to flags', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'gserve.config.json'), JSON.stringify({ workers: 2, keepAlive: 9, app: app('node-pid') }));
    const g = await startGserve(['--keep-alive', '4'], { cwd, workers: 2 });
    expect(g.workerPids.size).toBe(2);
    expect((await get(g.url)).status).toBe(200);
    const printed = await runGserve(['--keep-alive', '4', '--print-config'], { cwd });
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^workers\s+= 2 {2}# config file .*gserve\.config\.json \(key "workers"\)$/m);
    expect(printed.stdout).toMatch(/^keepAlive\s+= 4 {2}# command line --keep-alive$/m);
    expect(printed.stdout).toMatch(/^timeout\s+= 30 {2}# default$/m);
  });

  it('binds 0.0.0.0:$PORT and runs $WEB_CONCURRENCY workers', async () => {
    const port = await freePort();
    const g = await startGserve([app('node-pid')], {
      env: { PORT: String(port), WEB_CONCURRENCY: '2' },
      workers: 2,
      noBind: true,
    });
    expect(g.lines.some((l) => l.msg === `Listening at: http://0.0.0.0:${port} (${g.pid})`)).toBe(true);
    expect(g.workerPids.size).toBe(2);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });

  it('warns of a GSERVE_ variable that is no setting (it was ignored without a word), not of its own', async () => {
    const g = await startGserve([app('node-pid')], {
      env: { GSERVE_WORKER: '3', GSERVE_WORKER_INDEX: '0', GSERVE_KEEP_ALIVE: '4' },
    });
    const warned = g.lines.filter((l) => /^Environment variable GSERVE_/.test(l.msg)).map((l) => l.msg);
    expect(warned).toEqual([
      'Environment variable GSERVE_WORKER is not a gserve setting and is ignored. Did you mean GSERVE_WORKERS? ' +
        "docs/settings.md names each setting's variable.",
    ]);
    expect(g.workerPids.size).toBe(1);
  });

  it('rejects a bad setting, naming the setting and its source', async () => {
    const r = await runGserve([app('node-pid')], { env: { GSERVE_WORKERS: 'lots' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'Invalid value for setting "workers" from environment variable GSERVE_WORKERS: ' +
        'expected an integer from 1 to 1024, or auto (one per CPU this process may use), got "lots"',
    );
    const flag = await runGserve(['--timeout', '-3', app('node-pid')]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/"timeout" from command line --timeout: expected a number of seconds/);
    const unknown = await runGserve(['--wokers', '2', app('node-pid')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--wokers'[\s\S]*--workers/);
    expect(unknown.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });
});

describe('failing apps', () => {
  it('exits 4 with one clear line for a missing module, without a respawn loop', async () => {
    const r = await runGserve(['-w', '3', 'no/such/module:app']);
    expect(r.code).toBe(4);
    const plain = r.stderr.split('\n').filter((l) => l.startsWith('gserve: error:'));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatch(
      /Cannot find app module "no\/such\/module": looked for .*no\/such\/module\{\.js,\.mjs,\.cjs/,
    );
    expect(r.g.lines.filter((l) => l.msg.startsWith('Booting worker')).length).toBeLessThanOrEqual(3);
    for (const pid of r.g.workerPids) await waitForExit(pid);
  });

  it("says a Python module is not served (Gunicorn's app:app, or app.py), not that it is missing", async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'app.py'), 'def app(environ, start_response):\n    pass\n');
    for (const spec of ['app:app', 'app.py']) {
      const r = await runGserve([spec], { cwd });
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/app\.py is a Python module, and gserve runs JavaScript apps.*Gunicorn or Uvicorn/);
    }
  });

  it('names a missing attribute and a value that is not an app', async () => {
    const missing = await runGserve([app('node-pid') + ':nope']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/has no export "nope"; it exports: app/);
    const notApp = await runGserve([app('not-an-app')]);
    expect(notApp.code).toBe(4);
    expect(notApp.stderr).toMatch(/"app" in .*not-an-app\.js is a number, not an app/);
    // Served its default export, it names that, not an `app` the module does not have.
    const dir = tempDir();
    writeFileSync(join(dir, 'server.mjs'), 'export default { routes: [] };\n');
    const notDefault = await runGserve([join(dir, 'server.mjs')]);
    expect(notDefault.code).toBe(4);
    expect(notDefault.stderr).toMatch(/the default export in .*server\.mjs is an object with keys routes, not an app/);
    const throws = await runGserve([app('throws-at-load')]);
    expect(throws.code).toBe(4);
    expect(throws.stderr).toMatch(/Failed to load app module .*throws-at-load\.js: database URL is not set/);
  });

  it('--preload fails before any worker starts, and serves when the app loads', async () => {
    const bad = await runGserve(['--preload', '-w', '2', app('throws-at-load')]);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/database URL is not set/);
    expect(bad.g.lines.some((l) => l.msg.startsWith('Booting worker'))).toBe(false);
    const good = await startGserve(['--preload', app('node-pid')]);
    expect((await get(good.url)).status).toBe(200);
  });

  it('--check-config loads the app and exits', async () => {
    const ok = await runGserve(['--check-config', app('fetch-echo')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/loads as a fetch app/);
    const bad = await runGserve(['--check-config', app('not-an-app')]);
    expect(bad.code).toBe(4);
  });
});

describe('supervision basics', () => {
  it('replaces a worker killed with kill -9 and keeps serving', async () => {
    const g = await startGserve(['-w', '2', app('node-pid')]);
    const [victim] = [...g.workerPids];
    process.kill(victim!, 'SIGKILL');
    await g.waitForLog(/^Worker \(pid: \d+\) was killed by SIGKILL/);
    await g.waitForWorkers(3);
    expect(g.workerPids.size).toBe(3);
    for (let i = 0; i < 10; i++) {
      const r = await get(g.url);
      expect(r.status).toBe(200);
      expect(r.headers['x-worker-pid']).not.toBe(String(victim));
    }
  });

  it('on TERM lets an in-flight request finish, then exits 0 leaving no worker', async () => {
    const g = await startGserve(['-w', '2', app('node-pid')]);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(g.url + '/slow?ms=1500', { agent: false }, (res) => {
        // The head has arrived: the request is in a worker's hands. Now stop the server.
        g.signal('SIGTERM');
        let text = '';
        res.setEncoding('utf8').on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toMatch(/^slow done \d+/);
    const { code } = await g.exited;
    expect(code).toBe(0);
    for (const pid of g.workerPids) await waitForExit(pid);
    expect([...g.workerPids].some(isAlive)).toBe(false);
    expect(g.lines.some((l) => l.msg === 'Shutting down: Master')).toBe(true);
  });

  it('workers exit by themselves when the master is killed with kill -9', async () => {
    const g = await startGserve(['-w', '2', app('node-pid')]);
    g.child.kill('SIGKILL');
    await g.exited;
    // Nobody supervises them any more: the closed IPC channel tells each worker to go.
    for (const pid of g.workerPids) await waitForExit(pid);
  });

  it('on INT stops at once and exits 0', async () => {
    const g = await startGserve(['-w', '2', app('node-pid')]);
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
    for (const pid of g.workerPids) await waitForExit(pid);
  });
});
