import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGserve, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

/** The metrics endpoint in the master: /metrics only, a connection cap, a header timeout. */
const apps = join(import.meta.dirname, 'apps');
/** src/master/metrics-guard.ts */
const CAP = 16;

let sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets = [];
});

async function metricsPort(g: Gserve): Promise<number> {
  const [line] = await g.waitForLog(/^Metrics at: /);
  return Number(/:(\d+)\/metrics$/.exec(line!.msg)![1]);
}

/** A connection that records when the server closed it. */
function open(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => {});
    // Read (and drop) what the server sends: a timed-out head may get node's 408 before the close,
    // and an unread answer would hold back the 'end', and so the 'close', for ever. The guard's idle
    // timeout usually cuts first, without one; node's sweep of late heads, on a loaded machine.
    socket.resume();
    socket.once('connect', () => resolve({ socket, closed }));
  });
}

describe('metrics endpoint', () => {
  it('serves /metrics only: 404 at / and elsewhere', async () => {
    const g = await startGserve(['--metrics-bind', '127.0.0.1:0', join(apps, 'crashes.js')]);
    const port = await metricsPort(g);
    expect((await get(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    expect((await get(`http://127.0.0.1:${port}/metrics?x=1`)).status).toBe(200);
    for (const path of ['/', '/metrics/', '/metricsx', '/favicon.ico'])
      expect((await get(`http://127.0.0.1:${port}${path}`)).status, path).toBe(404);
  });

  it(`caps connections at ${CAP}: the rest are closed as they come; a scrape works once they are gone`, async () => {
    const g = await startGserve(['--metrics-bind', '127.0.0.1:0', join(apps, 'crashes.js')]);
    const port = await metricsPort(g);
    const conns = await Promise.all(Array.from({ length: 60 }, () => open(port)));
    // Without a cap nothing closes these before Node's header timeout (60 s).
    const overCap = new Promise<void>((resolve) => {
      let n = 0;
      for (const c of conns) void c.closed.then(() => ++n === 60 - CAP && resolve());
    });
    const deadline = new Promise<'open'>((r) => setTimeout(() => r('open'), 20_000));
    expect(await Promise.race([overCap.then(() => 'closed'), deadline])).toBe('closed');
    // The ones kept are the ones served: each still answers a scrape.
    const kept = conns.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open');
    expect(kept).toHaveLength(CAP);
    const answers = await Promise.all(
      kept.map(
        ({ socket }) =>
          new Promise<string>((resolve) => {
            let text = '';
            socket.on('data', (d) => {
              text += d;
              if (text.includes('gserve_workers')) resolve(text.slice(0, 15));
            });
            socket.on('close', () => resolve(text.slice(0, 15) || 'closed'));
            socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
          }),
      ),
    );
    expect(answers).toEqual(Array(CAP).fill('HTTP/1.1 200 OK'));
    for (const s of sockets) s.destroy();
    // The server frees a place once it has seen a close; until then a new scrape is over the cap.
    await pollUntil(
      async () => (await get(`http://127.0.0.1:${port}/metrics`).catch(() => null))?.status === 200,
      'a scrape once the connections closed',
    );
  });

  it('closes a connection that does not finish its request head in time', async () => {
    const g = await startGserve(['--metrics-bind', '127.0.0.1:0', join(apps, 'crashes.js')]);
    const port = await metricsPort(g);
    const slow = await open(port);
    slow.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
    const silent = await open(port); // never sends a byte
    // Node's defaults would hold them 60 s or more; the guard's header timeout is 5 s.
    const deadline = new Promise<'open'>((r) => setTimeout(() => r('open'), 20_000));
    expect(await Promise.race([slow.closed.then(() => 'closed'), deadline])).toBe('closed');
    expect(await Promise.race([silent.closed.then(() => 'closed'), deadline])).toBe('closed');
    expect((await get(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });
});
