import { describe, expect, it } from 'vitest';
import {
  FastResponse,
  LazyRequest,
  NativeRequest,
  NativeResponse,
  installFastGlobals,
} from '../../src/interfaces/fetch-globals.js';

installFastGlobals();

function lazy(): { request: LazyRequest; built: () => number } {
  let builds = 0;
  const request = new LazyRequest({
    method: 'POST',
    url: () => 'http://example.test/a?b=1',
    headers: () => new Headers({ 'x-a': '1' }),
    build: (headers) => {
      builds++;
      return new NativeRequest('http://example.test/a?b=1', { method: 'POST', headers, body: 'payload' });
    },
  });
  return { request, built: () => builds };
}

describe('the fetch fast path', () => {
  it('answers method, url and headers without building a Request', () => {
    const { request, built } = lazy();
    expect(request.method).toBe('POST');
    expect(request.url).toBe('http://example.test/a?b=1');
    expect(request.headers.get('x-a')).toBe('1');
    expect(built()).toBe(0);
    expect(request instanceof Request).toBe(true);
    expect(request instanceof NativeRequest).toBe(true);
  });

  it('builds the real Request once, on the first use of anything else', async () => {
    const { request, built } = lazy();
    const r = request as unknown as Request;
    expect(await r.text()).toBe('payload');
    expect(r.bodyUsed).toBe(true);
    expect(built()).toBe(1);
    // A LazyRequest given to new Request() is unwrapped.
    const { request: other } = lazy();
    expect(new Request(other as unknown as Request).url).toBe('http://example.test/a?b=1');
  });

  it('keeps a string or bytes body for the engine, and still behaves as a Response', async () => {
    const r = new Response('hello', { status: 201, headers: { 'x-b': '2' } });
    expect(r instanceof FastResponse).toBe(true);
    expect(r instanceof NativeResponse).toBe(true);
    expect(r.status).toBe(201);
    const kept = (r as unknown as FastResponse).kept();
    expect(kept).toMatchObject({ body: 'hello', status: 201, headers: { 'x-b': '2' }, real: undefined });
    expect(r.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(await r.text()).toBe('hello');
    expect((r as unknown as FastResponse).kept()).toBeNull(); // read by the app: no longer the engine's to send
  });

  it('makes a real Response at once for streamed bodies, and native Responses pass instanceof', async () => {
    const stream = new Response(new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) }));
    expect((stream as unknown as FastResponse).kept()).toBeNull();
    expect(new Uint8Array(await stream.arrayBuffer())).toEqual(new Uint8Array([1]));
    expect(new NativeResponse('x') instanceof Response).toBe(true);
    expect(FastResponse.isFast(new NativeResponse('x'))).toBe(false);
    expect(FastResponse.isFast(new Response('x'))).toBe(true);
    const json = Response.json({ a: 1 });
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(await json.json()).toEqual({ a: 1 });
    expect(() => new Response('x', { status: 42 })).toThrow(RangeError);
  });

  it('writes kept bodies with the head a native Response would have', async () => {
    const { sendWebResponse } = await import('../../src/interfaces/fetch.js');
    const written: Array<{ status: number; headers: Array<[string, string]>; body: unknown }> = [];
    const res = {
      writeHead(status: number, headers: Array<[string, string]>) {
        written.push({ status, headers, body: undefined });
        return this;
      },
      end(body: unknown) {
        written.at(-1)!.body = body;
      },
    };
    const send = (r: Response) => sendWebResponse(r, res as never);
    await send(new Response('a', { headers: new Headers({ 'x-h': '1' }) }));
    await send(
      new Response(new Uint8Array([1]), {
        headers: [
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ],
      }),
    );
    expect(written[0]).toEqual({
      status: 200,
      headers: [
        ['x-h', '1'],
        ['content-type', 'text/plain;charset=UTF-8'],
      ],
      body: 'a',
    });
    expect(written[1]).toEqual({
      status: 200,
      headers: [
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
      ],
      body: new Uint8Array([1]),
    });
  });
});
