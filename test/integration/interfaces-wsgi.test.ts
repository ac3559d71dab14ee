import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { waitForEvent } from '../helpers/events.js';
import { get } from '../helpers/http.js';
import { missingIpv6 } from '../helpers/needs.js';
import { parseResponse, rawExchange } from '../helpers/raw.js';

const probe = `${join(FIXTURES, 'apps', 'wsgi-probe.js')}:app`;
const NO_IPV6 = await missingIpv6();

/** The environ keys that say where the request went, for `head` (a request line and its fields) sent to `port`. */
async function addressed(to: number | { port: number; host: string } | { path: string }, head: string) {
  const { status, body } = parseResponse(await rawExchange(to, `${head}\r\nConnection: close\r\n\r\n`));
  expect(status, head).toBe(200);
  const env = JSON.parse(body) as Record<string, string | undefined>;
  const keys = ['RAW_URI', 'REQUEST_URI', 'PATH_INFO', 'QUERY_STRING', 'HTTP_HOST', 'SERVER_NAME', 'SERVER_PORT'];
  return Object.fromEntries(keys.map((k) => [k, env[k]]));
}

describe('the wsgi interface', () => {
  it('fills the PEP 3333 environ', async () => {
    const g = await startGserve([probe, '-w', '2']);
    const r = await get(g.url + '/environ?x=1', {
      method: 'POST',
      body: 'abc',
      headers: { 'Content-Type': 'text/plain', 'X-Custom': 'v', X_Sneaky: 'dropped' },
    });
    const env = JSON.parse(r.body);
    expect(env).toMatchObject({
      REQUEST_METHOD: 'POST',
      SCRIPT_NAME: '',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=1',
      CONTENT_TYPE: 'text/plain',
      CONTENT_LENGTH: '3',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: String(g.port),
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      HTTP_X_CUSTOM: 'v',
      'wsgi.url_scheme': 'http',
      'wsgi.multithread': false,
      'wsgi.multiprocess': true,
      'wsgi.run_once': false,
      hasInput: true,
      version: [1, 0],
    });
    // As Gunicorn: a header name with an underscore is dropped, and Content-Type is not repeated in HTTP_.
    expect(env.HTTP_X_SNEAKY).toBeUndefined();
    expect(env.HTTP_CONTENT_TYPE).toBeUndefined();
    await g.waitForLog(/^a line for the error log$/);
    const threaded = await startGserve([probe, '-k', 'thread', '--threads', '2']);
    expect(JSON.parse((await get(threaded.url + '/environ')).body)).toMatchObject({
      'wsgi.multithread': true,
      'wsgi.multiprocess': false,
    });
  });

  it('spools a body larger than --wsgi-spool-size to a temporary file and reads it synchronously', async () => {
    const g = await startGserve([probe, '--wsgi-spool-size', '64KiB']);
    const body = 'first line\n' + 'x'.repeat(5 * 1024 * 1024);
    const r = JSON.parse((await get(g.url + '/digest', { method: 'POST', body })).body);
    expect(r).toEqual({
      total: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      firstLine: 'first line\n',
      contentLength: String(body.length),
    });
    // Nothing left behind: the spool file (named after the worker's pid) is unlinked once it is opened.
    const [worker] = [...g.workerPids];
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith(`gserve-wsgi-${worker}-`))).toEqual([]);
    // A small body stays in memory and reads the same way.
    const small = JSON.parse((await get(g.url + '/digest', { method: 'POST', body: 'one\ntwo' })).body);
    expect(small).toMatchObject({ total: 7, firstLine: 'one\n' });
  });

  it('calls close(), honours write() and lets excInfo replace a response not yet sent', async () => {
    const file = join(tempDir(), 'events.log');
    const g = await startGserve([probe, '-e', `EVENTS_FILE=${file}`]);
    expect((await get(g.url + '/close')).body).toBe('onetwo');
    expect(await waitForEvent(file, 'closed')).toEqual(['closed']);
    expect((await get(g.url + '/write')).body).toBe('written then returned');
    const exc = await get(g.url + '/exc');
    expect(exc.status).toBe(503);
    expect(exc.body).toBe('replaced before anything was sent');
  });

  it.each(['async', 'sync', 'thread'])(
    'RAW_URI and REQUEST_URI are the target as sent, an absolute one too, whose authority is Host (-k %s)',
    async (workerClass) => {
      const g = await startGserve([probe, '-k', workerClass]);
      expect(await addressed(g.port, 'GET /environ?x=%20y HTTP/1.1\r\nHost: example.com')).toEqual({
        RAW_URI: '/environ?x=%20y',
        REQUEST_URI: '/environ?x=%20y',
        PATH_INFO: '/environ',
        QUERY_STRING: 'x=%20y',
        HTTP_HOST: 'example.com',
        SERVER_NAME: 'example.com',
        SERVER_PORT: '80',
      });
      // RFC 9112 §3.2.2: the target's authority replaces Host; the app still gets the path in PATH_INFO.
      expect(await addressed(g.port, 'GET http://example.com:81/environ?x=%20y HTTP/1.1\r\nHost: other')).toEqual({
        RAW_URI: 'http://example.com:81/environ?x=%20y',
        REQUEST_URI: 'http://example.com:81/environ?x=%20y',
        PATH_INFO: '/environ',
        QUERY_STRING: 'x=%20y',
        HTTP_HOST: 'example.com:81',
        SERVER_NAME: 'example.com',
        SERVER_PORT: '81',
      });
      expect(await addressed(g.port, 'GET HTTP://[::1]:8000/environ HTTP/1.0')).toMatchObject({
        RAW_URI: 'HTTP://[::1]:8000/environ',
        PATH_INFO: '/environ',
        HTTP_HOST: '[::1]:8000',
      });
    },
  );

  it("SERVER_NAME and SERVER_PORT: from Host, its port or the scheme's, else the listening address", async () => {
    const g = await startGserve([probe]);
    const server = async (host: string | null) => {
      const env = await addressed(g.port, `GET /environ HTTP/1.${host === null ? '0' : `1\r\nHost: ${host}`}`);
      return [env.SERVER_NAME, env.SERVER_PORT];
    };
    expect(await server('example.com')).toEqual(['example.com', '80']);
    expect(await server('example.com:81')).toEqual(['example.com', '81']);
    // RFC 3986 §3.2.3 allows an empty port: the scheme's default, as for none (not the listening address).
    expect(await server('example.com:')).toEqual(['example.com', '80']);
    // An IPv6 name keeps its brackets (RFC 3875 §4.1.14), its port split after them.
    expect(await server('[::1]')).toEqual(['[::1]', '80']);
    expect(await server('[::1]:8000')).toEqual(['[::1]', '8000']);
    expect(await server(null)).toEqual(['127.0.0.1', String(g.port)]);
  });

  it.skipIf(NO_IPV6).each(['async', 'sync', 'thread'])(
    'SERVER_NAME without Host on an IPv6 listener is its bracketed address, as from Host (-k %s)',
    async (workerClass) => {
      const g = await startGserve([probe, '-k', workerClass, '-b', '[::1]:0']);
      const env = await addressed({ port: g.port, host: '::1' }, 'GET /environ HTTP/1.0');
      expect([env.SERVER_NAME, env.SERVER_PORT]).toEqual(['[::1]', String(g.port)]);
    },
  );

  it.each(['async', 'sync', 'thread'])(
    "SERVER_NAME without Host on a Unix socket is the socket's path, SERVER_PORT empty, as Gunicorn's (-k %s)",
    async (workerClass) => {
      const path = join(tempDir(), 'g.sock');
      await startGserve([probe, '-k', workerClass, '-b', `unix:${path}`]);
      // -k sync's master accepts and hands the connection over: the worker's own listener never saw it.
      const env = await addressed({ path }, 'GET /environ HTTP/1.0');
      expect([env.SERVER_NAME, env.SERVER_PORT]).toEqual([path, '']);
    },
  );

  it.each(['async', 'sync', 'thread'])(
    "sends the app's own reason phrase (-k %s), and refuses one that would split the head",
    async (workerClass) => {
      const dir = tempDir();
      writeFileSync(
        join(dir, 'app.cjs'),
        'exports.app = (environ, startResponse) => {\n' +
          "  const status = environ.PATH_INFO === '/split' ? '200 OK\\r\\nX-Injected: 1' : '299 Custom Thing';\n" +
          "  startResponse(status, [['Content-Type', 'text/plain']]);\n" +
          "  return ['ok'];\n" +
          '};\n',
      );
      const g = await startGserve(['-k', workerClass, '--interface', 'wsgi', 'app.cjs:app'], { cwd: dir });
      const ask = (path: string) => rawExchange(g.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(await ask('/')).toMatch(/^HTTP\/1\.1 299 Custom Thing\r\n/);
      const split = await ask('/split');
      expect(split).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
      expect(split).not.toContain('X-Injected');
      await g.until(() => g.lines.some((l) => /reason phrase cannot hold/.test(JSON.stringify(l))), 'the error logged');
    },
  );
});
