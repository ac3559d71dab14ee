import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runGserve, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { events, waitForEvent } from '../helpers/events.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

const probe = join(FIXTURES, 'apps', 'asgi-probe.js');

function eventsFile(): string {
  return join(tempDir(), 'events.log');
}
describe('the asgi interface', () => {
  it('runs lifespan startup before the first request, shares its state, and shuts down at stop', async () => {
    const file = eventsFile();
    const g = await startGserve([`${probe}:app`, '-e', `EVENTS_FILE=${file}`, '--forwarded-allow-ips', '127.0.0.1']);
    const r = await get(g.url + '/scope?q=%20x', { headers: { 'X-Mixed-Case': 'v' } });
    const scope = JSON.parse(r.body);
    expect(events(file).slice(0, 2)).toEqual(['lifespan.startup', 'request']);
    expect(scope.state).toEqual({ db: 'connected' });
    expect(scope).toMatchObject({
      type: 'http',
      asgi: { version: '3.0' },
      http_version: '1.1',
      method: 'GET',
      scheme: 'http',
      path: '/scope',
      raw_path: '/scope',
      query_string: 'q=%20x',
      root_path: '',
      server: ['127.0.0.1', g.port],
    });
    expect(scope.client[0]).toBe('127.0.0.1');
    expect(typeof scope.client[1]).toBe('number');
    // Header names are lower-cased byte strings.
    expect(scope.headers).toContainEqual(['x-mixed-case', 'v', true]);
    // A trusted proxy (127.0.0.1 with --forwarded-allow-ips) names the client and the scheme.
    const proxied = JSON.parse(
      (await get(g.url + '/scope', { headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' } }))
        .body,
    );
    expect([proxied.client[0], proxied.scheme]).toEqual(['203.0.113.9', 'https']);
    g.signal('SIGTERM');
    await g.exited;
    expect(events(file).at(-1)).toBe('lifespan.shutdown');
  });

  it('-k thread: each app thread runs its lifespan startup, and its shutdown at stop', async () => {
    const file = eventsFile();
    const g = await startGserve(['-k', 'thread', '--threads', '2', `${probe}:app`, '-e', `EVENTS_FILE=${file}`]);
    // The worker is ready with its first thread; a thread still loading at the stop has nothing to shut down.
    await g.waitForLog(/^Thread \d+ ready$/, { count: 2 });
    expect(JSON.parse((await get(g.url + '/scope')).body).state).toEqual({ db: 'connected' });
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
    const seen = events(file);
    expect(seen.filter((e) => e === 'lifespan.startup')).toHaveLength(2);
    expect(seen.filter((e) => e === 'lifespan.shutdown')).toHaveLength(2);
    expect(seen.at(-1)).toBe('lifespan.shutdown');
  });

  it('stops the server with the app message when lifespan.startup.failed', async () => {
    const { code, stderr } = await runGserve([`${probe}:app`, '-e', 'LIFESPAN_FAIL=database unreachable at db:5432']);
    expect(code).toBe(4);
    expect(stderr).toContain('database unreachable at db:5432');
    expect(stderr).toContain('ASGI lifespan startup failed');
  });

  it('a lifespan that answers the startup with lifespan.shutdown.complete gets an error, as with Uvicorn', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'app.mjs'),
      'export const app = async (scope, receive, send) => {\n' +
        '  await receive();\n' +
        "  await send({ type: 'lifespan.shutdown.complete' });\n" +
        '};\n',
    );
    const { code, stderr } = await runGserve(['app.mjs', '--lifespan', 'on'], { cwd: dir });
    expect(code).toBe(4);
    expect(stderr).toContain('lifespan.shutdown.complete sent while lifespan.startup awaits its answer');
  });

  it('goes on without lifespan in auto mode when the app raises on it; fails to start with --lifespan on', async () => {
    const app = `${join(FIXTURES, 'apps', 'asgi-no-lifespan.js')}:app`;
    const g = await startGserve([app]);
    expect((await get(g.url)).body).toBe('plain');
    await g.waitForLog(/lifespan' protocol appears unsupported/);
    const strict = await runGserve([app, '--lifespan', 'on']);
    expect(strict.code).toBe(4);
    expect(strict.stderr).toContain('unsupported scope lifespan');
  });

  it('logs a lifespan that raises after its startup, and stops without waiting on it', async () => {
    // A graceful timeout far longer than any test: a stop that waited on the dead lifespan would show.
    const g = await startGserve([join(FIXTURES, 'apps', 'asgi-lifespan-dies.js:app'), '--graceful-timeout', '600']);
    expect((await get(g.url)).body).toBe('ok');
    await g.waitForLog(/ASGI lifespan raised after its startup completed: Error: the lifespan task died after startup/);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  });

  it('delivers the body, then http.disconnect after the response', async () => {
    const file = eventsFile();
    const g = await startGserve([`${probe}:app`, '-e', `EVENTS_FILE=${file}`, '--lifespan', 'off']);
    const r = await get(g.url + '/order', { method: 'POST', body: 'abc' });
    expect(r.body).toBe('http.request abc more=false');
    await waitForEvent(file, 'after response: http.disconnect');
    expect(events(file)).not.toContain('lifespan.startup');
    // No body announced: one empty http.request at once, then the same disconnect.
    expect((await get(g.url + '/order')).body).toBe('http.request  more=false');
    await pollUntil(
      () => events(file).filter((e) => e === 'after response: http.disconnect').length === 2,
      () => `a second http.disconnect\n${events(file).join('\n')}`,
    );
  });

  it('sends http.disconnect when the client leaves mid-response, and the app stops producing', async () => {
    const file = eventsFile();
    const g = await startGserve([`${probe}:app`, '-e', `EVENTS_FILE=${file}`]);
    await new Promise<void>((resolve, reject) => {
      const req = request(g.url + '/forever', { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy(); // leave after the first bytes
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('close', resolve);
      req.on('error', reject);
      req.end();
    });
    const seen = await waitForEvent(file, /^stopped after/);
    expect(seen.slice(-2)).toEqual(['http.disconnect', 'stopped after some chunks']);
    expect((await get(g.url + '/order', { method: 'POST', body: 'z' })).status).toBe(200);
  });

  it('a send after the client left fails (ASGI 2.4), so an app that never calls receive() stops too', async () => {
    const file = eventsFile();
    const g = await startGserve([`${probe}:app`, '-e', `EVENTS_FILE=${file}`, '--lifespan', 'off']);
    const leaveAfterFirstBytes = (path: string) =>
      new Promise<void>((resolve) => {
        const req = request(g.url + path, { agent: false }, (res) => res.once('data', () => req.destroy()));
        req.on('error', () => {});
        req.on('close', resolve);
        req.end();
      });
    await leaveAfterFirstBytes('/no-receive');
    await waitForEvent(file, 'send failed: ClientDisconnected ECONNRESET');
    // Let through by the app, the error is the client's leaving, not the app's failure: not logged.
    await leaveAfterFirstBytes('/no-receive-uncaught');
    await pollUntil(
      () => events(file).filter((e) => e === 'send failed: ClientDisconnected ECONNRESET').length === 2,
      () => `a second failed send\n${events(file).join('\n')}`,
    );
    expect((await get(g.url + '/order', { method: 'POST', body: 'z' })).status).toBe(200);
    expect(g.lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
  });

  it('fills scope.server with the socket path on a Unix socket', async () => {
    const path = join(tempDir(), 'g.sock');
    const g = await startGserve([`${probe}:app`, '-b', `unix:${path}`]);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: path, path: '/scope', agent: false }, (res) => {
        let data = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (data += c))
          .on('end', () => resolve(data));
      });
      req.on('error', reject).end();
    });
    const scope = JSON.parse(body);
    expect(scope.server).toEqual([path, null]);
    expect(scope.client).toBeNull();
    g.signal('SIGTERM');
    await g.exited;
    for (const pid of g.workerPids) await waitForExit(pid);
  });
});
