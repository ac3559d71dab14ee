import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpEngine, type EngineHandler, type EngineRequest, type EngineResponse } from '../../src/http/engine.js';
import { DEFAULT_LIMITS, type HttpLimits } from '../../src/http/limits.js';
import type { Rejection } from '../../src/http/reject.js';
import { MemorySocket, tick, until } from '../helpers/memory-socket.js';

/**
 * gserve's engine on in-memory sockets: no process, no port, every byte and every close under the
 * test's control. What matters here is the connection's behaviour (framing, order, refusal,
 * closing), so each test reads exactly what the client would read.
 */

interface Setup {
  handler?: EngineHandler;
  limits?: Partial<HttpLimits>;
  draining?: boolean;
}

function serve({ handler, limits, draining }: Setup = {}) {
  const seen: string[] = [];
  const rejected: Rejection[] = [];
  const errors: unknown[] = [];
  const echo: EngineHandler = async (req: EngineRequest, res: EngineResponse) => {
    seen.push(`${req.method} ${req.url} host=${req.header('host') ?? '-'}`);
    const chunks: Buffer[] = [];
    for await (const chunk of req.body) chunks.push(chunk as Buffer);
    res
      .writeHead(200, [['content-type', 'text/plain']])
      .end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
  };
  const engine = new HttpEngine(handler ?? echo, {
    keepAliveTimeout: 5000,
    limits: { ...DEFAULT_LIMITS, headerTimeout: 0, requestTimeout: 0, ...limits },
    scheme: 'http',
  });
  engine.on('rejected', (r: Rejection) => rejected.push(r));
  engine.on('handler-error', (err: unknown) => errors.push(err));
  if (draining) engine.drain();
  const connect = () => {
    const socket = new MemorySocket();
    engine.accept(socket as unknown as Socket);
    return socket;
  };
  return { engine, connect, seen, rejected, errors };
}

