import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { rawExchange } from '../helpers/raw.js';

/** The same routes served through each interface (test/fixtures/apps/iface-*.js); the same answers expected. */
const KINDS = [
  ['node', []],
  ['fetch', []],
  ['wsgi', []],
  ['asgi', []],
  // WSGI's natural homes: one request per worker, or per thread.
  ['wsgi', ['-k', 'sync']],
  ['wsgi', ['-k', 'thread', '--threads', '2']],
  // Every interface in app threads: requests and answers travel between threads in messages.
  ['node', ['-k', 'thread', '--threads', '2']],
  ['fetch', ['-k', 'thread', '--threads', '2']],
  ['asgi', ['-k', 'thread', '--threads', '2']],
] as const;

/** Splits a raw HTTP/1.1 stream of responses (no bodies beyond what their framing says). */
function responses(raw: string): Array<{ head: string; body: string }> {
  const out: Array<{ head: string; body: string }> = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end);
    rest = rest.slice(end + 4);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    let body = '';
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      for (;;) {
        const nl = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, nl), 16);
        rest = rest.slice(nl + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else if (length) {
      body = rest.slice(0, Number(length[1]));
      rest = rest.slice(Number(length[1]));
    }
    out.push({ head, body });
  }
  return out;
}

describe.each([[[]], [['-k', 'thread', '--threads', '2']]] as const)(
  'node apps %j: the answer node:http sends',
  (extra) => {
    it('a 304 or 204 with a Content-Length has no body; a reason phrase of its own goes out', async () => {
      const g = await startGserve([`${join(FIXTURES, 'apps', 'iface-node.js')}:app`, ...extra]);
      const raw = await rawExchange(
        g.port,
        'GET /status/304?length=1234 HTTP/1.1\r\nHost: x\r\n\r\n' +
          'GET /status/204?length=5 HTTP/1.1\r\nHost: x\r\n\r\n' +
          'GET /status/200?reason=Fine%20Thanks&length=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      // -k thread waited for 1234 body bytes after the 304, and answered 500 instead.
      const heads = raw.split('\r\n\r\n').filter(Boolean);
      expect(heads.map((h) => h.split('\r\n')[0])).toEqual([
        'HTTP/1.1 304 Not Modified',
        'HTTP/1.1 204 No Content',
        'HTTP/1.1 200 Fine Thanks',
      ]);
      expect(heads[0]).toMatch(/\r\ncontent-length: 1234(\r\n|$)/i);
    });

    it('a 103 Early Hints goes out before the answer', async () => {
      const g = await startGserve([`${join(FIXTURES, 'apps', 'iface-node.js')}:app`, ...extra]);
      const raw = await rawExchange(g.port, 'GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      // -k thread dropped it.
      expect(raw).toMatch(
        /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/a\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 /i,
      );
      expect(raw.endsWith('\r\n\r\nhinted')).toBe(true);
    });
  },
);

describe.each(KINDS)('the %s interface %j', (kind, extra) => {
  it('serves status, headers, queries, bodies, streams, HEAD, 204/304, unicode paths and app errors', async () => {
    const g = await startGserve([`${join(FIXTURES, 'apps', `iface-${kind}.js`)}:app`, '--interface', kind, ...extra]);

    // Query string and a percent-encoded unicode path, decoded for the app.
    const echo = await get(g.url + '/echo/%C3%A9t%C3%A9/%E2%9C%93?a=1&b=%20x');
    expect(echo.status).toBe(200);
    expect(JSON.parse(echo.body)).toEqual({ method: 'GET', path: '/echo/été/✓', query: 'a=1&b=%20x', body: '' });

    // Bodies: Content-Length, empty, and chunked.
    expect(JSON.parse((await get(g.url + '/echo', { method: 'POST', body: 'hello' })).body).body).toBe('hello');
    expect(JSON.parse((await get(g.url + '/echo', { method: 'POST', body: '' })).body).body).toBe('');
    const chunked = await rawExchange(
      g.port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n' +
        '6\r\n world\r\n0\r\n\r\n',
    );
    const [chunkedReply] = responses(chunked);
    expect(chunkedReply!.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(chunkedReply!.body).body).toBe('hello world');

    // Repeated headers and every Set-Cookie survive.
    const headers = await get(g.url + '/headers');
    expect(headers.headers['x-multi']).toBe('a, b');
    expect(headers.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);

    // A streamed response goes out chunked, whole.
    const stream = await rawExchange(g.port, 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(stream).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
    expect(responses(stream)[0]!.body).toBe('abc');

    // HEAD, 204 and 304 carry no body: pipelined after 204 and 304, the next response parses cleanly.
    const headOnly = await rawExchange(g.port, 'HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(headOnly).toMatch(/^HTTP\/1\.1 200 /);
    expect(headOnly.endsWith('\r\n\r\n')).toBe(true);
    const requests = [
      'GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /status/304 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /echo?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ];
    // The sync class answers one request per connection (as Gunicorn's), so no pipelining there.
    const oneRequestPerConnection = (extra as readonly string[]).includes('sync');
    const raw = oneRequestPerConnection
      ? (await Promise.all(requests.map((r) => rawExchange(g.port, r)))).join('')
      : await rawExchange(g.port, requests.join(''));
    const [noContent, notModified, last] = responses(raw);
    expect(noContent!.head).toMatch(/^HTTP\/1\.1 204 /);
    expect(noContent!.head).not.toMatch(/transfer-encoding|content-length: [1-9]/i);
    expect(notModified!.head).toMatch(/^HTTP\/1\.1 304 /);
    expect(notModified!.head).not.toMatch(/transfer-encoding|content-length: [1-9]/i);
    expect(JSON.parse(last!.body).query).toBe('last');

    // HEAD of a streamed body: nothing after its head (a chunked HEAD answer ended with a last chunk,
    // read as the next answer); and no `content-length: 0` for a body that GET sends (-k thread said so).
    const heads = ['HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n', 'HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n'];
    const headRaw = oneRequestPerConnection
      ? await Promise.all(heads.map((r) => rawExchange(g.port, r.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))))
      : (await rawExchange(g.port, `${heads.join('')}GET /echo?after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
          .split(/(?=HTTP\/1\.1 )/)
          .slice(0, 2);
    expect(headRaw).toHaveLength(2);
    for (const answer of headRaw) {
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer.indexOf('\r\n\r\n')).toBe(answer.length - 4);
      expect(answer).not.toMatch(/\r\ncontent-length: 0\r\n/i);
    }

    if (kind === 'fetch') {
      const redirect = await get(g.url + '/redirect');
      expect([redirect.status, redirect.headers.location]).toEqual([302, 'http://example.test/there']);
      // A Blob or ArrayBuffer body goes out with its size as Content-Length, as from @hono/node-server, not chunked.
      for (const [path, body] of [
        ['/blob', 'blob body'],
        ['/array-buffer', 'buffer body'],
      ] as const) {
        const sized = await rawExchange(g.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(sized, path).toMatch(new RegExp(`\r\ncontent-length: ${body.length}\r\n`, 'i'));
        expect(sized, path).not.toMatch(/transfer-encoding/i);
        expect(responses(sized)[0]!.body, path).toBe(body);
      }
    }

    // An app error: a bare 500, the detail only in the log with the request line, the worker still serving.
    const failed = await get(g.url + '/throw');
    expect(failed.status).toBe(500);
    expect(failed.body).not.toMatch(/secret|Error:|at /);
    const logged = await g.waitForLog(/GET \/throw/);
    expect(JSON.stringify(logged[0])).toContain('secret detail 42');
    expect((await get(g.url + '/echo')).status).toBe(200);
    expect(g.lines.filter((l) => /^Booting worker/.test(l.msg))).toHaveLength(1);
  });
});
