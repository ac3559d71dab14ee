import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponse, rawExchange } from '../helpers/raw.js';

const app = (name: string) => join(FIXTURES, 'apps', name);
const GET = 'GET /x?y=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n';

/** PROXY protocol v2 header (PROXY command, TCP) for an IPv4 or IPv6 client. */
function proxyV2(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const v6 = src.includes(':');
  const ip = (a: string) => (v6 ? ipv6Bytes(a) : Buffer.from(a.split('.').map(Number)));
  const addresses = Buffer.concat([
    ip(src),
    ip(dst),
    Buffer.from([srcPort >> 8, srcPort & 255, dstPort >> 8, dstPort & 255]),
  ]);
  const tlv = Buffer.from([0x04, 0x00, 0x01, 0x00]); // a NOOP TLV, to show TLVs are skipped
  const body = Buffer.concat([addresses, tlv]);
  const head = Buffer.from([
    0x0d,
    0x0a,
    0x0d,
    0x0a,
    0x00,
    0x0d,
    0x0a,
    0x51,
    0x55,
    0x49,
    0x54,
    0x0a,
    0x21,
    v6 ? 0x21 : 0x11,
    body.length >> 8,
    body.length & 255,
  ]);
  return Buffer.concat([head, body]);
}

function ipv6Bytes(a: string): Buffer {
  const [left, right = ''] = a.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]));
}

