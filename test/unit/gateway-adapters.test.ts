import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpEngine, type EngineHandler } from '../../src/http/engine.js';
import { DEFAULT_LIMITS } from '../../src/http/limits.js';
import { asgiAdapter, type AsgiApp, type AsgiEvent } from '../../src/interfaces/asgi.js';
import { WorkerRuntime, type RuntimeSettings } from '../../src/interfaces/runtime.js';
import { wsgiAdapter, type WsgiApp } from '../../src/interfaces/wsgi.js';
import { MemorySocket, tick, until } from '../helpers/memory-socket.js';

/**
 * The ASGI and WSGI adapters on the engine, in process: the paths that skip work for the common
 * request (no body, whole response in one event) must give what the long paths give.
 */

const settings: RuntimeSettings = {
  healthPath: null,
  forwardedAllowIps: ['127.0.0.1'],
  forwardedHeaders: 'x-forwarded',
  wsMaxSize: 1 << 20,
  wsPingInterval: 20,
  wsPingTimeout: 20,
  wsPerMessageDeflate: false,
  wsgiSpoolSize: 1 << 20,
  workers: 1,
  workerClass: 'async',
  overrideGlobalObjects: false,
};

function serve(handler: EngineHandler) {
  const errors: unknown[] = [];
  const engine = new HttpEngine(handler, {
    keepAliveTimeout: 5000,
    limits: { ...DEFAULT_LIMITS, headerTimeout: 0, requestTimeout: 0 },
    scheme: 'http',
  });
  engine.on('handler-error', (err: unknown) => errors.push(err));
  const socket = new MemorySocket();
  engine.accept(socket as unknown as Socket);
  return { socket, errors };
}

const runtime = new WorkerRuntime(settings);
const asgi = (app: AsgiApp) =>
  serve(asgiAdapter({ kind: 'asgi', app, state: {} }, runtime, { hub: null, onError() {} }));
const wsgi = (app: WsgiApp) =>
  serve(
    wsgiAdapter({ kind: 'wsgi', app }, runtime, {
      spoolSize: 1024,
      multithread: false,
      multiprocess: false,
      errors() {},
    }),
  );
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('the ASGI adapter', () => {
  it('a request without a body: one empty http.request, then http.disconnect once the response is complete', async () => {
    const events: AsgiEvent[] = [];
    const { socket } = asgi(async (scope, receive, send) => {
      events.push(await receive());
      const disconnect = receive(); // waits for the end of the response
      await send({ type: 'http.response.start', status: 200, headers: [[bytes('x-path'), bytes(String(scope.path))]] });
      await send({ type: 'http.response.body', body: bytes('ok') });
      events.push(await disconnect);
    });
    socket.send('GET /a%20b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => events.length === 2, 'both events');
    expect(events[0]).toEqual({ type: 'http.request', body: new Uint8Array(0), more_body: false });
    expect(events[1]).toEqual({ type: 'http.disconnect' });
    expect(socket.responses[0]).toMatchObject({ status: 200, body: 'ok' });
    expect(socket.responses[0]!.headers['x-path']).toBe('/a b');
    expect(socket.responses[0]!.headers['content-length']).toBe('2');
  });

  it('header bytes go out as latin1, short and long alike', async () => {
    const long = 'v'.repeat(5000);
    const { socket } = asgi(async (_scope, _receive, send) => {
      await send({
        type: 'http.response.start',
        status: 200,
        headers: [
          [bytes('x-short'), Uint8Array.of(0x63, 0x61, 0x66, 0xe9)],
          [bytes('x-long'), bytes(long)],
          ['x-string', 'plain'],
        ],
      });
      await send({ type: 'http.response.body', body: bytes('ok') });
    });
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.responses.length === 1, 'a response');
    const { headers } = socket.responses[0]!;
    expect(headers['x-short']).toBe('caf\u00e9');
    expect(headers['x-long']).toBe(long);
    expect(headers['x-string']).toBe('plain');
  });

  it('streams more_body chunks, and every send() returns a promise', async () => {
    const returned: unknown[] = [];
    const { socket } = asgi(async (_scope, _receive, send) => {
      const start = send({ type: 'http.response.start', status: 201 });
      returned.push(start);
      await start;
      for (const part of ['a', 'b']) {
        const sent = send({ type: 'http.response.body', body: bytes(part), more_body: true });
        returned.push(sent);
        await sent;
      }
      await send({ type: 'http.response.body', body: bytes('c') });
    });
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.responses.length === 1, 'a response');
    expect(socket.responses[0]).toMatchObject({ status: 201, body: 'abc' });
    expect(socket.responses[0]!.headers['transfer-encoding']).toBe('chunked');
    expect(returned.every((p) => p instanceof Promise)).toBe(true);
  });

  it('a client that stops reading holds the app at its next send; it finishes once the client reads again', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let sendsDone = 0;
    let finished = false;
    const { socket } = asgi(async (_scope, _receive, send) => {
      await send({ type: 'http.response.start', status: 200 });
      for (let i = 0; i < 8; i++) {
        await send({ type: 'http.response.body', body: chunk, more_body: true });
        sendsDone++;
      }
      await send({ type: 'http.response.body', body: chunk }); // the last one waits for the socket too
      finished = true;
    });
    socket.stall();
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.sent.length > 0, 'the first chunk written');
    for (let i = 0; i < 20; i++) await tick();
    expect(sendsDone).toBe(0); // the first 64 KB fill the socket's buffer: the app waits
    expect(socket.sent.length).toBe(1);
    socket.release();
    await until(() => finished && socket.responses.length === 1, 'the whole response');
    expect(sendsDone).toBe(8);
    expect(socket.responses[0]!.body.length).toBe(9 * 64 * 1024);
  });

  it('an event out of order rejects the promise send() returned (it does not throw), and the client gets a 500', async () => {
    let thrownSync = false;
    let rejection: unknown;
    const { socket, errors } = asgi(async (_scope, _receive, send) => {
      let sent: Promise<void>;
      try {
        sent = send({ type: 'http.response.body', body: bytes('early') });
      } catch {
        thrownSync = true;
        throw new Error('send threw synchronously');
      }
      rejection = await sent.then(
        () => null,
        (err: unknown) => err,
      );
      throw rejection;
    });
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.responses.length === 1, 'a response');
    expect(thrownSync).toBe(false);
    expect(String(rejection)).toMatch(/http\.response\.body sent before http\.response\.start/);
    expect(socket.responses[0]!.status).toBe(500);
    expect(errors).toHaveLength(1);
  });

  it('a status given as a string is named as one, not shown as the number it looks like', async () => {
    const { socket, errors } = asgi(async (_scope, _receive, send) => {
      await send({ type: 'http.response.start', status: '200' as unknown as number, headers: [] });
    });
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.responses.length === 1, 'a response');
    expect(socket.responses[0]!.status).toBe(500);
    expect(String(errors[0])).toMatch(/"status" must be an integer status code, got the string "200"/);
  });
});