describe('the engine on in-memory sockets', () => {
  it('serves keep-alive requests in order, pipelined or one byte at a time', async () => {
    const { connect, seen } = serve();
    const socket = connect();
    const two = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
    for (const byte of two) socket.send(byte);
    await until(() => socket.responses.length === 2, 'two responses');
    expect(socket.responses.map((r) => r.body)).toEqual(['GET /a ', 'POST /b hello']);
    expect(socket.responses.map((r) => r.headers.connection)).toEqual([undefined, undefined]);
    expect(seen).toEqual(['GET /a host=x', 'POST /b host=x']);
    expect(socket.ended).toBe(false);
  });

  it('decodes a chunked body and ignores allowed trailer fields', async () => {
    const { connect } = serve();
    const socket = connect();
    socket.send(
      'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n' +
        '0\r\nX-Checksum: abc\r\n\r\n',
    );
    await until(() => socket.responses.length === 1, 'a response');
    expect(socket.responses[0]!.body).toBe('POST /c hello world');
  });

  it('refuses HTTP/1.0 with Transfer-Encoding: 400, close, and the app never runs', async () => {
    const { connect, seen, rejected } = serve();
    const socket = connect();
    socket.send(
      'POST /te HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
        'GET /next HTTP/1.0\r\n\r\n',
    );
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => [r.status, r.headers.connection])).toEqual([[400, 'close']]);
    expect(seen).toEqual([]);
    expect(rejected.map((r) => r.reason)).toEqual(['Transfer-Encoding in an HTTP/1.0 request']);
  });

  it('refuses Content-Length in a trailer with 400 and closes, though the app had the head', async () => {
    const { connect, rejected, engine } = serve();
    const socket = connect();
    socket.send(
      'POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n' +
        'Content-Length: 5\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => [r.status, r.headers.connection])).toEqual([[400, 'close']]);
    expect(rejected[0]!.reason).toBe('"Content-Length" is not allowed in a trailer');
    // Nothing is left in flight: the refused request was counted out.
    socket.destroy();
    await until(() => engine.connectionCount === 0, 'the connection to be forgotten');
    expect(engine.inFlight).toBe(0);
  });

  it('hands the app the absolute-form target as a path, its authority as Host', async () => {
    const { connect, seen } = serve();
    const socket = connect();
    socket.send(
      'GET http://evil.example/admin?x=1 HTTP/1.1\r\nHost: good.example\r\n\r\nGET http://[::1]:81 HTTP/1.1\r\n' +
        'Host: good.example\r\n\r\n',
    );
    await until(() => socket.responses.length === 2, 'two responses');
    expect(seen).toEqual(['GET /admin?x=1 host=evil.example', 'GET / host=[::1]:81']);
  });

  it('gives HTTP/1.0 without Host the authority of an absolute-form target', async () => {
    const { connect, seen } = serve();
    const socket = connect();
    socket.send('GET http://a.example/p HTTP/1.0\r\n\r\n');
    await until(() => socket.ended, 'the connection to close');
    expect(seen).toEqual(['GET /p host=a.example']);
  });

  it('refuses CONNECT with 400 instead of handing it to the app', async () => {
    const { connect, seen } = serve();
    const socket = connect();
    socket.send('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => r.status)).toEqual([400]);
    expect(seen).toEqual([]);
  });

  it('while draining (like -k sync), answers one request with Connection: close, never parses the next', async () => {
    const { connect, seen } = serve({ draining: true });
    const socket = connect();
    socket.send('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => [r.status, r.headers.connection])).toEqual([[200, 'close']]);
    expect(seen).toEqual(['GET /first host=x']);
  });

  it('after --max-keepalive-requests, closes and reads nothing more', async () => {
    const { connect, seen } = serve({ limits: { maxKeepaliveRequests: 2 } });
    const socket = connect();
    socket.send(
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => r.headers.connection)).toEqual([undefined, 'close']);
    expect(seen).toEqual(['GET /1 host=x', 'GET /2 host=x']);
  });

  it('answers the good requests before a bad one, then refuses it and closes', async () => {
    const { connect, seen } = serve();
    const socket = connect();
    socket.send('GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost : x\r\n\r\n');
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => r.status)).toEqual([200, 400]);
    expect(seen).toEqual(['GET /ok host=x']);
  });

  it('answers a handler that throws with one 500 and Connection: close; the next request never runs', async () => {
    const ran: string[] = [];
    const { connect, errors } = serve({
      handler: (req) => {
        ran.push(req.url);
        throw new Error('boom');
      },
    });
    const socket = connect();
    socket.send('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.ended, 'the connection to close');
    expect(socket.responses.map((r) => [r.status, r.headers.connection, r.body])).toEqual([
      [500, 'close', 'Internal Server Error\n'],
    ]);
    expect(errors).toHaveLength(1);
    expect(ran).toEqual(['/a']);
  });

  it('replaces a head the app set but never sent when it then fails (async)', async () => {
    const { connect } = serve({
      handler: async (_req, res) => {
        res.writeHead(201, [['x-partial', 'yes']]);
        await tick();
        throw new Error('late boom');
      },
    });
    const socket = connect();
    socket.send('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.ended, 'the connection to close');
    const [res] = socket.responses;
    expect([res!.status, res!.headers['x-partial'], res!.headers['content-type']]).toEqual([
      500,
      undefined,
      'text/plain',
    ]);
  });

  it('cuts the connection when the app fails after its head went out', async () => {
    const { connect } = serve({
      handler: async (_req, res) => {
        res.writeHead(200);
        res.write('partial');
        await tick();
        throw new Error('boom mid-body');
      },
    });
    const socket = connect();
    socket.send('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.destroyed, 'the socket to be destroyed');
    expect(socket.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*transfer-encoding: chunked[\s\S]*partial\r\n$/);
  });

  it('drops the body of a request answered without reading it, and serves the next one', async () => {
    const { connect } = serve({ handler: (req, res) => void res.writeHead(200).end(req.url) });
    const socket = connect();
    const body = 'x'.repeat(1024 * 1024);
    socket.send(`POST /unread HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (let i = 0; i < body.length; i += 65536) socket.send(body.slice(i, i + 65536));
    socket.send('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.responses.length === 2, 'two responses');
    expect(socket.responses.map((r) => r.body)).toEqual(['/unread', '/next']);
    expect(socket.isPaused()).toBe(false);
  });

  it('does not read past what an app that is not reading the body can hold', async () => {
    let release!: () => void;
    const { connect } = serve({
      handler: async (req, res) => {
        await new Promise<void>((resolve) => (release = resolve));
        let size = 0;
        for await (const chunk of req.body) size += (chunk as Buffer).length;
        res.writeHead(200).end(String(size));
      },
    });
    const socket = connect();
    const total = 4 * 1024 * 1024;
    socket.send(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
    const block = 'x'.repeat(64 * 1024);
    for (let sent = 0; sent < total; sent += block.length) socket.send(block);
    await until(() => release !== undefined, 'the app to start');
    // The engine paused the socket: Node keeps the rest in the socket's own buffer, unread.
    expect(socket.isPaused()).toBe(true);
    expect(socket.readableLength).toBeGreaterThan(total / 2);
    release();
    await until(() => socket.responses.length === 1, 'a response');
    expect(socket.responses[0]!.body).toBe(String(total));
  });
  it('sends a whole body exactly, whatever its form: ASCII or UTF-8 text, bytes, a view into a larger buffer', async () => {
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    const backing = new Uint8Array(4096).fill(42);
    backing.set([1, 200, 255], 1000);
    const bodies: Record<string, string | Uint8Array> = {
      '/ascii': 'hello',
      '/utf8': 'héllo €',
      '/bytes': every,
      '/view': backing.subarray(1000, 1003),
      '/large': new Uint8Array(3000).fill(0xe9),
    };
    const { connect } = serve({ handler: (req, res) => void res.writeHead(200).end(bodies[req.url]) });
    const socket = connect();
    for (const path of Object.keys(bodies)) socket.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await until(() => socket.responses.length === 5, 'five responses');
    const expected = Object.values(bodies).map((b) => Buffer.from(b as string).toString('latin1'));
    expect(socket.responses.map((r) => r.body)).toEqual(expected);
    expect(socket.responses.map((r) => Number(r.headers['content-length']))).toEqual(expected.map((b) => b.length));
  });
});
