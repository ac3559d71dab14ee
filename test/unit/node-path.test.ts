import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type HttpLimits } from '../../src/http/limits.js';
import { checkParsedHead } from '../../src/http/node-checks.js';
import { NodeProtocolServer } from '../../src/http/node-server.js';
import type { FinishedExchange } from '../../src/http/protocol-server.js';
import { Rejection } from '../../src/http/reject.js';

import { parseResponses, sendRaw } from '../helpers/raw.js';
import { portOf } from '../helpers/ports.js';
import { CORPUS_CASES } from '../helpers/corpus.js';

/**
 * The node:http path in this process: a NodeProtocolServer fed by a loopback net.Server, with the
 * malformed-request corpus sent to it directly (no gserve process, no worker class), plus the
 * hostile requests issue 14 found, each asserting what the app saw.
 */

const CASES = CORPUS_CASES;

interface Harness {
  port: number;
  seen: string[];
  rejected: Rejection[];
  protocol: NodeProtocolServer;
  close(): Promise<void>;
}

/** The recorder app of test/fixtures, in-process: records each request, reads bodies in full. */
function recorder(seen: string[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]!;
    seen.push(`${req.method} ${path}`);
    let length = 0;
    req.on('data', (chunk: Buffer) => (length += chunk.length));
    req.on('end', () => res.end(`ok ${length} ${path}\n`));
    req.on('error', () => {});
  };
}

async function start(limits: Partial<HttpLimits> = {}): Promise<Harness> {
  const seen: string[] = [];
  const rejected: Rejection[] = [];
  const protocol = new NodeProtocolServer(recorder(seen), {
    keepAliveTimeout: 5000,
    limits: { ...DEFAULT_LIMITS, ...limits },
    onError: () => {},
  });
  protocol.on('rejected', (r: Rejection) => rejected.push(r));
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    protocol.accept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: portOf(server),
    seen,
    rejected,
    protocol,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('node:http path, in process: the malformed-request corpus', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start({ requestBody: 1024 });
  });
  afterAll(() => h.close());

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = h.seen.length;
    const { data, closed } = await sendRaw(h.port, c.bytes);
    const responses = parseResponses(data);
    expect(responses.map((r) => r.status)).toEqual(c.statuses);
    expect(closed).toBe(true);
    const last = responses.at(-1)!;
    if (c.statuses.at(-1)! >= 400) {
      expect(last.headers.connection).toBe('close');
      expect(last.headers['content-type']).toMatch(/^text\/plain/);
      expect(last.body).toMatch(/^[A-Z][A-Za-z -]+: .{10,}/);
    }
    // Nothing smuggled behind the bad request reached the app.
    expect(h.seen.slice(before).filter((s) => s.includes('smuggled'))).toEqual([]);
  });
});

