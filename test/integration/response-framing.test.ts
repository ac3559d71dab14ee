import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';

/**
 * An app's response that would break HTTP's framing on gserve's own engine (response-framing.ts):
 * a line break in a header would let text from the request write a response of its own, and a body
 * of another length than its Content-Length would make the client misread every later answer on the
 * connection. Each is the app's failure: a 500 and a close when nothing went out yet, a cut
 * connection when the head already had, and never a second response on that connection.
 */

const app = (kind: string) => join(FIXTURES, `apps/bad-response-${kind}.js`);
const NEXT = 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n';
/**
 * An answer cut under its head and its first chunk (`part`), or, where an app thread sends one turn's
 * writes together, a 500: never one the client could take for whole.
 */
function expectCutAfterPartOr500(text: string): void {
  if (!text.startsWith('HTTP/1.1 500 '))
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n[0-9a-f]+\r\npart\r\n$/);
}
const ask = (port: number, path: string) => sendRaw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n${NEXT}`);

describe.each(['async', 'sync', 'thread'])('a response that breaks the framing, -k %s', (cls) => {
  it.each(['asgi', 'wsgi', 'fetch'])(
    '%s app: a 500 that closes, or a cut, and the error names the fix',
    async (kind) => {
      const g = await startGserve(['-k', cls, app(kind)]);
      for (const path of ['/crlf', '/name', '/long', '/short', '/interim']) {
        const { data, closed } = await ask(g.port, path);
        expect(closed, path).toBe(true);
        const responses = parseResponses(data);
        expect(
          responses.map((r) => r.status),
          path,
        ).toEqual([500]);
        expect(responses[0]!.headers.connection, path).toBe('close');
        expect(data.toString('latin1'), path).not.toMatch(/evil|hello world|Switching/);
      }
      // A body written in parts that ends short. Where the head went out with the first part, the
      // connection is cut under it; where the parts were still gathered when the body ended (an app
      // thread sends one turn's writes together), nothing went out yet and the answer is the 500.
      const { data, closed } = await ask(g.port, '/short-streamed');
      expect(closed).toBe(true);
      const text = data.toString('latin1');
      if (text.startsWith('HTTP/1.1 500 ')) expect(text).toMatch(/\r\nconnection: close\r\n/);
      else {
        expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(text).toMatch(/\r\ncontent-length: 100\r\n/i);
        expect(text.slice(text.indexOf('\r\n\r\n') + 4).length).toBeLessThan(100);
      }
      expect(text).not.toMatch(/fine/);
      const logged = (pattern: RegExp) => g.lines.filter((l) => pattern.test(JSON.stringify(l))).length;
      await g.until(() => logged(/GSERVE_E_RESPONSE_LENGTH/) >= 3, 'the three length errors in the log');
      expect(logged(/GSERVE_E_RESPONSE_HEADER/)).toBe(2);
      expect(logged(/line break or another control character; remove CR, LF and NUL/)).toBe(1);
      // The worker keeps serving.
      expect((await get(`${g.url}/`)).body).toBe('fine');
    },
  );

  /** Paths of each fixture whose app hands over a value of the wrong type, and what the log says of it. */
  const WRONG_TYPES: Record<string, Array<[string, RegExp]>> = {
    asgi: [
      ['/pair-short', /each of \\"headers\\" must be a \[name, value\] pair/],
      ['/pair-numbers', /a header name or value is number: give each as a Uint8Array/],
    ],
    wsgi: [
      ['/hdr-string', /startResponse headers must be \[name, value\] pairs, got \\"Content-Type: text\/plain\\"/],
      ['/hdr-one', /startResponse headers must be \[name, value\] pairs, got an array/],
      ['/write-number', /the WSGI write\(\) callable was given number/],
      ['/async', /the WSGI app returned a Promise: a WSGI app is synchronous/],
    ],
    fetch: [
      ['/stream-number', /the response's body stream gave number/],
      ['/stream-string', /the response's body stream gave a string: .*TextEncoderStream/],
    ],
  };

  it.each(['asgi', 'wsgi', 'fetch'])(
    '%s app: a value of the wrong type is a 500 with its own message, never a 200 with what is left',
    async (kind) => {
      const g = await startGserve(['-k', cls, app(kind)]);
      for (const [path, said] of WRONG_TYPES[kind]!) {
        const { data, closed } = await ask(g.port, path);
        expect(closed, path).toBe(true);
        expect(
          parseResponses(data).map((r) => r.status),
          path,
        ).toEqual([500]);
        await g.until(() => g.lines.some((l) => said.test(JSON.stringify(l))), `the log line for ${path}`);
      }
      expect((await get(`${g.url}/`)).body).toBe('fine');
    },
  );

  it('fetch app: a string from its body stream after bytes went out cuts the connection, and is logged', async () => {
    const g = await startGserve(['-k', cls, app('fetch')]);
    const { data, closed } = await ask(g.port, '/stream-string-late');
    expect(closed).toBe(true);
    const text = data.toString('latin1');
    expectCutAfterPartOr500(text);
    expect(text).not.toMatch(/\r\ntext\r\n|fine/); // the string never reaches the client
    await g.until(
      () => g.lines.some((l) => /the response's body stream gave a string/.test(JSON.stringify(l))),
      'the log line',
    );
  });

  it("fetch app: a Blob body with the app's own Content-Length that is not its size is a 500, never a head over a cut body", async () => {
    const g = await startGserve(['-k', cls, app('fetch')]);
    for (const path of ['/blob-long-length', '/blob-short-length']) {
      const { data, closed } = await ask(g.port, path);
      expect(closed, path).toBe(true);
      expect(data.toString('latin1'), path).toMatch(/^HTTP\/1\.1 500 [\s\S]*\r\nconnection: close\r\n/);
    }
    // HEAD sends no body: the app's Content-Length stands.
    const head = await sendRaw(g.port, `HEAD /blob-long-length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(head.data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 20\r\n/i);
    await g.until(
      () => g.lines.some((l) => /is not the size of its body \(11 bytes\)/.test(JSON.stringify(l))),
      'the log line',
    );
    expect((await get(`${g.url}/`)).body).toBe('fine');
  });

  it('asgi app: returning before the body is complete is logged, and the client never takes it for whole', async () => {
    const g = await startGserve(['-k', cls, app('asgi')]);
    const { data, closed } = await ask(g.port, '/unfinished');
    expect(closed).toBe(true);
    const text = data.toString('latin1');
    expectCutAfterPartOr500(text);
    await g.until(
      () => g.lines.some((l) => /returned before its response was complete/.test(JSON.stringify(l))),
      'the log line',
    );
  });
});
