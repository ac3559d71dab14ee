import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { testCerts, tlsArgs } from '../helpers/certs.js';
import { missing } from '../helpers/needs.js';
import { connectBehindProxy, holdConnections } from '../helpers/raw.js';
import { FIXTURES, runGserve, startGserve } from '../helpers/gserve.js';

const app = (name: string) => join(FIXTURES, 'apps', name);

/** Every test here serves TLS with a certificate made by openssl. */
const NO_OPENSSL = missing('openssl');
function httpsGet(
  port: number,
  path: string,
  extra: Record<string, unknown> = {},
): Promise<{ status: number; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        ca: readFileSync(testCerts().cert),
        agent: false,
        ...extra,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One HTTP/1.1 request over TLS on an already connected socket; the response body. */
function tlsGetOver(raw: Socket, path: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const tls = tlsConnect({ socket: raw, servername: 'localhost', ca: readFileSync(testCerts().cert) }, () =>
      tls.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
    );
    let out = '';
    tls.setEncoding('utf8').on('data', (d: string) => (out += d));
    tls.on('end', () => resolve(out.slice(out.indexOf('\r\n\r\n') + 4)));
    tls.on('error', reject);
  });
}

function h2Get(
  port: number,
  path: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://localhost:${port}`, { ca: readFileSync(testCerts().cert) });
    session.on('error', reject);
    const stream = session.request({ ':path': path });
    let body = '';
    let headers: Record<string, unknown> = {};
    stream.on('response', (h) => (headers = h));
    stream.setEncoding('utf8').on('data', (c) => (body += c));
    stream.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status']), body, headers });
    });
    stream.on('error', reject);
    stream.end();
  });
}

/** The one error line of a gserve that stopped at startup: there must be exactly one, and no stack. */
function oneLineError(stderr: string): string {
  const errors = stderr.split('\n').filter((l) => l.startsWith('gserve: error:'));
  expect(errors).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return errors[0]!;
}

/**
 * A start that must be refused. One that listens instead fails the test at once, rather than at
 * the test's timeout (afterEach stops it).
 */
