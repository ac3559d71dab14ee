import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';

/**
 * The hostile requests of issue 14 against gserve's own engine, on every worker class: each must
 * get the same answer everywhere, and what the app runs is checked through the recorder app's
 * `/__seen` list, not guessed from the answer.
 */

const RECORDER = join(FIXTURES, 'apps/recorder-fetch.js');
const URL_APP = join(FIXTURES, 'apps/fetch-url.js');
const CLASSES = ['async', 'sync', 'thread'];

const seenBy = async (url: string): Promise<string[]> => JSON.parse((await get(`${url}/__seen`)).body);
const statuses = (data: Buffer) => parseResponses(data).map((r) => r.status);

describe.each(CLASSES)('the engine on the %s class', (cls) => {
  it('refuses HTTP/1.0 with Transfer-Encoding (400, close) and runs neither it nor what follows', async () => {
    const g = await startGserve(['-k', cls, RECORDER]);
    const bytes =
      'POST /te10 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5\r\nhello\r\n0\r\n\r\nGET /after-te10 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n';
    const { data, closed } = await sendRaw(g.port, bytes);
    expect(closed).toBe(true);
    const [only, ...rest] = parseResponses(data);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ status: 400, headers: { connection: 'close' } });
    expect(only!.body).toMatch(/Transfer-Encoding in an HTTP\/1\.0 request/);
    expect((await seenBy(g.url)).filter((s) => s.includes('te10'))).toEqual([]);
  });

  it('refuses a forbidden trailer field (Content-Length after the last chunk) with 400 and closes', async () => {
    const g = await startGserve(['-k', cls, RECORDER]);
    const bytes =
      'POST /trailer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n' +
      'Content-Length: 5\r\n\r\n' +
      'GET /after-trailer HTTP/1.1\r\nHost: x\r\n\r\n';
    const { data, closed } = await sendRaw(g.port, bytes);
    expect(closed).toBe(true);
    expect(statuses(data)).toEqual([400]);
    expect(parseResponses(data)[0]!.body).toMatch(/"Content-Length" is not allowed in a trailer/);
    expect(await seenBy(g.url)).not.toContain('GET /after-trailer');
    // The worker is not left with a request in flight: it still serves.
    expect((await get(`${g.url}/still-up`)).status).toBe(200);
  });

  it("gives an absolute-form target's authority to the app in place of Host", async () => {
    const g = await startGserve(['-k', cls, URL_APP]);
    const ask = async (target: string, host = 'good.example') => {
      const { data } = await sendRaw(g.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      const [res] = parseResponses(data);
      return {
        status: res!.status,
        url: res!.status === 200 ? (JSON.parse(res!.body) as { url: string }).url : res!.body,
      };
    };
    expect(await ask('http://evil.example/admin')).toEqual({ status: 200, url: 'http://evil.example/admin' });
    expect(await ask('http://evil.example:8080/a?b=c')).toEqual({ status: 200, url: 'http://evil.example:8080/a?b=c' });
    expect(await ask('http://evil.example')).toEqual({ status: 200, url: 'http://evil.example/' });
    expect(await ask('http://[::1]:8080/v6')).toEqual({ status: 200, url: 'http://[::1]:8080/v6' });
    expect(await ask('http://[2001:db8::1]/v6')).toEqual({ status: 200, url: 'http://[2001:db8::1]/v6' });
    expect((await ask('http://user:pw@evil.example/')).status).toBe(400);
    expect((await ask('http://good.example@evil.example/')).status).toBe(400);
    expect((await ask('http://[::1/')).status).toBe(400);
  });

  it('answers CONNECT host:port with 400 and closes, without running the app', async () => {
    const g = await startGserve(['-k', cls, RECORDER]);
    const { data, closed } = await sendRaw(g.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(closed).toBe(true);
    const [res] = parseResponses(data);
    expect(res).toMatchObject({ status: 400, headers: { connection: 'close' } });
    expect(res!.body).toMatch(/CONNECT/);
    expect((await seenBy(g.url)).filter((s) => s.startsWith('CONNECT'))).toEqual([]);
  });
});