function getUnix(
  socketPath: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('forwarded headers', () => {
  it('believes X-Forwarded-Proto from a trusted peer (the default 127.0.0.1), and Forwarded only when told to', async () => {
    const g = await startGserve([app('fetch-url')]);
    const plain = JSON.parse((await get(g.url + '/a')).body);
    expect(plain.url).toBe(`http://127.0.0.1:${g.port}/a`);
    const xfp = JSON.parse(
      (await get(g.url + '/a', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.4' } })).body,
    );
    expect(xfp.url).toBe(`https://127.0.0.1:${g.port}/a`);
    // A proxy that sets X-Forwarded-* passes a client's own Forwarded on: it is not read.
    const spoofed = JSON.parse((await get(g.url + '/b', { headers: { forwarded: 'proto=https' } })).body);
    expect(spoofed.url).toBe(`http://127.0.0.1:${g.port}/b`);
    const f = await startGserve(['--forwarded-headers', 'forwarded', app('fetch-url')]);
    const fwd = JSON.parse(
      (
        await get(f.url + '/b', {
          headers: { forwarded: 'for="[2001:db8::7]:4711";proto=https', 'x-forwarded-proto': 'http' },
        })
      ).body,
    );
    expect(fwd.url).toBe(`https://127.0.0.1:${f.port}/b`);
  });

  it("ignores an untrusted peer's forwarded headers", async () => {
    const g = await startGserve(['--forwarded-allow-ips', '10.9.8.7,192.168.0.0/16', app('fetch-url')]);
    const r = JSON.parse(
      (await get(g.url + '/a', { headers: { 'x-forwarded-proto': 'https', forwarded: 'proto=https' } })).body,
    );
    expect(r.url).toBe(`http://127.0.0.1:${g.port}/a`);
  });

  it('rejects a bad --forwarded-allow-ips value with a one-line message', async () => {
    const { runGserve } = await import('../helpers/gserve.js');
    const { code, stderr } = await runGserve(['--forwarded-allow-ips', '10.0.0.0/99', app('fetch-url')]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/forwarded-allow-ips.*CIDR/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('forwarded client in every gateway interface', () => {
  const headers = { 'x-forwarded-for': '203.0.113.50, 10.0.0.2', 'x-forwarded-proto': 'https' };

  it('fetch: request.url and server.requestIP', async () => {
    const g = await startGserve(['--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8', app('fetch-ip')]);
    const r = JSON.parse((await get(g.url + '/ip', { headers })).body);
    expect(r).toEqual({
      url: `https://127.0.0.1:${g.port}/ip`,
      ip: { address: '203.0.113.50', family: 'IPv4', port: 0 },
    });
    const direct = JSON.parse((await get(g.url + '/ip')).body);
    expect(direct.ip).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('wsgi: REMOTE_ADDR and wsgi.url_scheme; asgi: client and scheme', async () => {
    const w = await startGserve(['--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8', `${app('wsgi-probe')}:app`]);
    const env = JSON.parse((await get(w.url + '/environ', { headers })).body);
    expect(env).toMatchObject({ REMOTE_ADDR: '203.0.113.50', 'wsgi.url_scheme': 'https' });
    const a = await startGserve([
      '--forwarded-allow-ips',
      '127.0.0.1,10.0.0.0/8',
      '--forwarded-headers',
      'forwarded',
      `${app('asgi-probe')}:app`,
    ]);
    const scope = JSON.parse(
      (await get(a.url + '/scope', { headers: { forwarded: 'for="[2001:db8::9]:4000";proto=https' } })).body,
    );
    expect(scope).toMatchObject({ client: ['2001:db8::9', 4000], scheme: 'https' });
    // The thread class's app threads apply the same --forwarded-allow-ips.
    const t = await startGserve(['-k', 'thread', '--forwarded-allow-ips', '10.9.8.7', `${app('wsgi-probe')}:app`]);
    expect(JSON.parse((await get(t.url + '/environ', { headers })).body)).toMatchObject({
      REMOTE_ADDR: '127.0.0.1',
      'wsgi.url_scheme': 'http',
    });
    const path = join(tempDir(), 'thread.sock');
    await startGserve([
      '-k',
      'thread',
      '-b',
      `unix:${path}`,
      '--forwarded-allow-ips',
      '10.9.8.7',
      `${app('wsgi-probe')}:app`,
    ]);
    // A unix-socket peer is trusted; 10.0.0.2 is not, so it is the right-most hop to believe.
    expect(JSON.parse((await getUnix(path, '/environ', headers)).body)).toMatchObject({
      REMOTE_ADDR: '10.0.0.2',
      'wsgi.url_scheme': 'https',
    });
    // An untrusted peer's headers change nothing.
    const u = await startGserve(['--forwarded-allow-ips', '10.9.8.7', `${app('wsgi-probe')}:app`]);
    expect(JSON.parse((await get(u.url + '/environ', { headers })).body)).toMatchObject({
      REMOTE_ADDR: '127.0.0.1',
      'wsgi.url_scheme': 'http',
    });
  });
});

describe('PROXY protocol', () => {
  it('takes the client address from a v1 header of a trusted peer, for node and fetch apps', async () => {
    const g = await startGserve(['--proxy-protocol', app('node-peer')]);
    // Header and request in one write, the way HAProxy sends them.
    const r = parseResponse(await rawExchange({ port: g.port }, `PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\n${GET}`));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ remoteAddress: '203.0.113.7', remotePort: 4242, url: '/x?y=1' });
    // Without a header the connection is served normally, with the real peer.
    const direct = JSON.parse((await get(g.url + '/')).body);
    expect(direct.remoteAddress).toMatch(/127\.0\.0\.1$/);

    const f = await startGserve(['--proxy-protocol', app('fetch-url')]);
    const fr = parseResponse(await rawExchange({ port: f.port }, `PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\n${GET}`));
    expect(fr.status).toBe(200);
    expect(JSON.parse(fr.body).url).toBe('http://example.test/x?y=1');
  });

  it('takes the client address from a v2 header (IPv4 and IPv6), sent in pieces', async () => {
    const g = await startGserve(['--proxy-protocol', app('node-peer')]);
    const v4 = proxyV2('198.51.100.20', 50000, '10.0.0.1', 443);
    const r4 = parseResponse(
      await rawExchange({ port: g.port }, Buffer.concat([v4.subarray(5), Buffer.from(GET)]), (s) =>
        s.write(v4.subarray(0, 5)),
      ),
    );
    expect(JSON.parse(r4.body)).toMatchObject({ remoteAddress: '198.51.100.20', remotePort: 50000 });
    const r6 = parseResponse(
      await rawExchange(
        { port: g.port },
        Buffer.concat([proxyV2('2001:db8::1', 1234, '2001:db8::2', 80), Buffer.from(GET)]),
      ),
    );
    expect(JSON.parse(r6.body)).toMatchObject({ remoteAddress: '2001:db8::1', remotePort: 1234 });
  });

  it("never reads an untrusted peer's PROXY header as one, and closes on a malformed header", async () => {
    const g = await startGserve(['--proxy-protocol', '--forwarded-allow-ips', '10.9.8.7', app('node-peer')]);
    const spoofed = parseResponse(
      await rawExchange({ port: g.port }, `PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\n${GET}`),
    );
    expect(spoofed.status).toBe(400);
    expect(spoofed.body).not.toContain('203.0.113.7');

    const t = await startGserve(['--proxy-protocol', app('node-peer')]);
    const bad = await rawExchange({ port: t.port }, `PROXY TCP4 not-an-ip 10.0.0.1 4242 80\r\n${GET}`);
    expect(bad).toBe('');
    await t.waitForLog(/bad PROXY protocol header/);
    // The worker keeps serving.
    expect((await get(t.url + '/')).status).toBe(200);
  });
});