async function refusedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const g = await startGserve(args, { workers: 0 });
  const listening = () => g.lines.some((l) => l.msg.startsWith('Listening at: '));
  await g.until(() => g.exitCode !== undefined || listening(), 'gserve to exit or listen');
  expect(listening(), 'gserve accepted the settings and listens').toBe(false);
  const { code } = await g.exited;
  const stderr = g.child.stderr!;
  if (!stderr.readableEnded) await new Promise((resolve) => stderr.once('end', resolve));
  return { code, stderr: g.stderr };
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '30', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(NO_OPENSSL)('TLS', () => {
  it('serves HTTPS to node and fetch apps; the scheme is https', async () => {
    const g = await startGserve([...tlsArgs(), app('node-peer')]);
    expect(g.lines.some((l) => /^Listening at: https:\/\/127\.0\.0\.1:\d+ /.test(l.msg))).toBe(true);
    const r = await httpsGet(g.port, '/n');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ encrypted: true, url: '/n' });

    const f = await startGserve([...tlsArgs(), app('fetch-url')]);
    const fr = await httpsGet(f.port, '/f?q=1');
    expect(JSON.parse(fr.body).url).toBe(`https://127.0.0.1:${f.port}/f?q=1`);
    // A client speaking plain HTTP to the TLS port is closed; the worker keeps serving.
    const plain = await new Promise<string>((resolve) => {
      const s = netConnect(f.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let out = '';
      s.setEncoding('latin1').on('data', (d: string) => (out += d));
      s.on('close', () => resolve(out));
      s.on('error', () => {});
    });
    expect(plain).not.toMatch(/^HTTP\/1\.1 200/);
    expect((await httpsGet(f.port, '/again')).status).toBe(200);
  });

  it('asks for client certificates with --cert-reqs required and --ca-certs', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--ca-certs', certs.cert, '--cert-reqs', 'required', app('node-peer')]);
    const withCert = await httpsGet(g.port, '/', { cert: readFileSync(certs.cert), key: readFileSync(certs.key) });
    expect(withCert.status).toBe(200);
    await expect(httpsGet(g.port, '/')).rejects.toThrow();
  });

  it('reads a PROXY protocol header before the TLS handshake, sent apart or with the ClientHello', async () => {
    const g = await startGserve([...tlsArgs(), '--proxy-protocol', app('node-peer')]);
    const header = 'PROXY TCP6 2001:db8::5 2001:db8::1 6000 443\r\n';
    const apart = netConnect(g.port, '127.0.0.1');
    await new Promise((resolve) => apart.once('connect', resolve));
    apart.write(header);
    for (const raw of [apart, await connectBehindProxy(g.port, header)]) {
      const body = await tlsGetOver(raw, '/p');
      expect(JSON.parse(body)).toMatchObject({ remoteAddress: '2001:db8::5', remotePort: 6000, encrypted: true });
    }
  });

  it('stops at startup with one line for an unreadable or mismatched certificate', async () => {
    const certs = testCerts();
    const unreadable = await runGserve(['--certfile', join(certs.dir, 'nope.pem'), app('fetch-url')]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/Cannot read --certfile .*nope\.pem: ENOENT.*GSERVE_E_TLS/);
    const garbage = join(certs.dir, 'garbage.pem');
    writeFileSync(garbage, 'not a pem\n');
    const bad = await runGserve(['--certfile', certs.cert, '--keyfile', garbage, app('fetch-url')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--keyfile .*garbage\.pem holds no PEM private key\..*GSERVE_E_TLS/);
    const notCert = await runGserve(['--certfile', garbage, '--keyfile', certs.key, app('fetch-url')]);
    expect(notCert.code).toBe(2);
    expect(notCert.stderr).toMatch(/--certfile .*garbage\.pem holds no PEM certificate\..*GSERVE_E_TLS/);
    const noTls = await runGserve(['--http2', app('fetch-url')]);
    expect(noTls.code).toBe(2);
    expect(noTls.stderr).toMatch(/--http2 needs TLS/);
    for (const r of [unreadable, bad, notCert, noTls]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('names --ciphers when the cipher list matches no cipher', async () => {
    const r = await runGserve([...tlsArgs(), '--ciphers', 'NOPE', app('fetch-url')]);
    expect(r.code).toBe(2);
    expect(oneLineError(r.stderr)).toBe(
      'gserve: error: --ciphers "NOPE" matches no cipher OpenSSL knows. List the names with `openssl ciphers`, ' +
        "or drop --ciphers for Node's defaults. [GSERVE_E_TLS]",
    );
  });

  it('says that a --certfile without its key needs --keyfile', async () => {
    const { cert } = testCerts();
    const r = await runGserve(['--certfile', cert, app('fetch-url')]);
    expect(r.code).toBe(2);
    expect(oneLineError(r.stderr)).toBe(
      `gserve: error: --certfile ${cert} holds no private key, and no --keyfile was given. Give the key with ` +
        '--keyfile, or a --certfile PEM holding both the certificate and its key. [GSERVE_E_TLS]',
    );
  });

  it('refuses a --ca-certs file that holds no certificate', async () => {
    const certs = testCerts();
    const garbage = join(certs.dir, 'ca-garbage.pem');
    writeFileSync(garbage, 'garbage\n');
    for (const ca of [garbage, certs.key]) {
      const r = await refusedStart([...tlsArgs(), '--ca-certs', ca, '--cert-reqs', 'required', app('fetch-url')]);
      expect(r.code).toBe(2);
      expect(oneLineError(r.stderr)).toBe(
        `gserve: error: --ca-certs ${ca} holds no PEM certificate, so no client certificate could verify. Give the ` +
          'CA certificates that sign the client certificates, in PEM ("-----BEGIN CERTIFICATE-----"). [GSERVE_E_TLS]',
      );
    }
  });

  it('refuses a --ca-certs file with a broken certificate, which Node skips with all after it', async () => {
    const certs = testCerts();
    const pem = readFileSync(certs.cert, 'latin1');
    const broken = pem.replace(/\n([A-Za-z0-9+/]{16})/, '\n!!!!!!!!!!!!!!!!');
    const ca = join(certs.dir, 'ca-broken.pem');
    writeFileSync(ca, broken + pem);
    const r = await refusedStart([...tlsArgs(), '--ca-certs', ca, '--cert-reqs', 'optional', app('fetch-url')]);
    expect(r.code).toBe(2);
    expect(oneLineError(r.stderr)).toMatch(
      /^gserve: error: --ca-certs .*ca-broken\.pem: certificate 1 of 2 cannot be read \(.+\), .*Replace or remove it\. \[GSERVE_E_TLS\]$/,
    );
  });

  it('keeps the --keyfile/--certfile hint for a key of another certificate, even of another type', async () => {
    const certs = testCerts();
    const keys = { ec: join(certs.dir, 'other-ec.pem'), rsa: join(certs.dir, 'other-rsa.pem') };
    execFileSync(
      'openssl',
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', keys.ec],
      {
        stdio: 'pipe',
      },
    );
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keys.rsa], {
      stdio: 'pipe',
    });
    for (const key of [keys.ec, keys.rsa]) {
      const r = await runGserve(['--certfile', certs.cert, '--keyfile', key, app('fetch-url')]);
      expect(r.code).toBe(2);
      expect(oneLineError(r.stderr)).toMatch(
        /^gserve: error: --keyfile .* does not match --certfile .*\. Check that --keyfile matches --certfile and that both are PEM\. \[GSERVE_E_TLS\]$/,
      );
    }
  });
});

