import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { RawConnection, holdConnections, parseResponses, sendRaw } from '../helpers/raw.js';

/** Slow and idle clients: header, body and keep-alive timeouts, and max requests per connection. */

const ENGINES = [
  { name: 'engine (fetch app)', app: join(FIXTURES, 'apps/recorder-fetch.js') },
  { name: 'node:http (node app)', app: join(FIXTURES, 'apps/recorder-node.js') + ':app' },
  // The thread class: the main thread's engine in front, the app in a thread.
  {
    name: 'thread class (node app)',
    app: join(FIXTURES, 'apps/recorder-node.js') + ':app',
    args: ['-k', 'thread', '--threads', '2'],
  },
  {
    name: 'thread class (fetch app)',
    app: join(FIXTURES, 'apps/recorder-fetch.js'),
    args: ['-k', 'thread', '--threads', '2'],
  },
];

const HEAD = 'GET / HTTP/1.1\r\nHost: x\r\n';

describe.each(ENGINES)('slow clients, $name', ({ app, args = [] }) => {
  it(
    'cuts off a slowloris, a silent client, a stalled body and an idle keep-alive; ' +
      'ends a connection after --max-keepalive-requests',
    async () => {
      const g = await startGserve([
        ...args,
        '--header-timeout',
        '1',
        '--request-timeout',
        '1',
        '--keep-alive',
        '2',
        '--max-keepalive-requests',
        '3',
        app,
      ]);

      // A slowloris trickles its head a byte at a time: 408 once --header-timeout has passed since its
      // first byte, although every byte came well within any idle time.
      const slowloris = async () => {
        const trickle = `${HEAD}X-Slow: ${'s'.repeat(400)}\r\n\r\n`;
        const socket = connect(g.port, '127.0.0.1');
        let sent = 0;
        let received = '';
        socket.on('data', (d) => (received += d.toString('latin1')));
        socket.on('error', () => {});
        const ticker = setInterval(() => {
          if (sent < trickle.length && !socket.destroyed) socket.write(trickle[sent++]!);
        }, 50);
        await new Promise((resolve) => socket.on('close', resolve));
        clearInterval(ticker);
        expect(sent).toBeLessThan(trickle.length);
        const [response] = parseResponses(Buffer.from(received, 'latin1'));
        expect(response!.status).toBe(408);
        expect(response!.headers.connection).toBe('close');
        expect(response!.body).toMatch(/--header-timeout/);
      };

      // A connection that never sends a byte is closed without an answer.
      const silent = async () => {
        const { data, closed } = await sendRaw(g.port, '');
        expect(closed).toBe(true);
        expect(data.length).toBe(0);
      };

      // A body that stops arriving gets 408 (--request-timeout).
      const stalledBody = async () => {
        const { data, closed } = await sendRaw(
          g.port,
          `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n${'b'.repeat(10)}`,
        );
        expect(closed).toBe(true);
        const [response] = parseResponses(data);
        expect(response!.status).toBe(408);
        expect(response!.body).toMatch(/--request-timeout/);
      };

      // An idle keep-alive connection is closed after --keep-alive, not before answering.
      const idleKeepAlive = async () => {
        const conn = await RawConnection.open(g.port);
        const first = await conn.request(`${HEAD}\r\n`);
        expect(first.status).toBe(200);
        expect(first.headers.connection).not.toBe('close');
        await conn.closed;
        await expect(conn.nextResponse()).rejects.toThrow(/closed/);
      };

      // The third request on a connection is the last: Connection: close, then the close.
      const maxRequests = async () => {
        const conn = await RawConnection.open(g.port);
        for (let i = 1; i <= 3; i++) {
          const r = await conn.request(`GET /k${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
          expect(r.status).toBe(200);
          expect(r.headers.connection === 'close').toBe(i === 3);
        }
        await conn.closed;
      };

      // Four requests pipelined in one write: three answers, the last with Connection: close, then
      // the close; the fourth never reaches the app (node:http alone would answer it 503).
      const pipelinedPastMax = async () => {
        const heads = [1, 2, 3, 4].map((i) => `GET /p${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
        const { data, closed } = await sendRaw(g.port, heads);
        expect(closed).toBe(true);
        const answers = parseResponses(data);
        expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
        expect(answers[2]!.headers.connection).toBe('close');
        expect(answers.map((r) => r.headers['keep-alive'] ?? '').join()).not.toMatch(/max=/);
      };

      await Promise.all([slowloris(), silent(), stalledBody(), idleKeepAlive(), maxRequests(), pipelinedPastMax()]);
      // Each app thread keeps its own record: asked only where one app instance saw them all.
      if (!args.includes('--threads')) {
        const seen = JSON.parse((await get(`${g.url}/__seen`)).body) as string[];
        expect(seen).toContain('GET /p3');
        expect(seen).not.toContain('GET /p4');
      }
      expect((await get(g.url)).status).toBe(200);
      // The slowloris and the stalled body, each on one info line.
      await g.waitForLog(/^Refused request: 408 /, { count: 2 });
    },
  );

  it('serves normal requests while 500 slow connections are held open, then times them all out', async () => {
    const g = await startGserve([...args, '--header-timeout', '5', app]);
    const slow: Socket[] = [];
    const outcomes: Array<Promise<string>> = [];
    for (let i = 0; i < 500; i++) {
      const socket = connect(g.port, '127.0.0.1');
      slow.push(socket);
      let received = '';
      socket.on('data', (d) => (received += d.toString('latin1')));
      socket.on('error', () => {});
      outcomes.push(new Promise((resolve) => socket.on('close', () => resolve(received))));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(HEAD); // a head that never ends
    }
    try {
      // A normal client is served at once, 20 times over, while the 500 wait on the same worker.
      for (let i = 0; i < 20; i++) {
        const r = await get(`${g.url}/normal-${i}`);
        expect(r.status).toBe(200);
      }
      // Every slow one is still open: nothing cut them off early.
      expect(slow.filter((s) => s.destroyed).length).toBe(0);
      const received = await Promise.all(outcomes);
      const statuses = received.map((text) => /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      expect(statuses.filter((s) => s === '408').length).toBe(500);
    } finally {
      for (const s of slow) s.destroy();
    }
    expect((await get(g.url)).status).toBe(200);
  });
});

// A sync worker serves one connection at a time: a client that sends nothing, or trickles its
// request, must not be given one (master/request-wait.ts), or a few such clients stop the server.
describe.each(ENGINES.slice(0, 2))('the sync class with slow clients, $name', ({ app }) => {
  const SLOW_POST = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789';

  /** One request on a new connection, read until the server closes it; its first response. */
  const exchange = async (port: number, ...writes: string[]) => {
    const held = (await holdConnections(port, 1, writes[0]))[0]!;
    for (const bytes of writes.slice(1)) held.socket.write(bytes);
    await new Promise((resolve) => held.socket.on('close', resolve));
    return parseResponses(Buffer.from(held.received(), 'latin1'))[0];
  };

  it('serves normal clients while 60 others hold connections without a whole request, on one worker', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--header-timeout', '120', app]);
    const held = [
      ...(await holdConnections(g.port, 20)),
      ...(await holdConnections(g.port, 20, `${HEAD}X-Slow: trick`)),
      ...(await holdConnections(g.port, 20, SLOW_POST)),
    ];
    try {
      for (let i = 0; i < 5; i++) expect((await get(`${g.url}/normal-${i}`)).status).toBe(200);
      // A request that arrives in pieces is served once it is whole.
      const post = 'POST /pieces HTTP/1.1\r\nHost: x\r\n';
      expect(await exchange(g.port, post, 'Content-Length: 5\r\n', '\r\nhel', 'lo')).toMatchObject({
        status: 200,
        body: 'ok 5 /pieces\n',
      });
      // What the master hands on at the end of the head: a body too large to hold, a chunked one, and
      // one whose client waits for 100 Continue. The worker reads each from the socket.
      const big = 'x'.repeat(100_000);
      expect(await exchange(g.port, `${post}Content-Length: ${big.length}\r\n\r\n`, big)).toMatchObject({
        status: 200,
        body: `ok ${big.length} /pieces\n`,
      });
      const chunked = `${post}Transfer-Encoding: chunked\r\n\r\n`;
      expect(await exchange(g.port, chunked, '3\r\nabc\r\n', '0\r\n\r\n')).toMatchObject({ body: 'ok 3 /pieces\n' });
      const expects = (
        await holdConnections(g.port, 1, `${post}Expect: 100-continue\r\nContent-Length: 2\r\n\r\n`)
      )[0]!;
      await new Promise<void>((resolve) => {
        const check = () => expects.received().startsWith('HTTP/1.1 100 Continue') && resolve();
        expects.socket.on('data', check);
        check();
      });
      expects.socket.write('ok');
      await new Promise((resolve) => expects.socket.on('close', resolve));
      expect(expects.received()).toMatch(/\r\n\r\nok 2 \/pieces\n$/);
      expect(held.filter((h) => h.socket.destroyed || h.received() !== '').length).toBe(0);
    } finally {
      for (const h of held) h.socket.destroy();
    }
  });

  it('a refused request frees the worker at once, while its answer lingers for a client that never closes', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', app]);
    const open = (bytes: string) => {
      const socket = connect({ port: g.port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (d) => (received += d.toString('latin1')));
      socket.write(bytes);
      return { socket, received: () => received, ended: new Promise((resolve) => socket.once('end', resolve)) };
    };
    // `GET /` with no version can never become a request: refused as soon as its line ends.
    const first = open('GET /\r\n');
    await first.ended;
    // The first refusal's linger ends when the server drops the connection: a byte written then is
    // reset, which closes the client's socket.
    const lingerEnded = new Promise((resolve) => first.socket.once('close', () => resolve('the linger ended')));
    const writer = setInterval(() => first.socket.write('x'), 100);
    const others = ['XYZ@ / HTTP/1.1\r\n', `${HEAD}Bad Header: x\r\n\r\n`].map(open);
    try {
      // Each refusal held the only worker for its linger (2 s): the next one, and a normal request
      // behind them, came only after the first connection was dropped. Now all are answered first.
      const served = (async () => {
        await Promise.all(others.map((o) => o.ended));
        expect((await get(`${g.url}/after`)).status).toBe(200);
        return 'served';
      })();
      expect(await Promise.race([served, lingerEnded])).toBe('served');
      for (const r of [first, ...others]) expect(r.received()).toMatch(/^HTTP\/1\.1 400 /);
    } finally {
      clearInterval(writer);
      for (const r of [first, ...others]) r.socket.destroy();
    }
  });

  it('behind --proxy-protocol: clients whose request has not followed their PROXY line hold no worker', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--proxy-protocol', '--header-timeout', '120', app]);
    const proxy = 'PROXY TCP4 198.51.100.9 10.0.0.1 8123 80\r\n';
    const held = [
      ...(await holdConnections(g.port, 10, proxy)),
      ...(await holdConnections(g.port, 10, `${proxy}${HEAD}X-Slow: trick`)),
    ];
    try {
      expect(await exchange(g.port, proxy, 'GET /through HTTP/1.1\r\nHost: x\r\n\r\n')).toMatchObject({
        status: 200,
        body: 'ok 0 /through\n',
      });
      expect(held.filter((h) => h.socket.destroyed || h.received() !== '').length).toBe(0);
    } finally {
      for (const h of held) h.socket.destroy();
    }
  });

  it('408 for a head or a held body past its timeout, a silent client closed, 400 for a head cut short', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--header-timeout', '1', '--request-timeout', '1', app]);
    const slow = (await holdConnections(g.port, 1, `${HEAD}X-Slow: trick`))[0]!;
    const slowBody = (await holdConnections(g.port, 1, SLOW_POST))[0]!;
    const silent = (await holdConnections(g.port, 1))[0]!;
    await Promise.all(
      [slow, slowBody, silent].map(({ socket }) => new Promise((resolve) => socket.on('close', resolve))),
    );
    const [headLate] = parseResponses(Buffer.from(slow.received(), 'latin1'));
    expect(headLate).toMatchObject({ status: 408, headers: { connection: 'close' } });
    expect(headLate!.body).toMatch(/--header-timeout/);
    const [bodyLate] = parseResponses(Buffer.from(slowBody.received(), 'latin1'));
    expect(bodyLate).toMatchObject({ status: 408, headers: { connection: 'close' } });
    expect(bodyLate!.body).toMatch(/--request-timeout/);
    expect(silent.received()).toBe('');
    await g.waitForLog(/^Refused request: 408 /, { count: 2 });
    // The client closes its side within a head: the worker reads the end itself and refuses it.
    const { data, closed } = await sendRaw(g.port, `${HEAD}X-Cut: sh`, { halfClose: true });
    expect(closed).toBe(true);
    expect(parseResponses(data)[0]!.status).toBe(400);
    expect((await get(g.url)).status).toBe(200);
  });

  it('a body handed on with its head and then stalled holds the worker no longer than --timeout: 408', async () => {
    // --request-timeout stays at its 300 s: the sync worker's wait is held to --timeout, as Gunicorn's.
    const g = await startGserve(['-k', 'sync', '-w', '1', '--timeout', '2', app]);
    const post = 'POST /stalled HTTP/1.1\r\nHost: x\r\n';
    // Too large for the master to hold, and chunked: both go to the worker at the end of the head.
    const stalled = await holdConnections(g.port, 1, `${post}Content-Length: 100000\r\n\r\nab`);
    const chunked = await holdConnections(g.port, 1, `${post}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`);
    for (const { socket, received } of [...stalled, ...chunked]) {
      await new Promise((resolve) => socket.on('close', resolve));
      const [answer] = parseResponses(Buffer.from(received(), 'latin1'));
      expect(answer).toMatchObject({ status: 408, headers: { connection: 'close' } });
      expect(answer!.body).toMatch(/within 2 s \(--timeout\)/);
    }
    expect((await get(g.url)).status).toBe(200);
  }, 60_000);

  it('a head refused by itself (a body past --limit-request-body, no Host) is answered at once, not held for its body', async () => {
    // A --request-timeout far past the test's: a body waited for would end in a 408 it never sees.
    const g = await startGserve([
      '-k',
      'sync',
      '-w',
      '1',
      '--limit-request-body',
      '100',
      '--request-timeout',
      '600',
      app,
    ]);
    const tooLarge = await sendRaw(g.port, 'POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n');
    expect(parseResponses(tooLarge.data)[0]!.status).toBe(413);
    const noHost = await sendRaw(g.port, 'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n');
    expect(parseResponses(noHost.data)[0]!.status).toBe(400);
  });
});

// The sync master holds at most 2048 connections while their requests arrive (master/dispatch.ts).
describe('the sync class under a flood of silent connections', () => {
  it('takes a normal client past 2048 connections that send nothing: the oldest silent ones go, a client part-way through its request stays', async () => {
    const { app } = ENGINES[1]!; // the node app, whose answer says what it read
    const g = await startGserve(['-k', 'sync', '-w', '1', '--header-timeout', '120', app]);
    const FLOOD = 2100; // past the 2048 connections the master holds
    // A client part-way through its request when the flood comes: sending, so it keeps its place.
    const upload = (
      await holdConnections(g.port, 1, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nfour')
    )[0]!;
    const held = await holdConnections(g.port, FLOOD);
    const closed: typeof held = [];
    const allClosed = new Promise<void>((resolve) => {
      for (const h of held) h.socket.once('close', () => closed.push(h) === FLOOD - 2048 + 1 && resolve());
    });
    try {
      await g.waitForLog(/^Holding 2048 connections: closing the oldest that has sent nothing/);
      await allClosed;
      // Before, every new client got `503 too many connections` for as long as the flood stayed.
      const res = await get(`${g.url}/after-flood`);
      expect(res.status).toBe(200);
      expect(closed.every((h) => h.received() === '')).toBe(true);
      upload.socket.write('more');
      await new Promise((resolve) => upload.socket.on('close', resolve));
      expect(parseResponses(Buffer.from(upload.received(), 'latin1'))[0]).toMatchObject({
        status: 200,
        body: 'ok 8 /upload\n',
      });
    } finally {
      upload.socket.destroy();
      for (const h of held) h.socket.destroy();
    }
  }, 60_000);
});

// A synchronous app answers inside the parse of its own request's bytes. The idle time of the
// keep-alive connection must start all the same, or an idle client holds its connection for ever.
describe.each([
  {
    name: 'WSGI (a synchronous app)',
    app: `${join(FIXTURES, 'apps/iface-wsgi.js')}:app`,
    args: ['--interface', 'wsgi'],
  },
  { name: 'a fetch handler that returns its Response', app: join(FIXTURES, 'apps/sync-fetch.js'), args: [] },
])('idle keep-alive after an answer given at once, $name', ({ app, args }) => {
  it('is closed after --keep-alive', async () => {
    const g = await startGserve([...args, '--keep-alive', '1', app]);
    const conn = await RawConnection.open(g.port);
    const first = await conn.request(`${HEAD}\r\n`);
    expect(first.status).toBeLessThan(500);
    expect(first.headers.connection).not.toBe('close');
    expect(await conn.closedWithin(15_000)).toBe('closed');
  }, 30_000);
});

// RFC 9112 §2.2 lets a client send empty lines before a request line; they are not a request, and
// must not restart the keep-alive time, or two bytes a second hold a connection open for ever.
describe('empty lines on an idle keep-alive connection', () => {
  it('do not keep it open past --keep-alive (own engine)', async () => {
    const g = await startGserve(['--keep-alive', '1', join(FIXTURES, 'apps/sync-fetch.js')]);
    const conn = await RawConnection.open(g.port);
    const first = await conn.request(`${HEAD}\r\n`);
    expect(first.headers.connection).not.toBe('close');
    // A CRLF every 200 ms, for at most 15 s: the server must close before the client gives up.
    let sent = 0;
    const tick = setInterval(() => {
      if (!conn.socket.destroyed && sent < 75) {
        conn.socket.write('\r\n');
        sent++;
      }
    }, 200);
    try {
      expect(await conn.closedWithin(15_000)).toBe('closed');
      expect(sent).toBeLessThan(75);
    } finally {
      clearInterval(tick);
      conn.socket.destroy();
    }
  }, 30_000);
});
