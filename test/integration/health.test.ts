import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { tlsArgs } from '../helpers/certs.js';
import { missing } from '../helpers/needs.js';
import { startGserve } from '../helpers/gserve.js';
import { deployApp, heldRequest, KeptAliveClient } from '../helpers/deploy.js';
import { get } from '../helpers/http.js';

const clients: KeptAliveClient[] = [];
afterEach(() => clients.splice(0).forEach((c) => c.close()));
const keptAlive = (url: string) => {
  const c = new KeptAliveClient(url);
  clients.push(c);
  return c;
};

describe.each(['node', 'fetch'] as const)('the health path (%s interface)', (kind) => {
  it('is answered by gserve, not the app, with or without a query', async () => {
    const g = await startGserve(['--health-path', '/healthz', deployApp(kind)]);
    const ok = await get(g.url + '/healthz');
    expect(ok).toMatchObject({ status: 200, body: 'ok\n' });
    expect(ok.headers['cache-control']).toBe('no-store');
    expect((await get(g.url + '/healthz?probe=1')).status).toBe(200);
    expect((await get(g.url + '/healthz', { method: 'HEAD' })).status).toBe(200);
    // Only the exact path: a longer one is the app's.
    expect(JSON.parse((await get(g.url + '/healthzz')).body)).toMatchObject({ path: '/healthzz' });
  });

  it('flips to 503 at TERM while a slow request still completes, then gserve exits 0', async () => {
    const g = await startGserve([
      '--health-path',
      '/healthz',
      '--keep-alive',
      '60',
      '--graceful-timeout',
      '60',
      deployApp(kind),
    ]);
    const probe = keptAlive(g.url);
    expect((await probe.get('/healthz')).status).toBe(200);
    const held = await heldRequest(g.url);

    g.signal('SIGTERM');
    await g.waitForLog(/^Health check failing from now/);
    // The stop comes in a message of its own after the health flip; once the worker says it is
    // exiting, it is draining and its listener is closed. The probe's kept-alive connection still reaches it.
    await g.waitForLog(/^Worker exiting/);
    const failing = await probe.get('/healthz');
    expect(failing).toMatchObject({ status: 503, body: 'shutting down\n', reused: true });
    expect(failing.headers.connection).toBe('close');

    held.release();
    expect(await held.done).toMatchObject({ status: 200, body: expect.stringMatching(/held done 4\n$/) });
    expect((await g.exited).code).toBe(0);
  });
});

describe.each(['sync', 'thread'] as const)('the health path under -k %s', (workerClass) => {
  it('is answered before the app, and fails during the shutdown delay while the app still serves', async () => {
    const g = await startGserve([
      '-k',
      workerClass,
      '--health-path',
      '/healthz',
      '--shutdown-delay',
      '120',
      deployApp('node'),
    ]);
    expect(await get(g.url + '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    g.signal('SIGTERM');
    await g.waitForLog(/^Health check failing from now/);
    expect(await get(g.url + '/healthz')).toMatchObject({ status: 503, body: 'shutting down\n' });
    expect(JSON.parse((await get(g.url + '/app')).body)).toMatchObject({ path: '/app' });
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
  });
});

describe('--shutdown-delay', () => {
  it('keeps serving new connections with the health check failing until the delay ends', async () => {
    const g = await startGserve(['--health-path', '/healthz', '--shutdown-delay', '120', '-w', '2', deployApp('node')]);
    g.signal('SIGTERM');
    await g.waitForLog(/^Shutdown delay: serving 120 s more/);
    await g.waitForLog(/^Health check failing from now/, { count: 2 });
    expect((await get(g.url + '/healthz')).status).toBe(503);
    expect((await get(g.url + '/app')).status).toBe(200);
    expect(g.lines.some((l) => /^Worker exiting/.test(l.msg))).toBe(false);
    // A fast stop does not wait for the delay.
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
  });

  it("fails the health check of a crashed worker's replacement forked during the delay", async () => {
    const g = await startGserve(['--health-path', '/healthz', '--shutdown-delay', '120', deployApp('node')]);
    g.signal('SIGTERM');
    await g.waitForLog(/^Health check failing from now/);
    const [crashed] = [...g.workerPids];
    process.kill(crashed!, 'SIGKILL');
    await g.waitForLog(/^Worker ready/, { count: 2 });
    // Its first answers already: a message sent while it was still loading would have been lost.
    expect((await get(g.url + '/healthz')).status).toBe(503);
    expect((await get(g.url + '/app')).status).toBe(200);
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
  });

  it('stops gracefully once the delay is over, finishing the request in flight', async () => {
    const g = await startGserve([
      '--health-path',
      '/healthz',
      '--shutdown-delay',
      '0.5',
      '--graceful-timeout',
      '60',
      deployApp('fetch'),
    ]);
    const held = await heldRequest(g.url);
    g.signal('SIGTERM');
    await g.waitForLog(/^Worker exiting/);
    const order = g.lines
      .map((l) => l.msg)
      .filter((m) => /^(Shutdown delay|Health check failing|Worker exiting)/.test(m));
    expect(order.map((m) => m.split(/[: ]/)[0])).toEqual(['Shutdown', 'Health', 'Worker']);
    held.release();
    expect(await held.done).toMatchObject({ status: 200, body: 'started\nheld done 4\n' });
    expect((await g.exited).code).toBe(0);
  });
});

/** One GET over a new HTTP/2 connection (TLS, the test's self-signed certificate). */
function getH2(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on('error', reject);
    const stream = session.request({ ':path': path });
    let status = 0;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (c: string) => (body += c));
    stream.on('end', () => {
      session.close();
      resolve({ status, body });
    });
    stream.on('error', reject);
  });
}

describe('the health path over HTTP/2', () => {
  it.skipIf(missing('openssl'))('is answered by gserve, and fails during the shutdown delay', async () => {
    const g = await startGserve([
      ...tlsArgs(),
      '--http2',
      '--health-path',
      '/healthz',
      '--shutdown-delay',
      '120',
      deployApp('fetch'),
    ]);
    expect(await getH2(g.port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(JSON.parse((await getH2(g.port, '/app')).body)).toMatchObject({ path: '/app' });
    g.signal('SIGTERM');
    await g.waitForLog(/^Health check failing from now/);
    expect(await getH2(g.port, '/healthz')).toEqual({ status: 503, body: 'shutting down\n' });
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
  });
});