describe.skipIf(NO_OPENSSL)('TLS and the PROXY protocol in every worker class', () => {
  for (const workerClass of ['sync', 'thread']) {
    it(`-k ${workerClass}: reads the PROXY header, then TLS, for a node app`, async () => {
      const g = await startGserve(['-k', workerClass, ...tlsArgs(), '--proxy-protocol', app('node-peer')]);
      const raw = await connectBehindProxy(g.port, 'PROXY TCP4 198.51.100.9 10.0.0.1 8123 443\r\n');
      const body = await tlsGetOver(raw, '/k');
      expect(JSON.parse(body)).toMatchObject({
        remoteAddress: '198.51.100.9',
        remotePort: 8123,
        encrypted: true,
        url: '/k',
      });
    });
  }

  it('-k sync -w 1: connections that have not begun a handshake hold no worker', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--header-timeout', '120', ...tlsArgs(), app('node-peer')]);
    const silent = (await holdConnections(g.port, 5)).map((h) => h.socket);
    try {
      const { status, body } = await httpsGet(g.port, '/served');
      expect(status).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ encrypted: true, url: '/served' });
      expect(silent.filter((s) => s.destroyed).length).toBe(0);
    } finally {
      for (const s of silent) s.destroy();
    }
  });
});

describe.skipIf(NO_OPENSSL)('HTTP/2', () => {
  it.each([['sync'], ['thread']])(
    '-k %s --http2 says at start that it serves HTTP/1.1 only, and ALPN offers no h2',
    async (klass) => {
      const g = await startGserve(['-k', klass, ...tlsArgs(), '--http2', app('fetch-url')]);
      expect(g.lines.some((l) => l.msg.startsWith(`--http2 is not served by -k ${klass}`))).toBe(true);
      const h1 = await httpsGet(g.port, '/one', { ALPNProtocols: ['h2', 'http/1.1'] });
      expect(h1.alpn).toBe('http/1.1');
    },
  );

  for (const fixture of ['node-peer', 'fetch-url']) {
    it(`serves h2 with ALPN and falls back to HTTP/1.1 (${fixture} app)`, async () => {
      const g = await startGserve([...tlsArgs(), '--http2', app(fixture)]);
      const h2 = await h2Get(g.port, '/two?x=1');
      expect(h2.status).toBe(200);
      const body = JSON.parse(h2.body);
      if (fixture === 'node-peer') expect(body).toMatchObject({ httpVersion: '2.0', encrypted: true, url: '/two?x=1' });
      else {
        expect(body.url).toBe(`https://localhost:${g.port}/two?x=1`);
        expect(h2.headers['set-cookie']).toEqual(['a=1']);
      }
      const h1 = await httpsGet(g.port, '/one', { ALPNProtocols: ['http/1.1'] });
      expect(h1.status).toBe(200);
      expect(h1.alpn).toBe('http/1.1');
      if (fixture === 'node-peer') expect(JSON.parse(h1.body).httpVersion).toBe('1.1');
    });

    it.skipIf(missing('curl with HTTP/2'))(`serves curl --http2, GET and POST (${fixture} app)`, async () => {
      const certs = testCerts();
      const g = await startGserve([...tlsArgs(), '--http2', app(fixture)]);
      const c = await curl([
        '--http2',
        '--cacert',
        certs.cert,
        '-w',
        '\\n%{http_version}',
        `https://localhost:${g.port}/curl`,
      ]);
      expect(c.stderr).toBe('');
      const [json, version] = c.stdout.split('\n');
      expect(version).toBe('2');
      expect(JSON.parse(json!).url).toMatch(/\/curl$/);
      const post = await curl([
        '--http2',
        '--cacert',
        certs.cert,
        '-d',
        'hello body',
        `https://localhost:${g.port}/post`,
      ]);
      if (fixture === 'fetch-url')
        expect(JSON.parse(post.stdout)).toMatchObject({ method: 'POST', body: 'hello body' });
      else expect(JSON.parse(post.stdout).httpVersion).toBe('2.0');
    });
  }
});

