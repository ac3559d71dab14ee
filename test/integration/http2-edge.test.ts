import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testCerts, tlsArgs } from '../helpers/certs.js';
import { pollUntil } from '../helpers/poll.js';
import { missing } from '../helpers/needs.js';
import { FIXTURES, startGserve, tempDir, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { holdConnections } from '../helpers/raw.js';
import {
  FLAG,
  FRAME,
  PREFACE,
  frame,
  getHeaderBlock,
  h2Request,
  h2Session,
  readFrames,
  tlsOpen,
} from '../helpers/h2.js';

const app = (name: string) => join(FIXTURES, 'apps', name);

/** The TLS listeners here serve a certificate made by openssl. */
const NO_OPENSSL = missing('openssl');
const closed = (s: Socket) =>
  new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

async function metric(g: Gserve, name: string): Promise<number> {
  const [line] = await g.waitForLog(/^Metrics at: /);
  const r = await get(line!.msg.slice('Metrics at: '.length));
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : NaN;
}

function httpsStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        headers,
        ca: readFileSync(testCerts().cert),
        agent: false,
      },
      (res) => {
        res.resume().on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function wssOpen(port: number, path: string, alpn?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${port}${path}`, {
      ca: readFileSync(testCerts().cert),
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

const echo = (ws: WebSocket, text: string) =>
  new Promise<string>((resolve) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.send(text);
  });

describe.skipIf(NO_OPENSSL)('the TLS handshake is timed by --header-timeout', () => {
  it('closes connections that never send a ClientHello, or stall in the middle of one, and counts them', async () => {
    const g = await startGserve([
      ...tlsArgs(),
      '--header-timeout',
      '1',
      '--metrics-bind',
      '127.0.0.1:0',
      app('fetch-echo'),
    ]);
    const silent = (await holdConnections(g.port, 20)).map((h) => h.socket);
    // A TLS record header announcing a 512-byte ClientHello, then a byte now and then: Node's own
    // handshake timer is an idle timer this would keep resetting.
    const trickler = netConnect(g.port, '127.0.0.1', () =>
      trickler.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])),
    );
    trickler.on('error', () => {});
    const drip = setInterval(() => trickler.writable && trickler.write(Buffer.from([0x00])), 200);
    try {
      await Promise.all([...silent, trickler].map(closed));
    } finally {
      clearInterval(drip);
    }
    // A client that is not speaking TLS at all fails its handshake: counted among the errors.
    const plain = netConnect(g.port, '127.0.0.1', () => plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    plain.on('error', () => {});
    await closed(plain);
    expect(await httpsStatus(g.port, '/still')).toBe(200);
    await g.waitForLog(/^TLS handshake timed out$/, { count: 21 });
    await g.waitForLog(/^TLS handshake failed$/);
    await pollUntil(
      async () => (await metric(g, 'gserve_tls_handshake_failures_total{reason="timeout"}')) >= 21,
      'the timeouts in the metrics',
    );
    expect(await metric(g, 'gserve_tls_handshake_failures_total{reason="error"}')).toBeGreaterThanOrEqual(1);
  });

  it('--http2: a connection sending no request head (no preface, or only preface and SETTINGS) is closed', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', '--header-timeout', '1', app('fetch-echo')]);
    const quiet = await tlsOpen(g.port, certs, ['h2']);
    expect(quiet.alpnProtocol).toBe('h2');
    const settingsOnly = await tlsOpen(g.port, certs, ['h2']);
    settingsOnly.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    // The start of a HEADERS block whose CONTINUATION never comes.
    const halfHead = await tlsOpen(g.port, certs, ['h2']);
    halfHead.write(
      Buffer.concat([
        PREFACE,
        frame(FRAME.SETTINGS, 0, 0),
        frame(FRAME.HEADERS, FLAG.END_STREAM, 1, Buffer.from([0x82, 0x87])),
      ]),
    );
    const http1 = await tlsOpen(g.port, certs, ['http/1.1']);
    // Each reads what the server sends (its SETTINGS), so that it sees the end of the stream.
    for (const s of [quiet, settingsOnly, halfHead, http1]) s.on('error', () => {}).resume();
    await Promise.all([quiet, settingsOnly, halfHead, http1].map(closed));
    await g.waitForLog(/^HTTP\/2 connection sent no request within --header-timeout of its accept$/, { count: 3 });
    const session = await h2Session(g.port, certs);
    expect((await h2Request(session, { ':path': '/ok' })).status).toBe(200);
    session.close();
    expect(g.workerPids.size).toBe(1); // the same worker: closing them crashed nothing
  });
});

describe.skipIf(NO_OPENSSL)('WebSocket on an --http2 listener', () => {
  const CASES = [
    ['node (websocket handlers)', 'ws-node.js:app'],
    ['node (upgrade export)', 'ws-node-upgrade.js:app'],
    ['fetch (Bun convention)', 'ws-fetch.js'],
  ] as const;

  it.each(CASES)(
    '%s: upgrades over HTTP/1.1 (ALPN http/1.1 or none) while h2 serves the same app',
    async (_name, spec) => {
      const certs = testCerts();
      const g = await startGserve([...tlsArgs(), '--http2', app(spec)]);
      for (const alpn of [['http/1.1'], undefined]) {
        const ws = await wssOpen(g.port, '/chat', alpn);
        expect(await echo(ws, `over ${alpn?.[0] ?? 'no ALPN'}`)).toBe(`over ${alpn?.[0] ?? 'no ALPN'}`);
        ws.close();
      }
      // h2 requests on the same listener: a fetch app gets a `server` whose upgrade() says no.
      const session = await h2Session(g.port, certs);
      const r = await h2Request(session, { ':path': '/' });
      expect(r).toMatchObject({ status: 200, body: 'http' });
      session.close();
    },
  );

  it('asgi with --http2: h2 is not offered in ALPN (it is not served to asgi apps), WebSocket works', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', app('ws-asgi.js:app')]);
    const socket = await tlsOpen(g.port, certs, ['h2', 'http/1.1']);
    expect(socket.alpnProtocol).toBe('http/1.1');
    socket.destroy();
    const ws = await wssOpen(g.port, '/', ['h2', 'http/1.1']);
    expect(await echo(ws, 'asgi')).toBe('asgi');
    ws.close();
  });

  it('does not offer WebSocket over HTTP/2 (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL stays off', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', app('ws-fetch.js')]);
    const session = await h2Session(g.port, certs);
    expect(session.remoteSettings.enableConnectProtocol).toBe(false);
    session.close();
  });
});

describe.skipIf(NO_OPENSSL)("HTTP/2 has gserve's limits", () => {
  it(
    'advertises --http2-max-concurrent-streams (default 100) and a header-list size derived from the request ' +
      'limits',
    async () => {
      const certs = testCerts();
      const g = await startGserve([...tlsArgs(), '--http2', app('fetch-echo')]);
      const session = await h2Session(g.port, certs);
      expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
      // --limit-request-line + (--limit-request-fields + 4 pseudo-headers) × (--limit-request-field-size + 32)
      expect(session.remoteSettings.maxHeaderListSize).toBe(4094 + 104 * (8190 + 32));
      session.close();
      const seven = await startGserve([
        ...tlsArgs(),
        '--http2',
        '--http2-max-concurrent-streams',
        '7',
        '--limit-request-field-size',
        '1000',
        app('fetch-echo'),
      ]);
      const s7 = await h2Session(seven.port, certs);
      expect(s7.remoteSettings.maxConcurrentStreams).toBe(7);
      expect(s7.remoteSettings.maxHeaderListSize).toBe(4094 + 104 * 1032);
      s7.close();
    },
  );

  it(
    'streams over --http2-max-concurrent-streams: REFUSED_STREAM before the client acknowledged the limit, ' +
      'the connection closed after (RFC 9113 §5.1.2)',
    async () => {
      const certs = testCerts();
      const dir = tempDir();
      // An app that answers once the whole body is in: a POST whose body never comes keeps its stream open.
      writeFileSync(join(dir, 'app.mjs'), 'export default { fetch: async (r) => new Response(await r.text()) };\n');
      const g = await startGserve([...tlsArgs(), '--http2', '--http2-max-concurrent-streams', '2', 'app.mjs'], {
        cwd: dir,
      });
      // POST (HPACK static index 3) instead of GET (2) in the request head.
      const post = Buffer.from(getHeaderBlock());
      post[0] = 0x83;
      const threeStreams = async (acknowledge: boolean) => {
        const socket = await tlsOpen(g.port, certs, ['h2']);
        const seen: string[] = [];
        let opened = false;
        const open = () => {
          opened = true;
          for (const id of [1, 3, 5]) socket.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, post));
        };
        readFrames(socket, (f) => {
          if (f.type === FRAME.HEADERS) seen.push(`HEADERS ${f.streamId}`);
          if (f.type === FRAME.RST_STREAM) seen.push(`RST_STREAM ${f.streamId} ${f.payload.readUInt32BE(0)}`);
          if (acknowledge && f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK) && !opened) {
            socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
            // The server's settings apply once it has read the ACK; a PING's answer says it has.
            socket.write(frame(FRAME.PING, 0, 0, Buffer.alloc(8)));
          }
          if (acknowledge && f.type === FRAME.PING && f.flags & FLAG.ACK && !opened) open();
        });
        socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
        if (!acknowledge) open();
        return { socket, seen };
      };
      const early = await threeStreams(false);
      await pollUntil(() => early.seen.includes('RST_STREAM 5 7'), 'stream 5 refused (REFUSED_STREAM is 7)');
      expect(early.seen).toEqual(['RST_STREAM 5 7']); // 1 and 3 stay open, waiting for their bodies
      expect(early.socket.destroyed).toBe(false);
      early.socket.destroy();
      const late = await threeStreams(true);
      await closed(late.socket);
      expect(late.seen.filter((f) => f.startsWith('HEADERS'))).toEqual([]); // nothing answered: the connection went
      const session = await h2Session(g.port, certs); // the worker serves on
      expect((await h2Request(session, { ':path': '/', ':method': 'POST' }, 'x')).body).toBe('x');
      session.close();
    },
  );

  it('refuses over-limit h2 requests with the statuses HTTP/1.1 gets; the connection serves on', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', '--limit-request-body', '1000', app('iface-node.js:app')]);
    const big = 'v'.repeat(20 * 1024);
    // HTTP/1.1 on the same listener, for reference.
    expect(await httpsStatus(g.port, '/echo', { 'x-big': big })).toBe(431);
    const session = await h2Session(g.port, certs);
    const many: Record<string, string> = { ':path': '/echo' };
    for (let i = 0; i < 150; i++) many[`x-field-${i}`] = 'v';
    const cases: Array<[string, Record<string, string>, string | undefined, number]> = [
      ['a 20 KB field', { ':path': '/echo', 'x-big': big }, undefined, 431],
      ['150 fields', many, undefined, 431],
      ['a 5000-byte path', { ':path': `/echo/${'p'.repeat(5000)}` }, undefined, 414],
      [
        'Content-Length over the body limit',
        { ':path': '/echo', ':method': 'POST', 'content-length': '2000' },
        'b'.repeat(2000),
        413,
      ],
      ['a body over the limit without Content-Length', { ':path': '/echo', ':method': 'POST' }, 'b'.repeat(5000), 413],
    ];
    for (const [what, headers, body, status] of cases) {
      const r = await h2Request(session, headers, body);
      expect(r.status, what).toBe(status);
      expect(r.body, what).toMatch(/--limit-request-/);
    }
    const ok = await h2Request(session, { ':path': '/echo', ':method': 'POST' }, 'fine');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).body).toBe('fine');
    session.close();
    await g.waitForLog(/^Refused request: 431 a header field is longer than 8190 bytes/);
  });
});

describe.skipIf(NO_OPENSSL)('a fetch app on HTTP/2', () => {
  it('gets no TRACE (the fetch API has no Request for it): 501 over h2 as over HTTP/1.1; OPTIONS * as `/*`', async () => {
    const g = await startGserve([...tlsArgs(), '--http2', app('fetch-echo')]);
    const session = await h2Session(g.port, testCerts());
    const r = await h2Request(session, { ':path': '/t', ':method': 'TRACE' });
    expect(r).toMatchObject({ status: 501, body: expect.stringContaining('no Request for it') });
    expect((await h2Request(session, { ':path': '/t' })).status).toBe(200);
    // OPTIONS * (RFC 9113 §8.3.1): the path the app sees is `/*`, as over HTTP/1.1.
    const star = await h2Request(session, { ':path': '*', ':method': 'OPTIONS' });
    expect(star.status).toBe(200);
    expect(JSON.parse(star.body)).toMatchObject({ method: 'OPTIONS', path: '/*' });
    // An authority no URL can hold is refused, as a Host header over HTTP/1.1 is.
    expect((await h2Request(session, { ':path': '/', ':authority': '1.2.3.4.5' })).status).toBe(400);
    session.close();
    expect(g.lines.filter((line) => /^Error handling request/.test(line.msg))).toEqual([]);
  });

  it('sends a Blob with its Content-Length, and refuses a body stream that gives a string, as over HTTP/1.1', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'app.mjs'),
      'export default {\n' +
        "  fetch: (r) => new URL(r.url).pathname === '/blob'\n" +
        "    ? new Response(new Blob(['blob body']))\n" +
        "    : new Response(new ReadableStream({ start(c) { c.enqueue('text'); c.close(); } })),\n" +
        '};\n',
    );
    const g = await startGserve([...tlsArgs(), '--http2', 'app.mjs'], { cwd: dir });
    const session = await h2Session(g.port, testCerts());
    const blob = await h2Request(session, { ':path': '/blob' });
    expect([blob.status, blob.headers['content-length'], blob.body]).toEqual([200, '9', 'blob body']);
    // A 500, or the stream reset where the head had gone out: never a 200 that looks whole.
    const failed = await h2Request(session, { ':path': '/string' }).catch(() => null);
    if (failed) expect(failed.status).toBe(500);
    await g.until(() => g.lines.some((l) => /body stream gave a string/.test(JSON.stringify(l))), 'the log line');
    session.close();
  });
});

describe("ws.send() with Bun's meaning: -1 queued, 0 dropped", () => {
  /** A client that reads nothing until `readAll`: the messages are kept from the first one on. */
  function openPlain(port: number, path: string): Promise<{ ws: WebSocket; texts: string[] }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      const texts: string[] = [];
      ws.on('message', (data) => texts.push(String(data)));
      ws.once('open', () => {
        ws.pause();
        resolve({ ws, texts });
      });
      ws.once('error', reject);
    });
  }

  /** Reads every message until "end"; the sequence numbers received. */
  const readAll = ({ ws, texts }: { ws: WebSocket; texts: string[] }) =>
    new Promise<number[]>((resolve) => {
      const check = () => {
        if (texts.at(-1) !== 'end') return;
        ws.off('message', check);
        resolve(texts.slice(0, -1).map((text) => Number(text.slice(0, text.indexOf(':')))));
      };
      ws.on('message', check);
      ws.resume();
      check();
    });

  const runLine = (g: Gserve, run: string, key: string) =>
    g.until(
      () =>
        g.stdout
          .split('\n')
          .map((l) => {
            try {
              return JSON.parse(l);
            } catch {
              return null;
            }
          })
          .find((o) => o?.run === run && key in o),
      `the app's ${key} for run ${run}`,
    );

  it(
    'a client that does not read: sends return bytes, then -1, then 0 at the limit; ' +
      'every message not reported 0 arrives once, in order',
    async () => {
      const g = await startGserve(['--ws-ping-interval', '0', app('ws-backpressure.js')]);
      const client = await openPlain(g.port, '/?mode=flood&run=f1');
      const { results } = (await runLine(g, 'f1', 'results')) as { results: number[] };
      expect(results.at(-1)).toBe(0);
      expect(results.filter((r) => r === 0)).toHaveLength(1);
      expect(results).toContain(-1);
      const accepted = results.length - 1;
      const seqs = await readAll(client);
      expect(seqs).toEqual(Array.from({ length: accepted }, (_, i) => i));
      client.ws.close();
    },
  );

  it('an app that waits for drain after -1 gets every message delivered', async () => {
    const g = await startGserve(['--ws-ping-interval', '0', app('ws-backpressure.js')]);
    const client = await openPlain(g.port, '/?mode=drain&count=600&run=d1');
    await runLine(g, 'd1', 'firstBackpressure');
    const seqs = await readAll(client);
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i));
    const { results } = (await runLine(g, 'd1', 'results')) as { results: number[] };
    expect(results).toHaveLength(600);
    expect(results).not.toContain(0);
    client.ws.close();
  });
});