describe('node:http path, in process: the hostile requests of issue 14', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(() => h.close());

  const appSaw = async (path: string, bytes: string) => {
    const before = h.seen.length;
    const result = await sendRaw(h.port, bytes);
    return {
      ...result,
      responses: parseResponses(result.data),
      seen: h.seen.slice(before).filter((s) => s.includes(path)),
    };
  };

  it('refuses HTTP/1.0 with Transfer-Encoding with 400 and a close, and the app never runs it', async () => {
    const r = await appSaw(
      '/te10',
      'POST /te10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /te10-smuggled HTTP/1.1\r\n' +
        'Host: x\r\n\r\n',
    );
    expect(r.responses.map((x) => x.status)).toEqual([400]);
    expect(r.responses[0]!.body).toMatch(/HTTP\/1\.0/);
    expect(r.closed).toBe(true);
    expect(r.seen).toEqual([]);
  });

  it(
    'answers a forbidden trailer field (Content-Length after the last chunk) with 400 and a close; ' +
      'nothing stays in flight',
    async () => {
      const r = await appSaw(
        '/trailer',
        'POST /trailer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n' +
          'Content-Length: 5\r\n\r\n',
      );
      expect(r.responses.map((x) => x.status)).toEqual([400]);
      expect(r.responses[0]!.headers.connection).toBe('close');
      expect(r.closed).toBe(true);
      await expect.poll(() => h.protocol.inFlight, { timeout: 10_000 }).toBe(0);
    },
  );

  it('answers CONNECT host:port with a 4xx, not a silent close', async () => {
    const r = await appSaw('example.com', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(r.responses).toHaveLength(1);
    expect(r.responses[0]!.status).toBeGreaterThanOrEqual(400);
    expect(r.responses[0]!.status).toBeLessThan(500);
    expect(r.responses[0]!.body).toMatch(/CONNECT/);
    expect(r.closed).toBe(true);
    expect(r.seen).toEqual([]);
  });

  it('refuses an over-long request line that arrives a few bytes at a time, before it ends', async () => {
    const { connect } = await import('node:net');
    const socket = connect(h.port, '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await new Promise((resolve) => socket.once('connect', resolve));
    // One write per 1 KB, each waited for, so llhttp sees the line in several reads.
    socket.write('GET /');
    for (let i = 0; i < 6 && !socket.destroyed; i++)
      await new Promise((resolve) => socket.write('a'.repeat(1024), resolve));
    await closed;
    expect(parseResponses(Buffer.from(received, 'latin1')).map((r) => r.status)).toEqual([414]);
  });

  it('serves a head that arrives a byte at a time, and a keep-alive connection after it', async () => {
    const { RawConnection } = await import('../helpers/raw.js');
    const conn = await RawConnection.open(h.port);
    const head = 'GET /trickled HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n';
    const answer = conn.nextResponse();
    for (const ch of head) await new Promise((resolve) => conn.socket.write(ch, resolve));
    expect((await answer).status).toBe(200);
    expect((await conn.request('GET /second HTTP/1.1\r\nHost: x\r\n\r\n')).body).toBe('ok 0 /second\n');
    conn.socket.destroy();
  });
});

describe('checkParsedHead', () => {
  const head = (over: Partial<Parameters<typeof checkParsedHead>[0]> = {}) => ({
    method: 'GET',
    url: '/',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    rawHeaders: ['Host', 'x'],
    ...over,
  });

  it('passes a plain head and gives its framing', () => {
    expect(checkParsedHead(head(), DEFAULT_LIMITS)).toMatchObject({ contentLength: null, chunked: false });
    expect(
      checkParsedHead(head({ method: 'POST', rawHeaders: ['Host', 'x', 'Content-Length', '5'] }), DEFAULT_LIMITS),
    ).toMatchObject({ contentLength: 5, chunked: false });
  });

  it('judges each Host by itself, whatever the heads before it (the last sound one skips the full check)', () => {
    const status = (host: string, rawHeaders = ['Host', host]) => {
      const r = checkParsedHead(head({ rawHeaders }), DEFAULT_LIMITS);
      return r instanceof Rejection ? r.status : 'passed';
    };
    for (let round = 0; round < 2; round++) {
      expect(status('good.example:8080')).toBe('passed');
      expect(status('good.example:8080')).toBe('passed');
      expect(status('bad host')).toBe(400);
      expect(status('good.example:99999')).toBe(400);
      expect(status('good.example:8080')).toBe('passed');
      // The remembered value in a second Host field, or beside a framing field, still gets the full check.
      expect(status('', ['Host', 'good.example:8080', 'Host', 'good.example:8080'])).toBe(400);
      expect(status('', ['Host', 'good.example:8080', 'Expect', 'magic'])).toBe(417);
    }
    // An absolute-form target's sound authority is remembered too; a bad Host after it is still refused.
    expect(checkParsedHead(head({ url: 'http://other.example/x' }), DEFAULT_LIMITS)).not.toBeInstanceOf(Rejection);
    expect(status('other.example/')).toBe(400);
  });

  it.each([
    ['HTTP/2.0', head({ httpVersionMajor: 2, httpVersionMinor: 0 }), 400],
    ['HTTP/0.9', head({ httpVersionMajor: 0, httpVersionMinor: 9 }), 400],
    ['a long target', head({ url: `/${'a'.repeat(5000)}` }), 414],
    ['a large field', head({ rawHeaders: ['Host', 'x', 'X-Big', 'v'.repeat(9000)] }), 431],
    [
      '101 fields',
      head({ rawHeaders: ['Host', 'x', ...Array.from({ length: 100 }, (_, i) => [`X-${i}`, 'v']).flat()] }),
      431,
    ],
    ['no Host in HTTP/1.1', head({ rawHeaders: [] }), 400],
    ['two Hosts', head({ rawHeaders: ['Host', 'x', 'Host', 'y'] }), 400],
    ['an unknown coding', head({ method: 'POST', rawHeaders: ['Host', 'x', 'Transfer-Encoding', 'foo'] }), 400],
    [
      'TE in HTTP/1.0',
      head({ method: 'POST', httpVersionMinor: 0, rawHeaders: ['Transfer-Encoding', 'chunked'] }),
      400,
    ],
    ['* with GET', head({ url: '*' }), 400],
    ['CONNECT without a port', head({ method: 'CONNECT', url: 'example.com' }), 400],
    ['an unknown expectation', head({ rawHeaders: ['Host', 'x', 'Expect', 'magic'] }), 417],
  ])('refuses %s', (_label, input, status) => {
    const r = checkParsedHead(input, DEFAULT_LIMITS);
    expect(r).toBeInstanceOf(Rejection);
    expect((r as Rejection).status).toBe(status);
  });
});

describe('node:http path, in process: what a finished response reports', () => {
  /** Two keep-alive requests, each answered in two writes (chunked), and the exchanges reported for them. */
  async function exchanges(accessLog: boolean) {
    const protocol = new NodeProtocolServer(
      (req, res) => {
        res.write(`${req.url}:`);
        res.end('done');
      },
      { keepAliveTimeout: 5000, limits: DEFAULT_LIMITS, onError: () => {}, accessLog },
    );
    // Read as the access log does, when the response is reported: body bytes are counted off the socket.
    const reported: Omit<FinishedExchange, 'socket' | 'requestHeader' | 'responseHeader'>[] = [];
    protocol.on('response', (_req, _res, x: FinishedExchange) => {
      const { method, url, status, httpVersion, startedAt, bodyBytes } = x;
      reported.push({ method, url, status, httpVersion, startedAt, bodyBytes });
    });
    const server: Server = createServer((socket) => protocol.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      // One after the other on one connection: a pipelined answer would share the first one's count.
      const socket = connect(portOf(server), '127.0.0.1');
      let wire = '';
      socket.on('data', (chunk: Buffer) => (wire += chunk.toString('latin1')));
      const answered = (n: number) =>
        new Promise<void>((resolve) => {
          const check = () => (wire.split('0\r\n\r\n').length > n ? resolve() : socket.once('data', check));
          check();
        });
      socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      await answered(1);
      socket.write('GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await answered(2);
      socket.destroy();
      expect(parseResponses(Buffer.from(wire, 'latin1')).map((r) => r.status)).toEqual([200, 200]);
      // The 'close' listener runs on the tick after each response ends.
      await new Promise((resolve) => setImmediate(resolve));
      const bodyStart = wire.indexOf('\r\n\r\n') + 4;
      const firstBody = wire.slice(bodyStart, wire.indexOf('0\r\n\r\n', bodyStart) + 5);
      return { reported, firstBody };
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it('gives method, target, status, start time and, when asked, the body bytes of a chunked answer', async () => {
    const {
      reported: [first, second],
      firstBody,
    } = await exchanges(true);
    expect([first?.method, first?.url, first?.status, first?.httpVersion]).toEqual(['GET', '/first', 200, '1.1']);
    // As sent, the chunk framing included (as Gunicorn counts): Node 20 sends the two writes as two
    // chunks, `7\r\n/first:\r\n4\r\ndone\r\n0\r\n\r\n`; Node 24 joins them, `b\r\n/first:done\r\n0\r\n\r\n`.
    expect(firstBody).toMatch(/^[0-9a-f]+\r\n\/first:/);
    expect(first?.bodyBytes).toBe(firstBody.length);
    expect(second?.url).toBe('/second');
    expect(second?.startedAt).toBeGreaterThanOrEqual(first?.startedAt ?? Infinity);
    expect(first?.startedAt).toBeLessThanOrEqual(performance.now());
  });

  it('skips counting the body bytes when nothing asks for them, and still reports every response', async () => {
    const { reported } = await exchanges(false);
    expect(reported.map((x) => [x.url, x.status, x.bodyBytes])).toEqual([
      ['/first', 200, 0],
      ['/second', 200, 0],
    ]);
  });
});

describe('node:http path, in process: an answer whose whole body comes with end() goes out in one write', () => {
  /** What each keep-alive request brought to the socket: `write` for one chunk, `writev N` for N at once. */
  async function writesFor(hardened: boolean, requests: string[]) {
    const protocol = new NodeProtocolServer(
      (req, res) => {
        if (req.url === '/implicit') return void res.end('Hello, world!');
        if (req.url === '/buffer') return void res.end(Buffer.from('Hello, world!'));
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 13 });
        res.end('Hello, world!');
      },
      { keepAliveTimeout: 5000, limits: DEFAULT_LIMITS, onError: () => {}, hardened },
    );
    const writes: string[] = [];
    const server: Server = createServer((socket) => {
      const counted = socket as Socket & { _write: Socket['_write']; _writev: NonNullable<Socket['_writev']> };
      const { _write: write, _writev: writev } = counted;
      counted._write = function (...args) {
        writes.push('write');
        return write.apply(this, args);
      };
      counted._writev = function (...args) {
        writes.push(`writev ${args[0].length}`);
        return writev!.apply(this, args);
      };
      protocol.accept(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = connect(portOf(server), '127.0.0.1');
    try {
      let wire = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => (wire = Buffer.concat([wire, chunk])));
      const perRequest: string[][] = [];
      for (const [i, target] of requests.entries()) {
        const before = writes.length;
        socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
        await new Promise<void>((resolve) => {
          const check = () => (parseResponses(wire).length > i ? resolve() : socket.once('data', check));
          check();
        });
        perRequest.push(writes.slice(before));
      }
      return { perRequest, responses: parseResponses(wire) };
    } finally {
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it.each([
    ['hardened', true],
    ['unhardened', false],
  ])('%s: one write per answer, head and body together, on every Node version', async (_name, hardened) => {
    const { perRequest, responses } = await writesFor(hardened, ['/', '/implicit', '/buffer', '/']);
    expect(responses.map((r) => [r.status, r.body])).toEqual([
      [200, 'Hello, world!'],
      [200, 'Hello, world!'],
      [200, 'Hello, world!'],
      [200, 'Hello, world!'],
    ]);
    // A string body joins its head; a Buffer goes beside it, in the same writev(2). Node 20's own
    // end() added an empty chunk to each (writev 2 for a string body, writev 3 for a Buffer).
    expect(perRequest).toEqual([['write'], ['write'], ['writev 2'], ['write']]);
    expect(responses[1]?.headers['content-length']).toBe('13');
  });

  it("unhardened: an app's own strictContentLength still stops a body short of its length before any of it goes out", async () => {
    const protocol = new NodeProtocolServer(
      (_req, res) => {
        res.strictContentLength = true;
        res.setHeader('content-length', '20');
        res.end('hello');
      },
      { keepAliveTimeout: 5000, limits: DEFAULT_LIMITS, onError: () => {}, hardened: false },
    );
    const server: Server = createServer((socket) => protocol.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      // As node:http alone: its end() throws on the short body, and nothing of the answer is sent.
      const { data, closed } = await sendRaw(portOf(server), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(closed).toBe(true);
      expect(data.toString('latin1')).toBe('');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