describe.skipIf(NO_OPENSSL)('HTTP/2 behind a PROXY protocol balancer', () => {
  it('reads the PROXY header, then negotiates h2 (header sent apart or with the ClientHello)', async () => {
    const g = await startGserve([...tlsArgs(), '--http2', '--proxy-protocol', app('node-peer')]);
    const header = 'PROXY TCP4 192.0.2.44 10.0.0.1 7777 443\r\n';
    const apart = netConnect(g.port, '127.0.0.1');
    await new Promise((resolve) => apart.once('connect', resolve));
    apart.write(header);
    for (const raw of [apart, await connectBehindProxy(g.port, header)]) {
      const session = http2Connect(`https://localhost:${g.port}`, {
        createConnection: () =>
          tlsConnect({
            socket: raw,
            servername: 'localhost',
            ca: readFileSync(testCerts().cert),
            ALPNProtocols: ['h2'],
          }),
      });
      const stream = session.request({ ':path': '/behind' });
      let body = '';
      stream.setEncoding('utf8').on('data', (c) => (body += c));
      await new Promise((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('error', reject);
        session.on('error', reject);
      });
      session.close();
      expect(JSON.parse(body)).toMatchObject({
        remoteAddress: '192.0.2.44',
        remotePort: 7777,
        httpVersion: '2.0',
        url: '/behind',
      });
    }
  });
});

describe.skipIf(NO_OPENSSL)('HTTP/2 graceful stop', () => {
  it('answers the stream in flight, sends GOAWAY to idle sessions, and exits on TERM', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', app('node-pid')]);
    const session = http2Connect(`https://localhost:${g.port}`, { ca: readFileSync(certs.cert) });
    session.on('error', () => {});
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const stream = session.request({ ':path': '/slow?ms=1500' });
    let body = '';
    stream.setEncoding('utf8').on('data', (c) => (body += c));
    const ended = new Promise<void>((resolve) => stream.on('end', () => resolve()));
    await new Promise((resolve) => stream.once('response', resolve));
    g.signal('SIGTERM');
    await goaway;
    await ended;
    expect(body).toMatch(/^slow done \d+/);
    expect((await g.exited).code).toBe(0);
    session.destroy();
  });
});

describe.skipIf(NO_OPENSSL)('HTTP/2 idle sessions', () => {
  it('closes a session idle for --keep-alive, but not one whose stream waits on a slow app', async () => {
    const certs = testCerts();
    const g = await startGserve([...tlsArgs(), '--http2', '--keep-alive', '1', app('node-pid')]);
    const session = http2Connect(`https://localhost:${g.port}`, { ca: readFileSync(certs.cert) });
    session.on('error', () => {});
    const events: string[] = [];
    const closed = new Promise<void>((resolve) => session.on('close', () => resolve()));
    session.on('goaway', () => events.push('goaway'));
    // The app stays silent for longer than --keep-alive: the stream must still complete.
    const stream = session.request({ ':path': '/slow?ms=2500' });
    let body = '';
    stream.setEncoding('utf8').on('data', (c) => (body += c));
    stream.on('end', () => events.push('response'));
    await closed;
    expect(body).toMatch(/^slow done \d+/);
    expect(events).toEqual(['response', 'goaway']);
  });
});