describe.skipIf(NO_OPENSSL)('HTTP/2 streams a client stalls', () => {
  const FLOW = `${join(FIXTURES, 'classes', 'flow.js')}:app`;

  it('--request-timeout: a body that stops arriving gets 408 on its stream; the session serves on', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', '--request-timeout', '1', FLOW]);
    const session = await h2Session(g.port, certs);
    const stalled = session.request(
      { ':method': 'POST', ':path': '/count', 'content-length': '100' },
      { endStream: false },
    );
    stalled.write('a');
    const status = await new Promise<number>((resolve, reject) => {
      stalled.on('response', (h) => resolve(Number(h[':status'])));
      stalled.on('error', reject);
    });
    expect(status).toBe(408);
    expect((await h2Request(session, { ':method': 'POST', ':path': '/count' }, 'abc')).body).toBe('3');
    session.close();
  });

  it('a slow app is no stalling client: its GET, and a POST whose body it never reads, get their answers', async () => {
    const certs = testCerts();
    const dir = tempDir();
    // Answers after two pauses longer than both timeouts, in two writes.
    writeFileSync(
      join(dir, 'slow.mjs'),
      'export const app = (req, res) => setTimeout(() => { res.write("a"); setTimeout(() => res.end("b"), 1500); }, 1500);\n',
    );
    const g = await startGserve([
      ...tlsArgs(),
      '--http2',
      '--request-timeout',
      '1',
      '--send-timeout',
      '1',
      `${dir}/slow.mjs:app`,
    ]);
    const session = await h2Session(g.port, certs);
    const [got, posted] = await Promise.all([
      h2Request(session, { ':path': '/' }),
      h2Request(session, { ':method': 'POST', ':path': '/' }, 'unread'),
    ]);
    expect([got.status, got.body]).toEqual([200, 'ab']);
    expect([posted.status, posted.body]).toEqual([200, 'ab']);
    session.close();
  });

  it('--send-timeout: a stream whose answer the client never reads is reset (CANCEL); the session serves on', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', '--send-timeout', '1', FLOW]);
    const session = await h2Session(g.port, certs);
    const unread = session.request({ ':path': '/stream?mb=64' });
    unread.on('response', () => unread.pause());
    unread.on('error', () => {});
    await new Promise((resolve) => unread.once('close', resolve));
    expect(unread.rstCode).toBe(8); // NGHTTP2_CANCEL
    expect((await h2Request(session, { ':method': 'POST', ':path': '/count' }, 'abcd')).body).toBe('4');
    session.close();
  });
});
