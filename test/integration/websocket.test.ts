import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { tlsArgs } from '../helpers/certs.js';
import { FIXTURES, type Gserve, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';

const fixture = (name: string) => `${join(FIXTURES, 'apps', name)}`;

function open(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

const CASES = [
  ['node (websocket handlers)', 'ws-node.js:app'],
  ['node (upgrade export)', 'ws-node-upgrade.js:app'],
  ['fetch (Bun convention)', 'ws-fetch.js'],
  ['asgi', 'ws-asgi.js:app'],
] as const;

describe('WebSocket', () => {
  it.each(CASES)('echoes text and binary through %s, and still serves HTTP', async (_name, app) => {
    const g = await startGserve([fixture(app)]);
    expect((await get(g.url + '/')).body).toBe('http');
    const ws = await open(`ws://127.0.0.1:${g.port}/chat`);
    ws.send('héllo ✓');
    const text = await nextMessage(ws);
    expect(text).toEqual({ data: Buffer.from('héllo ✓'), isBinary: false });
    ws.send(Buffer.from([0, 1, 2, 255]));
    const binary = await nextMessage(ws);
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([0, 1, 2, 255]);
    ws.close(1000);
    expect((await closed(ws)).code).toBe(1000);
  });

  it('answers an ASGI close before accept with HTTP 403, and echoes the chosen subprotocol', async () => {
    const g = await startGserve([fixture('ws-asgi.js:app')]);
    await expect(open(`ws://127.0.0.1:${g.port}/deny`)).rejects.toThrow('HTTP 403');
    const ws = await open(`ws://127.0.0.1:${g.port}/`, {}, ['chat.v2', 'chat.v1']);
    expect(ws.protocol).toBe('chat.v2');
    ws.terminate();
  });

  it('refuses WebSocket with 501 under a worker class that cannot hold sockets', async () => {
    const g = await startGserve([fixture('ws-asgi.js:app'), '-k', 'sync']);
    await expect(open(`ws://127.0.0.1:${g.port}/`)).rejects.toThrow('HTTP 501');
    expect((await get(g.url + '/')).body).toBe('http');
  });

  it('closes a message over --ws-max-size with 1009', async () => {
    const g = await startGserve([fixture('ws-fetch.js'), '--ws-max-size', '1024']);
    const ws = await open(`ws://127.0.0.1:${g.port}/`);
    ws.send('small');
    await nextMessage(ws);
    const done = closed(ws);
    ws.send('x'.repeat(2000));
    expect((await done).code).toBe(1009);
  });

  it('drops a peer that does not answer pings', async () => {
    const g = await startGserve([fixture('ws-node.js:app'), '--ws-ping-interval', '0.2', '--ws-ping-timeout', '0.3']);
    // autoPong off: this client never answers, like a peer that vanished without closing.
    const dead = await open(`ws://127.0.0.1:${g.port}/`, { autoPong: false });
    const pinged = new Promise<void>((resolve) => dead.once('ping', () => resolve()));
    const done = closed(dead);
    await pinged;
    expect((await done).code).toBe(1006); // dropped without a close frame
  });

  it.each([
    ['ws-asgi.js:app', 'async'],
    ['ws-node.js:app', 'async'],
    ['ws-asgi.js:app', 'thread'],
    ['ws-node.js:app', 'thread'],
    ['ws-fetch.js', 'thread'],
  ])('closes open sockets with 1001 at a graceful stop (%s, -k %s)', async (app, klass) => {
    // A graceful timeout far past the test's: a socket left open until the SIGKILL would show.
    const g = await startGserve(['-k', klass, '--graceful-timeout', '600', fixture(app)]);
    const ws = await open(`ws://127.0.0.1:${g.port}/`);
    ws.send('ping');
    await nextMessage(ws);
    const done = closed(ws);
    g.signal('SIGTERM');
    expect((await done).code).toBe(1001);
    const exit = await g.exited;
    expect(exit.code).toBe(0);
  });

  it("a node app's own `upgrade` sockets do not hold back its close(), which ends them at a graceful stop", async () => {
    // They waited for the app's close(), which waited for them: 1006 at the graceful timeout's kill.
    const g = await startGserve(['--graceful-timeout', '600', fixture('ws-node-own-close.js:app')]);
    const ws = await open(`ws://127.0.0.1:${g.port}/`);
    const done = closed(ws);
    g.signal('SIGTERM');
    expect(await done).toEqual({ code: 1001, reason: 'server stopping' });
    expect((await g.exited).code).toBe(0);
  });

  it("-k thread: a node app's own `upgrade` sockets are ended by its close(), which runs near the graceful timeout", async () => {
    // An app thread's tunnels stay open until then (the main thread cannot tell them from requests);
    // the threads' close() never ran, and the master's kill cut them (1006).
    const g = await startGserve(['-k', 'thread', '--graceful-timeout', '4', fixture('ws-node-own-close.js:app')]);
    const ws = await open(`ws://127.0.0.1:${g.port}/`);
    const done = closed(ws);
    g.signal('SIGTERM');
    expect(await done).toEqual({ code: 1001, reason: 'server stopping' });
    expect((await g.exited).code).toBe(0);
  });

  it("a client stuck in its TLS handshake does not keep a node app's close() from running once it leaves", async () => {
    // Such a connection is no protocol's yet: its leaving went unnoticed, and the stop waited for the kill.
    const g = await startGserve(['--graceful-timeout', '600', ...tlsArgs(), fixture('ws-node-own-close.js:app')]);
    const ws = await open(`wss://127.0.0.1:${g.port}/`, { rejectUnauthorized: false });
    const stuck = connect(g.port, '127.0.0.1');
    await once(stuck, 'connect');
    ws.send('ping'); // a round trip: the worker has taken the stuck connection by its answer
    await nextMessage(ws);
    const done = closed(ws);
    g.signal('SIGTERM');
    await g.until(() => /Worker exiting/.test(g.stdout + g.stderr), 'the worker stopping');
    stuck.destroy();
    expect(await done).toEqual({ code: 1001, reason: 'server stopping' });
    expect((await g.exited).code).toBe(0);
  });

  it("a node app's own `upgrade` sockets that its shutdown leaves open keep working until the graceful timeout", async () => {
    const g = await startGserve(['--graceful-timeout', '5', fixture('ws-node-upgrade.js:app')]);
    const ws = await open(`ws://127.0.0.1:${g.port}/`);
    const done = closed(ws);
    g.signal('SIGTERM');
    await g.until(() => /Worker exiting/.test(g.stdout + g.stderr), 'the worker stopping');
    ws.send('still here');
    expect((await nextMessage(ws)).data.toString()).toBe('still here');
    expect((await done).code).toBe(1006);
    await g.exited;
  });
});

const HANDSHAKE = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
  `Upgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
const INJECTED = 'ann%0D%0ASet-Cookie:%20session=attacker';
/** Everything the master and its workers wrote: log lines, and what the app printed. */
const output = (g: Gserve) => g.stdout + g.stderr;

describe.each(['async', 'thread'])('-k %s: what an app chooses for a handshake, and how its socket ends', (cls) => {
  it('asgi: a line break in an accept header, or a subprotocol the client did not offer, is a 500, never a 101', async () => {
    const g = await startGserve(['-k', cls, fixture('ws-asgi-mistakes.js:app')]);
    for (const [path, extra] of [
      [`/hdr?${INJECTED}`, ''],
      [`/sp?chat%0D%0ASet-Cookie:%20session=attacker`, 'Sec-WebSocket-Protocol: chat\r\n'],
      ['/sp?other', 'Sec-WebSocket-Protocol: chat\r\n'],
    ] as const) {
      const { data, closed } = await sendRaw(g.port, HANDSHAKE(path, extra));
      expect(closed, path).toBe(true);
      expect(data.toString('latin1'), path).toMatch(/^HTTP\/1\.1 500 /);
      expect(data.toString('latin1'), path).not.toMatch(/session=attacker|101 Switching/);
    }
    await g.until(() => /line break or another control character/.test(output(g)), 'the header error in the log');
    await g.until(
      () => /subprotocol \\"other\\" was not offered by the client/.test(output(g)),
      'the subprotocol error',
    );
    // A subprotocol the client offered is still taken.
    const ws = await open(`ws://127.0.0.1:${g.port}/sp?chat`, {}, ['chat']);
    expect(ws.protocol).toBe('chat');
    ws.terminate();
  });

  it('fetch: a line break in server.upgrade() headers is a 500 that closes the connection', async () => {
    const g = await startGserve(['-k', cls, fixture('ws-fetch-mistakes.js')]);
    const { data, closed } = await sendRaw(g.port, HANDSHAKE('/'));
    expect(closed).toBe(true);
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 500 /);
    expect(data.toString('latin1')).not.toMatch(/session=attacker/);
    expect((await get(g.url + '/')).body).toBe('http');
    expect(output(g)).not.toMatch(/discardBody/);
  });

  it.each(['/close-long', '/close-999'])(
    'asgi: %s, a close no frame can carry, is the app error it is, and the client still gets a close (1011)',
    async (path) => {
      const g = await startGserve(['-k', cls, fixture('ws-asgi-mistakes.js:app')]);
      const ws = await open(`ws://127.0.0.1:${g.port}${path}`);
      expect((await closed(ws)).code).toBe(1011);
      await g.until(
        () => /websocket\.close (code 999|reason is 200 bytes)/.test(output(g)),
        'the app error in the log',
      );
    },
  );

  it('asgi: an app that reads nothing holds its client back, keeps it past ping deadlines, and every message arrives once it reads', async () => {
    // Pings on a short period: the pongs wait unread behind the messages, which must not drop the client.
    const g = await startGserve([
      '-k',
      cls,
      '--ws-ping-interval',
      '0.2',
      '--ws-ping-timeout',
      '0.3',
      fixture('ws-asgi-mistakes.js:app'),
    ]);
    const go = join(tempDir(), 'read-now');
    const ws = await open(`ws://127.0.0.1:${g.port}/hold?${encodeURIComponent(go)}`);
    const MESSAGES = 96;
    for (let i = 0; i < MESSAGES; i++) ws.send(Buffer.alloc(1024 * 1024, i % 200));
    ws.send(Buffer.from([0xff]));
    // The app starts reading once the client can send no more: all sent, or the server has stopped
    // taking its bytes (what is left to send no longer goes down between two looks).
    let last = -1;
    await pollUntil(
      () => {
        const left = ws.bufferedAmount;
        const stalled = left === last;
        last = left;
        return left === 0 || stalled;
      },
      'the client to send all it can',
      { everyMs: 250, timeoutMs: 60_000 },
    );
    // Pings go on while the app reads nothing, each past the last one's deadline (the pongs wait
    // unread), and once it reads (they wait behind the client's megabytes): the client is kept.
    let pings = 0;
    ws.on('ping', () => pings++);
    await pollUntil(() => pings >= 3, 'three pings while the app reads nothing', { everyMs: 100, timeoutMs: 30_000 });
    expect(ws.readyState).toBe(ws.OPEN);
    const answer = nextMessage(ws);
    writeFileSync(go, '');
    const m = /^got (\d+) bytes (\d+) held (\d+)$/.exec((await answer).data.toString());
    expect(m?.slice(1, 3)).toEqual([String(MESSAGES + 1), String(MESSAGES * 1024 * 1024 + 1)]);
    const held = Number(m![3]);
    console.log(
      `-k ${cls}: ${(last / 2 ** 20).toFixed(0)} MiB left to send, ${(held / 2 ** 20).toFixed(0)} MiB held in the worker`,
    );
    // The worker took at most half of what the client had to send (kernel buffers included); the
    // rest waited on the client's side. Without the bound it took all 96 MiB in.
    expect(last).toBeGreaterThan(48 * 1024 * 1024);
    expect(held).toBeLessThan(32 * 1024 * 1024);
    ws.terminate();
  });

  it('asgi: a message over --ws-max-size reaches the app as disconnect 1009, and receive() after it says so again', async () => {
    const g = await startGserve(['-k', cls, '--ws-max-size', '1024', fixture('ws-asgi-mistakes.js:app')]);
    const ws = await open(`ws://127.0.0.1:${g.port}/twice`);
    const done = closed(ws);
    ws.send('x'.repeat(2000));
    expect((await done).code).toBe(1009);
    // On -k thread the closing handshake ends on the client's FIN, which the tunnel now passes on:
    // it took ws's 30 s close timeout, past this wait's deadline.
    await g.until(() => /again websocket\.disconnect 1009/.test(output(g)), 'the second receive() answered', 20_000);
    expect(output(g)).toMatch(/disconnect 1009/);
  });

  it('asgi: a send loop that never calls receive() ends with ClientDisconnected once the client leaves', async () => {
    const g = await startGserve(['-k', cls, '-w', '1', fixture('ws-asgi.js:app')]);
    // A client that takes the 101 and reads nothing more, then leaves while the app is held back.
    const client = connect(g.port, '127.0.0.1');
    client.on('error', () => {});
    client.write(HANDSHAKE('/flood'));
    const [first] = (await once(client, 'data')) as [Buffer];
    expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    client.pause();
    await pollUntil(() => client.readableLength > 0 || client.bytesRead > 64 * 1024, 'the flood reaching the client');
    client.destroy();
    // Its sends went on resolving at once on a socket that was gone, without a turn of the event
    // loop, so the worker heard of nothing else: no close, no heartbeat, no HTTP request.
    await g.until(() => /flood ended: ClientDisconnected ECONNRESET/.test(output(g)), 'the failed send', 20_000);
    expect((await get(g.url + '/')).body).toBe('http');
  });

  it('a handshake that cannot open is refused before the app runs (asgi), or not upgraded (fetch)', async () => {
    const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nHost: x\r\n';
    const faulty: Array<[string, string, number]> = [
      ['/post', `POST /post HTTP/1.1\r\n${UPGRADE}${KEY}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n`, 400],
      ['/http10', `GET /http10 HTTP/1.0\r\n${UPGRADE}${KEY}Sec-WebSocket-Version: 13\r\n\r\n`, 400],
      ['/no-key', `GET /no-key HTTP/1.1\r\n${UPGRADE}Sec-WebSocket-Version: 13\r\n\r\n`, 400],
      [
        '/bad-key',
        `GET /bad-key HTTP/1.1\r\n${UPGRADE}Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        400,
      ],
      ['/version-8', `GET /version-8 HTTP/1.1\r\n${UPGRADE}${KEY}Sec-WebSocket-Version: 8\r\n\r\n`, 426],
      ['/two-keys', `GET /two-keys HTTP/1.1\r\n${UPGRADE}${KEY}${KEY}Sec-WebSocket-Version: 13\r\n\r\n`, 400],
      [
        '/two-versions',
        `GET /two-versions HTTP/1.1\r\n${UPGRADE}${KEY}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        426,
      ],
    ];
    const asgi = await startGserve(['-k', cls, fixture('ws-asgi.js:app')]);
    const fetchApp = await startGserve(['-k', cls, fixture('ws-fetch.js')]);
    for (const [path, bytes, status] of faulty) {
      const [refused] = parseResponses((await sendRaw(asgi.port, bytes)).data);
      expect(refused, path).toMatchObject({ status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
      if (status === 426) expect(refused!.headers['sec-websocket-version']).toBe('13');
      const [plain] = parseResponses((await sendRaw(fetchApp.port, bytes)).data);
      expect(plain, path).toMatchObject({ status: 200, body: 'http' });
    }
    // A sound handshake reaches the app: what it printed for the others would be there too.
    const ws = await open(`ws://127.0.0.1:${asgi.port}/sound`);
    await asgi.until(() => /websocket scope \/sound/.test(output(asgi)), 'the sound handshake reaching the app');
    ws.terminate();
    expect(output(asgi)).not.toMatch(/websocket scope \/(post|http10|no-key|bad-key|version-8|two-keys|two-versions)/);
  });

  it('asgi: a denial response (websocket.http.response) goes out in place of the handshake', async () => {
    const g = await startGserve(['-k', cls, fixture('ws-asgi.js:app')]);
    const [denied] = parseResponses((await sendRaw(g.port, HANDSHAKE('/denied'))).data);
    expect(denied).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' }, body: 'no token' });
    expect(g.lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    // Left unfinished, as an http response would be: a 500 before the head, a cut connection after it.
    const [noBody] = parseResponses((await sendRaw(g.port, HANDSHAKE('/denied-no-body'))).data);
    expect(noBody!.status).toBe(500);
    const partial = await sendRaw(g.port, HANDSHAKE('/denied-partial'));
    expect(partial.data.toString('latin1')).toMatch(/^HTTP\/1\.1 401 /);
    expect(partial.data.toString('latin1')).not.toMatch(/\r\n0\r\n\r\n$/); // no last chunk: not whole
    await g.until(
      () =>
        /returned without sending websocket\.http\.response\.body/.test(output(g)) &&
        /its last websocket\.http\.response\.body said more_body: true/.test(output(g)),
      'both logged',
    );
  });

  it('asgi: after the client left, an accept and sends fail, none reported when not awaited; after the app closed, a send is its mistake', async () => {
    const g = await startGserve(['-k', cls, '-w', '1', fixture('ws-asgi.js:app')]);
    const leave = async (path: string) => {
      const client = connect(g.port, '127.0.0.1');
      client.on('error', () => {});
      client.write(HANDSHAKE(path));
      if (path === '/unawaited')
        await once(client, 'data'); // accepted, then left
      else await g.until(() => output(g).includes(`websocket scope ${path}`), 'the app holding the handshake');
      client.destroy();
    };
    await leave('/late-accept');
    await g.until(() => /late accept: websocket\.send failed/.test(output(g)), 'the late accept to end');
    expect(output(g)).toMatch(/late accept: waited for websocket\.disconnect/);
    expect(output(g)).toMatch(/late accept: websocket\.accept failed: ClientDisconnected ECONNRESET/);
    expect(output(g)).toMatch(/late accept: websocket\.send failed: ClientDisconnected ECONNRESET/);
    await leave('/unawaited');
    await g.until(() => output(g).includes('unawaited: done'), 'the unawaited sends');
    const ws = await open(`ws://127.0.0.1:${g.port}/after-close`);
    await closed(ws);
    await g.until(
      () => /after close: AsgiProtocolError: websocket\.send sent after websocket\.close/.test(output(g)),
      'the send after close',
    );
    expect((await get(g.url + '/')).body).toBe('http');
    expect(g.lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
  });

  it('asgi: a client that sends on past its handshake without waiting for the 101 is cut off, and the app told', async () => {
    const g = await startGserve(['-k', cls, '-w', '1', fixture('ws-asgi.js:app')]);
    const client = connect(g.port, '127.0.0.1');
    client.on('error', () => {});
    client.write(HANDSHAKE('/late-accept'));
    await g.until(() => output(g).includes('websocket scope /late-accept'), 'the app holding the handshake');
    // RFC 6455 §4.1: the client waits for the answer; one that sends a megabyte meanwhile is not
    // waiting. Held unread, it kept its socket and the app's wait for ever.
    client.write(Buffer.alloc(1024 * 1024));
    await new Promise((resolve) => client.on('close', resolve)); // reset, as it is still sending
    await g.until(() => /late accept: waited for websocket\.disconnect/.test(output(g)), 'the app told');
    expect((await get(g.url + '/')).body).toBe('http');
  });
});
