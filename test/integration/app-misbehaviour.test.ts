import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tlsArgs } from '../helpers/certs.js';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponses, RawConnection, sendRaw } from '../helpers/raw.js';
import { pollUntil } from '../helpers/poll.js';

const APPS = join(FIXTURES, 'apps', 'after-the-client.js');

/** GETs `path`, reads `bytes` of the answer, then leaves. */
function readSomeAndLeave(port: number, path: string, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = 0;
    socket.on('data', (data: Buffer) => {
      got += data.length;
      if (got >= bytes) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

describe('an app that goes on after its client left', () => {
  it.each([['async'], ['sync'], ['thread']])(
    '-k %s: an ASGI app streaming for ever without reading receive() leaves the worker serving',
    async (klass) => {
      const g = await startGserve(['-w', '1', '-k', klass, '--interface', 'asgi', '--lifespan', 'off', `${APPS}:asgi`]);
      await readSomeAndLeave(g.port, '/forever', 256 * 1024);
      // Its sends are dropped, settled on a later turn of the event loop: other requests are served.
      for (let i = 0; i < 3; i++) expect((await get(`${g.url}/ok`)).body).toBe('ok');
      expect(g.stderr).not.toMatch(/TIMEOUT/);
    },
  );

  it.each([['async'], ['thread']])(
    "-k %s: a WSGI generator body's finally runs when the client leaves mid-answer",
    async (klass) => {
      const marker = join(tempDir(), 'closed');
      const g = await startGserve(['-w', '1', '-k', klass, '--interface', 'wsgi', `${APPS}:wsgi`]);
      await readSomeAndLeave(g.port, `/?marker=${encodeURIComponent(marker)}`, 256 * 1024);
      await pollUntil(() => existsSync(marker), 'the generator closed');
    },
  );
});

describe('a client that leaves while its app reads the body', () => {
  it.each([['async'], ['thread']])(
    '-k %s, fetch app: the failed read is a debug line, not an error with a stack',
    async (klass) => {
      const g = await startGserve(['-w', '1', '-k', klass, `${join(FIXTURES, 'apps', 'reads-body-fetch.js')}:app`]);
      const socket = connect(g.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc');
      await g.until(() => g.stdout.includes('reading body'), 'the app reading the body');
      socket.resetAndDestroy();
      await g.waitForLog(/^Request POST \/upload not answered: the client left before its answer/);
      expect(g.lines.filter((l) => l.level >= 50)).toEqual([]);
      expect((await get(`${g.url}/`)).body).toBe('got 0\n');
    },
  );
});

describe('odd failures get the usual answer', () => {
  it('a node app whose writeHead() failed gets `500 Internal Server Error`, not `500 OK`', async () => {
    const g = await startGserve([`${APPS}:node`]);
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect(g.port, '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    expect(head).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
  });

  it('--worker-connections full on a TLS listener: the connection over the cap is closed, not sent a plain-text 503', async () => {
    const g = await startGserve([
      '-w',
      '1',
      '--worker-connections',
      '1',
      ...tlsArgs(),
      join(FIXTURES, 'apps', 'observe') + ':app',
    ]);
    const held = tlsConnect({ port: g.port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise((resolve, reject) => held.once('secureConnect', resolve).once('error', reject));
    // A raw TCP client sees what the worker writes to the connection over the cap.
    const written = await new Promise<string>((resolve, reject) => {
      const socket = connect(g.port, '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
      socket.on('close', () => resolve(text));
    });
    expect(written).not.toMatch(/^HTTP\//);
    held.destroy();
  });
});

describe('bytes a WebSocket client sends with its handshake', () => {
  const HANDSHAKE =
    'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  /** A masked text frame from a client: FIN, opcode 1 (`rsv1` sets RSV1, which no extension allows here). */
  const frame = (text: string, rsv1 = false) => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from(text).map((b, i) => b ^ mask[i % 4]!);
    return Buffer.concat([Buffer.from([rsv1 ? 0xc1 : 0x81, 0x80 | payload.length]), mask, payload]);
  };
  /** Sends the handshake and `then` in one write; resolves with what the server sent once `done(it)` holds. */
  const exchangeRaw = (port: number, then: Buffer, done: (got: Buffer) => boolean) =>
    new Promise<Buffer>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let got = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (done(got)) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed first, after: ${got.toString('latin1')}`)));
      socket.write(Buffer.concat([Buffer.from(HANDSHAKE), then]));
    });
  /** A close frame with status 1002 (protocol error). */
  const CLOSE_1002 = Buffer.from([0x88, 0x02, 0x03, 0xea]);

  it.each([['async'], ['thread']])('-k %s: a message is answered and a bad frame is refused (1002)', async (klass) => {
    const g = await startGserve(['-w', '1', '-k', klass, '--threads', '1', join(FIXTURES, 'apps', 'ws-node.js:app')]);
    const echoed = await exchangeRaw(g.port, frame('hello'), (got) => got.includes('hello'));
    expect(echoed.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const refused = await exchangeRaw(g.port, frame('hi', true), (got) => got.includes(CLOSE_1002));
    expect(refused.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    expect((await get(`${g.url}/`)).body).toBe('http');
    expect(g.stderr).not.toMatch(/died|uncaught/i);
  });
});

describe('an Upgrade that is not a WebSocket, to a node app with websocket handlers', () => {
  it('`Upgrade: h2c` (curl --http2) is served as a plain request where node:http lets gserve say so', async () => {
    const g = await startGserve([join(FIXTURES, 'apps', 'ws-node.js:app')]);
    const r = await get(`${g.url}/`, {
      headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': '' },
    });
    // node:http asks the server which upgrades it takes from Node 24.9 on (shouldUpgradeCallback);
    // before, every Upgrade goes to ws, which refuses what is not a WebSocket.
    const nodeAsks =
      typeof (createServer() as { shouldUpgradeCallback?: unknown }).shouldUpgradeCallback === 'function';
    if (nodeAsks) expect([r.status, r.body]).toEqual([200, 'http']);
    else expect(r.status).toBe(400);
  });
});

describe('an answer that would not frame on the wire is refused, and the connection stays in step', () => {
  const UNFRAMED = join(FIXTURES, 'apps', 'unframed-answers.js');
  /** The slip, then /ok on the same connection: answers read strictly by their framing. */
  const slipThenOk = async (port: number, path: string) => {
    const ask = (p: string, last = false) =>
      `GET ${p} HTTP/1.1\r\nHost: x\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
    const { data, closed } = await sendRaw(port, ask(path) + ask('/ok', true));
    expect(closed).toBe(true);
    return parseResponses(data); // throws on bytes out of step
  };

  it.each([['async'], ['sync'], ['thread']])(
    '-k %s, node app: a wrong or doubled length, a 1xx as the answer, a write after end',
    async (klass) => {
      const g = await startGserve(['-w', '1', '-k', klass, `${UNFRAMED}:node`]);
      const slips = [
        '/short',
        '/long',
        '/head-then-long',
        '/written-then-long',
        '/empty-declared',
        '/not-decimal',
        '/two-lengths',
        '/coding-and-length',
      ];
      for (const path of [...slips, '/interim']) {
        const answers = await slipThenOk(g.port, path);
        // A 500 where nothing had gone out yet, else a cut connection; never a head that does not frame.
        for (const a of answers) expect([500, 200], path).toContain(a.status);
        if (answers[0]?.status === 200) expect(answers[0].body, path).toBe('ok');
      }
      // A whole body in end() that is not the length set, with nothing written before: nothing has
      // gone out, so the client is told.
      for (const path of ['/short', '/long', '/head-then-long', '/empty-declared', '/not-decimal'])
        expect((await slipThenOk(g.port, path))[0]?.status, path).toBe(500);
      const retry = await sendRaw(g.port, 'GET /retry HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(retry.data.toString('latin1')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n[\s\S]*\r\n\r\noops!$/);
      // Bodies in an encoding whose length node only estimates: sent at their decoded length.
      expect((await slipThenOk(g.port, '/base64'))[0]).toMatchObject({ status: 200, body: 'hello' });
      expect((await slipThenOk(g.port, '/base64-declared'))[0]).toMatchObject({ status: 200, body: 'hello' });
      expect((await slipThenOk(g.port, '/bad-hex'))[0]).toMatchObject({ status: 200, body: 'hi' });
      // A body that ends with the connection: the connection ends after it (the thread class's
      // engine frames it again, and keeps the connection).
      const gzip = await slipThenOk(g.port, '/te-gzip');
      expect(gzip[0]).toMatchObject({ status: 200, body: 'hello' });
      expect(gzip).toHaveLength(klass === 'thread' ? 2 : 1);
      // A write after the answer ended is logged, and the worker (its other requests) serves on.
      const late = await slipThenOk(g.port, '/double-end');
      expect(late[0]).toMatchObject({ status: 200, body: 'a\n' });
      await g.until(() => g.lines.some((l) => /write after end/i.test(JSON.stringify(l))), 'the late write logged');
      expect((await get(`${g.url}/ok`)).body).toBe('ok');
      expect(g.lines.some((l) => /crashed|exited unexpectedly|died/i.test(l.msg))).toBe(false);
    },
  );

  it.each([['async'], ['thread']])(
    '-k %s, node app writing from callbacks: a client leaving mid-download, a short body ended later: the worker lives',
    async (klass) => {
      const g = await startGserve(['-w', '1', '-k', klass, `${UNFRAMED}:node`]);
      for (let i = 0; i < 3; i++) await readSomeAndLeave(g.port, '/download', 100_000);
      // Out of the app's own call, a body short of its length can only be cut: no 500 can go out by then.
      const { data, closed } = await sendRaw(g.port, 'GET /late-short HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(closed).toBe(true);
      expect(data.toString('latin1')).not.toMatch(/hello/);
      await g.until(() => g.lines.some((l) => /does not match/.test(JSON.stringify(l))), 'the short body logged');
      expect((await get(`${g.url}/ok`)).body).toBe('ok');
      expect(g.lines.some((l) => /crashed|exited/i.test(l.msg))).toBe(false);
    },
  );

  it.each([['async'], ['sync'], ['thread']])(
    '-k %s, node app: a status out of range from a timer, a write after end into a piped response: the worker lives',
    async (klass) => {
      const g = await startGserve(['-w', '1', '-k', klass, `${UNFRAMED}:node`]);
      // From a timer, nothing is the app's call to answer: cut (the thread class's engine, which
      // re-frames the thread's answer, can still send a 500).
      const late = await sendRaw(g.port, 'GET /late-status HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(late.closed).toBe(true);
      if (late.data.length > 0) expect(parseResponses(late.data)[0]?.status).toBe(500);
      expect((await slipThenOk(g.port, '/pipe-late'))[0]).toMatchObject({ status: 200, body: 'done\n' });
      await g.until(() => g.lines.some((l) => /write after end/i.test(JSON.stringify(l))), 'the late write logged');
      expect((await get(`${g.url}/ok`)).body).toBe('ok');
      // node's prototype write, past gserve's own: the 'error' it raises has no listener of the app's.
      expect((await slipThenOk(g.port, '/proto-late'))[0]).toMatchObject({ status: 200, body: 'done\n' });
      expect((await get(`${g.url}/ok`)).body).toBe('ok');
      expect(g.lines.some((l) => /crashed|exited/i.test(l.msg))).toBe(false);
    },
  );

  it("-k async, node app: a slip on another request's response is not the running call's to answer", async () => {
    const g = await startGserve(['-w', '1', `${UNFRAMED}:node`]);
    const parked = sendRaw(g.port, 'GET /park HTTP/1.1\r\nHost: x\r\n\r\n');
    await g.until(() => g.stdout.includes('parked'), 'the first request parked');
    // /other-slip's call ends /park's response with the wrong length: /other-slip is answered, /park cut.
    expect((await get(`${g.url}/other-slip`)).body).toBe('ok');
    const { data, closed } = await parked;
    expect(closed).toBe(true);
    expect(data.length).toBe(0);
  });

  it.each([['async'], ['sync'], ['thread']])(
    '-k %s, Express app: the same checks hold on the prototype Express gives each response',
    async (klass) => {
      const g = await startGserve(['-w', '1', '-k', klass, `${join(FIXTURES, 'apps', 'unframed-express.js')}:app`]);
      for (const path of ['/short', '/interim']) expect((await slipThenOk(g.port, path))[0]?.status, path).toBe(500);
      expect((await slipThenOk(g.port, '/double-end'))[0]).toMatchObject({ status: 200, body: 'a\n' });
      await g.until(() => g.lines.some((l) => /write after end/i.test(JSON.stringify(l))), 'the late write logged');
      expect((await get(`${g.url}/ok`)).body).toBe('ok');
      expect(g.lines.some((l) => /crashed|exited/i.test(l.msg))).toBe(false);
    },
  );

  it('-k sync: a node app that says Connection: keep-alive still gets one request per connection', async () => {
    const g = await startGserve(['-w', '1', '-k', 'sync', `${UNFRAMED}:node`]);
    const ask = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { data, closed } = await sendRaw(g.port, ask('/keep-alive') + ask('/ok'));
    expect(closed).toBe(true);
    expect(parseResponses(data).map((r) => r.body)).toEqual(['kept?']);
  });

  it('-k sync: the request pipelined behind an answer that says Connection: keep-alive never reaches the app', async () => {
    const g = await startGserve(['-w', '1', '-k', 'sync', join(FIXTURES, 'apps/recorder-node.js')]);
    const ask = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { data, closed } = await sendRaw(g.port, ask('/keep-alive') + ask('/behind'));
    expect(closed).toBe(true);
    expect(parseResponses(data)).toHaveLength(1);
    const seen = await sendRaw(g.port, `${ask('/__seen').slice(0, -2)}Connection: close\r\n\r\n`);
    expect(JSON.parse(parseResponses(seen.data)[0]!.body)).toEqual(['GET /keep-alive']);
  });

  // A request that never reaches the app (pipelined behind an answer that ends its connection, or
  // behind one whose client left) is no request in flight, and gets no postRequest nor access-log line;
  // a response whose 'close' the app emits too is heard once.
  it.each(['async', 'sync'])(
    '-k %s, node app: requests that never run leave nothing in flight; one postRequest per request',
    async (klass) => {
      const dir = tempDir();
      const events = join(dir, 'events.log');
      const record = (name: string) =>
        `${name}: (w, req) => require('fs').appendFileSync(${JSON.stringify(events)}, '${name} ' + req.url + '\\n')`;
      const config = join(dir, 'gserve.config.cjs');
      writeFileSync(config, `module.exports = { ${record('preRequest')}, ${record('postRequest')} };\n`);
      const g = await startGserve([
        ...['-c', config, '-w', '1', '-k', klass, '--metrics-bind', '127.0.0.1:0', '--access-logfile', '-'],
        join(FIXTURES, 'apps/recorder-node.js'),
      ]);
      const [metricsLine] = await g.waitForLog(/^Metrics at: /);
      const metrics = metricsLine!.msg.slice('Metrics at: '.length);
      const ask = (p: string, last = false) =>
        `GET ${p} HTTP/1.1\r\nHost: x\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
      const hooks = () => (existsSync(events) ? readFileSync(events, 'utf8').trim().split('\n') : []);
      const ended = await sendRaw(g.port, ask('/close') + ask('/behind-close') + ask('/behind-close'));
      expect(parseResponses(ended.data)).toHaveLength(1);
      const kept = await sendRaw(g.port, ask('/keep-alive') + ask('/behind-keep-alive', true));
      expect(parseResponses(kept.data)).toHaveLength(klass === 'sync' ? 1 : 2);
      // A client that leaves while /slow is with the app, two requests pipelined behind it.
      const left = await RawConnection.open(g.port);
      left.socket.write(ask('/slow') + ask('/behind-left') + ask('/behind-left'));
      await pollUntil(() => hooks().includes('preRequest /slow'), '/slow with the app');
      left.socket.resetAndDestroy();
      await pollUntil(() => hooks().includes('postRequest /slow'), '/slow answered');
      const twice = await sendRaw(g.port, ask('/emit-close') + ask('/after', true));
      expect(parseResponses(twice.data).length).toBe(klass === 'sync' ? 1 : 2);
      const expected = ['/close', '/keep-alive', ...(klass === 'async' ? ['/behind-keep-alive'] : [])];
      expected.push('/slow', '/emit-close', ...(klass === 'async' ? ['/after'] : []));
      await pollUntil(
        async () => {
          const text = (await get(metrics)).body;
          return /^gserve_http_requests_in_flight 0$/m.test(text) && /^gserve_workers\{state="ready"\} 1$/m.test(text);
        },
        () => `no request in flight\n${g.stderr}`,
        { timeoutMs: 5000 },
      );
      // A last request: a hook call owed to any request before it would come before its own.
      expect((await get(`${g.url}/last`)).status).toBe(200);
      expected.push('/last');
      await pollUntil(() => hooks().includes('postRequest /last'), 'the hooks');
      expect(hooks()).toEqual(expected.flatMap((p) => [`preRequest ${p}`, `postRequest ${p}`]));
      const logged = () =>
        g.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).path);
      await pollUntil(() => logged().includes('/last'), 'the access log');
      expect(logged(), g.stdout).toEqual(expected);
    },
  );

  it("node app with an emit() of its own over node's: its end is still heard, and the request behind it answered", async () => {
    const g = await startGserve(['-w', '1', join(FIXTURES, 'apps/recorder-node.js')]);
    const ask = (p: string, last = false) =>
      `GET ${p} HTTP/1.1\r\nHost: x\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
    const { data, closed } = await sendRaw(g.port, ask('/own-emit') + ask('/behind', true));
    expect(closed).toBe(true);
    expect(parseResponses(data).map((r) => r.body)).toEqual(['ok 0 /own-emit\n', 'ok 0 /behind\n']);
  });

  it("a node app's header value beyond ASCII goes out as the same bytes on -k thread as on -k async", async () => {
    const bytesOf = async (klass: string) => {
      const g = await startGserve(['-w', '1', '-k', klass, `${UNFRAMED}:node`]);
      const { data } = await sendRaw(g.port, 'GET /non-ascii HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      return /\r\nx-a: ([^\r]*)\r\n/i.exec(data.toString('latin1'))?.[1];
    };
    const [async, thread] = [await bytesOf('async'), await bytesOf('thread')];
    expect(Buffer.from(async!, 'latin1')).toEqual(Buffer.from('café', 'utf8'));
    expect(thread).toBe(async);
  });

  it.each([['async'], ['sync'], ['thread']])(
    '-k %s, ASGI app that swallows the error of the send() ending its response: a 500, not a hang',
    async (klass) => {
      const g = await startGserve([
        '-w',
        '1',
        '-k',
        klass,
        '--interface',
        'asgi',
        '--lifespan',
        'off',
        `${UNFRAMED}:asgi`,
      ]);
      const answers = await slipThenOk(g.port, '/caught');
      expect(answers[0]?.status).toBe(500);
    },
  );
});