// On the engine this held before the new parser too (the queued second request was never
// dispatched); now it is not even parsed. The node interface on -k sync still runs the second
// request (node:http emits 'request' for it): that is the node path's to fix.
describe.each(CLASSES)('found by hostile probing, on the %s class', (cls) => {
  it('serves an Upgrade request that has a body as an ordinary request: the app reads the body', async () => {
    const g = await startGserve(['-k', cls, URL_APP]);
    for (const framing of [
      'Content-Length: 5\r\n\r\nhello',
      'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ]) {
      const { data, closed } = await sendRaw(
        g.port,
        `POST /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: foo\r\n${framing}`,
      );
      expect(closed).toBe(true);
      const [res] = parseResponses(data);
      expect(res!.status).toBe(200);
      expect(JSON.parse(res!.body)).toMatchObject({ method: 'POST', body: 'hello' });
    }
  });

  it('OPTIONS * reaches a fetch app as the URL `origin/*`, not as a URL that cannot be parsed', async () => {
    const g = await startGserve(['-k', cls, URL_APP]);
    const { data } = await sendRaw(
      g.port,
      'OPTIONS * HTTP/1.1\r\nHost: good.example:8000\r\nConnection: close\r\n\r\n',
    );
    const [res] = parseResponses(data);
    expect(res!.status).toBe(200);
    expect(JSON.parse(res!.body)).toMatchObject({ method: 'OPTIONS', url: 'http://good.example:8000/*' });
    expect(g.lines.filter((line) => /^Error handling request/.test(line.msg))).toEqual([]);
  });

  it("an empty Host does not turn the path's first segment into the URL's host", async () => {
    const g = await startGserve(['-k', cls, URL_APP]);
    const { data } = await sendRaw(g.port, 'GET /evil.example/secret HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n');
    const [res] = parseResponses(data);
    expect(res!.status).toBe(200);
    const url = new URL((JSON.parse(res!.body) as { url: string }).url);
    expect([url.host, url.pathname]).toEqual([`127.0.0.1:${g.port}`, '/evil.example/secret']);
  });

  it('answers TRACE to a fetch app with 501, for the fetch API has no Request for it, and logs no app error', async () => {
    const g = await startGserve(['-k', cls, RECORDER]);
    const { data } = await sendRaw(g.port, 'TRACE /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [res] = parseResponses(data);
    expect(res).toMatchObject({ status: 501, body: expect.stringContaining('no Request for it') });
    expect((await get(g.url)).status).toBe(200);
    expect(g.lines.filter((line) => /^Error handling request/.test(line.msg))).toEqual([]);
  });

  it("honours the app's Connection: close: the connection ends, a pipelined request is not run", async () => {
    const g = await startGserve(['-k', cls, RECORDER]);
    const { data, closed } = await sendRaw(
      g.port,
      'GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /after-close HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(closed).toBe(true);
    const [only, ...rest] = parseResponses(data);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ status: 200, headers: { connection: 'close' } });
    expect(await seenBy(g.url)).not.toContain('GET /after-close');
  });
});

describe('pipelining on one-request-per-connection classes', () => {
  it('-k sync answers the first of two pipelined requests with Connection: close, never runs the second', async () => {
    const g = await startGserve(['-k', 'sync', RECORDER]);
    const two = 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n';
    const { data, closed } = await sendRaw(g.port, two);
    expect(closed).toBe(true);
    const responses = parseResponses(data);
    expect(responses.map((r) => [r.status, r.headers.connection])).toEqual([[200, 'close']]);
    // The app answers /__seen on a later connection: by then, a second run would be recorded.
    const seen = await seenBy(g.url);
    expect(seen).toContain('GET /first');
    expect(seen).not.toContain('GET /second');
  });
});