describe('the WSGI adapter', () => {
  const probe: WsgiApp = (environ, startResponse) => {
    const input = environ['wsgi.input'] as { read(): Buffer; readline(): Buffer };
    const line = input.readline().toString();
    const rest = input.read().toString();
    startResponse('200 OK', [['content-type', 'text/plain']]);
    return [`length=${String(environ.CONTENT_LENGTH)} line=${JSON.stringify(line)} rest=${JSON.stringify(rest)}`];
  };

  it('a request without a body reads an empty wsgi.input and has no CONTENT_LENGTH', async () => {
    const { socket } = wsgi(probe);
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.responses.length === 1, 'a response');
    expect(socket.responses[0]!.body).toBe('length=undefined line="" rest=""');
  });

  it('a body, in memory or spooled to a file, reads whole; the connection serves the next request', async () => {
    const { socket } = wsgi(probe);
    const big = 'y'.repeat(3000); // past the 1 KB spool size
    socket.send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab\ncd\nef\n`);
    socket.send(
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(3001).toString(16)}\r\n\n${big}\r\n0\r\n\r\n`,
    );
    await until(() => socket.responses.length === 2, 'two responses');
    expect(socket.responses[0]!.body).toBe('length=9 line="ab\\n" rest="cd\\nef\\n"');
    expect(socket.responses[1]!.body).toBe(`length=3001 line="\\n" rest="${big}"`);
  });

  it("a body that fails and then a close() that fails too: both are reported, the body's failure as the cause", async () => {
    const { socket, errors } = wsgi((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (function* () {
        yield 'one';
        yield 'two';
        throw new Error('the body broke');
      })();
      return Object.assign(body, {
        close() {
          throw new Error('close broke');
        },
      });
    });
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => errors.length === 1, 'an error');
    const err = errors[0] as Error;
    expect(err.message).toMatch(
      /the WSGI body failed \(the body broke\), and then its close\(\) failed too \(close broke\)/,
    );
    expect((err.cause as Error).message).toBe('the body broke');
  });
});
