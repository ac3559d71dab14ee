import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { connect as http2Connect } from 'node:http2';
import { testCerts, tlsArgs } from '../helpers/certs.js';
import { missing } from '../helpers/needs.js';
import { BIN, FIXTURES, runGserve, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { linesOf, waitForFile } from '../helpers/files.js';
import { pollUntil } from '../helpers/poll.js';
import { get } from '../helpers/http.js';
import { rawExchange } from '../helpers/raw.js';

const readText = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
const app = (name: string) => join(FIXTURES, 'apps', name);
const ALL_ATOMS = 'h l u t r m U q H s B b f a T M D L p {x-in}i {x-out}o {GSERVE_TEST_VAR}e'.split(' ');
const EVERY_ATOM_FORMAT = ALL_ATOMS.map((a) => `%(${a})s`).join('|');

/** Splits a line written with EVERY_ATOM_FORMAT into atom -> value. */
function atomsOf(line: string): Record<string, string> {
  const values = line.split('|');
  expect(values).toHaveLength(ALL_ATOMS.length);
  return Object.fromEntries(ALL_ATOMS.map((a, i) => [a, values[i]!]));
}

describe('access log', () => {
  it('fills every Gunicorn atom, on the node:http path', async () => {
    const g = await startGserve([
      '--access-logfile',
      '-',
      '--no-access-log-json',
      '--access-logformat',
      EVERY_ATOM_FORMAT,
      '-e',
      'GSERVE_TEST_VAR=from-env',
      app('observe') + ':app',
    ]);
    const auth = 'Basic ' + Buffer.from('alice:secret').toString('base64');
    const r = await get(g.url + '/a/b?x=1&y=2', {
      headers: {
        authorization: auth,
        referer: 'http://ref.example/',
        'user-agent': 'atom-test/1.0',
        'x-in': 'in-value',
      },
    });
    expect(r.body).toBe('hello body\n');
    await get(g.url + '/missing');
    await get(g.url + '/', { method: 'HEAD' });
    await g.until(() => linesOf(g.stdout).length >= 3, 'three access log lines');
    const [first, missing, head] = linesOf(g.stdout).map(atomsOf);
    const [worker] = [...g.workerPids];
    expect(first).toMatchObject({
      h: '127.0.0.1',
      l: '-',
      u: 'alice',
      r: 'GET /a/b?x=1&y=2 HTTP/1.1',
      m: 'GET',
      U: '/a/b',
      q: 'x=1&y=2',
      H: 'HTTP/1.1',
      s: '200',
      B: '11',
      b: '11',
      f: 'http://ref.example/',
      a: 'atom-test/1.0',
      p: `<${worker}>`,
      '{x-in}i': 'in-value',
      '{x-out}o': 'out-value',
      '{GSERVE_TEST_VAR}e': 'from-env',
    });
    expect(first!.t).toMatch(/^\[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]$/);
    // The four durations are one measurement in four units.
    for (const atom of ['T', 'M', 'D']) expect(first![atom]).toMatch(/^\d+$/);
    expect(first!.L).toMatch(/^\d+\.\d{6}$/);
    expect(Math.floor(Number(first!.D) / 1000)).toBe(Number(first!.M));
    expect(Math.floor(Number(first!.M) / 1000)).toBe(Number(first!.T));
    // L has six decimals, so it may round D's last microsecond either way; compared in whole
    // microseconds, since L × 1e6 in floating point can land a hair past 1 (1.0000000000009).
    expect(Math.abs(Math.round(Number(first!.L) * 1e6) - Number(first!.D))).toBeLessThanOrEqual(1);
    // Absent values are "-" (an empty query stays empty, like in Gunicorn).
    expect(missing).toMatchObject({
      s: '404',
      u: '-',
      f: '-',
      a: '-',
      q: '',
      U: '/missing',
      '{x-in}i': '-',
      '{x-out}o': '-',
    });
    expect(head).toMatchObject({ m: 'HEAD', s: '200', B: '0', b: '-' });
  });

  it("fills the atoms on gserve's own engine (a fetch app), and uses Gunicorn's format by default", async () => {
    const dir = tempDir();
    const custom = join(dir, 'custom.log');
    const g = await startGserve([
      '--access-logfile',
      custom,
      '--access-logformat',
      EVERY_ATOM_FORMAT,
      app('fetch-echo'),
    ]);
    const r = await get(g.url + '/p?q=1', {
      method: 'POST',
      body: 'abc',
      headers: { 'x-in': 'engine-in', 'user-agent': 'ua' },
    });
    const line = atomsOf(linesOf(await waitForFile(custom, (t) => linesOf(t).length >= 1, 'an access line'))[0]!);
    expect(line).toMatchObject({
      h: '127.0.0.1',
      r: 'POST /p?q=1 HTTP/1.1',
      U: '/p',
      q: 'q=1',
      s: '200',
      B: String(Buffer.byteLength(r.body)),
      a: 'ua',
      '{x-in}i': 'engine-in',
      '{x-out}o': '-',
    });
    expect(line.p).toBe(`<${r.headers['x-worker-pid']}>`);

    const plain = await startGserve(['--access-logfile', '-', '--no-access-log-json', app('observe') + ':app']);
    await get(plain.url + '/x', { headers: { 'user-agent': 'curl/8' } });
    await plain.until(() => linesOf(plain.stdout).length >= 1, 'an access line');
    expect(linesOf(plain.stdout)[0]).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/x HTTP\/1\.1" 200 11 "-" "curl\/8"$/);
  });

  it('escapes the control characters of a value the client chose: a Basic user name cannot forge a line', async () => {
    const g = await startGserve(['--access-logfile', '-', '--no-access-log-json', app('observe') + ':app']);
    const user = 'bob\n10.6.6.6 - root "GET /admin HTTP/1.1" 200\u001b[2J'; // no colon: it would end the name
    const auth = 'Basic ' + Buffer.from(`${user}:pw`).toString('base64');
    await get(g.url + '/x', { headers: { authorization: auth, 'user-agent': 'ua' } });
    await get(g.url + '/after');
    await g.until(() => linesOf(g.stdout).length >= 2, 'two access lines');
    const lines = linesOf(g.stdout);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^127\.0\.0\.1 - bob\\x0a10\.6\.6\.6 - root "GET \/admin HTTP\/1\.1" 200\\x1b\[2J \[[^\]]+\] "GET \/x /,
    );
    expect(g.stdout).not.toContain('\u001b');
  });

  it('--access-log-json writes one JSON object per request', async () => {
    const g = await startGserve(['--access-logfile', '-', '--access-log-json', app('observe') + ':app']);
    await get(g.url + '/j?k=v', { headers: { 'user-agent': 'json-test', 'x-request-id': 'client-id-7' } });
    await get(g.url + '/missing');
    // 127.0.0.1 is a trusted proxy by default (--forwarded-allow-ips): the client it names is logged.
    await get(g.url + '/proxied', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    await g.until(() => linesOf(g.stdout).length >= 3, 'three JSON access lines');
    const [one, two, proxied] = linesOf(g.stdout).map((l) => JSON.parse(l));
    expect(proxied).toMatchObject({ path: '/proxied', remote: '203.0.113.9' });
    const [worker] = [...g.workerPids];
    expect(one).toMatchObject({
      method: 'GET',
      path: '/j',
      query: 'k=v',
      status: 200,
      bytes: 11,
      remote: '127.0.0.1',
      userAgent: 'json-test',
      pid: worker,
      requestId: 'client-id-7',
    });
    expect(typeof one.duration).toBe('number');
    expect(one.duration).toBeGreaterThanOrEqual(0);
    expect(Date.parse(one.time)).not.toBeNaN();
    expect(two).toMatchObject({ path: '/missing', status: 404, pid: worker });
    expect(two.requestId).toMatch(new RegExp(`^${worker}-\\d+$`));
  });

  it('counts the body bytes of each response on a keep-alive connection, chunked ones included', async () => {
    // Without a Content-Length, a response's size is what went on the wire after its head: the
    // socket's write count at its end minus the count at its start, which the one before it moved.
    const dir = tempDir();
    const appFile = join(dir, 'chunked.js');
    writeFileSync(appFile, "export function app(req, res) { res.write('abc'); res.end('defg'); }\n");
    const g = await startGserve(['--access-logfile', '-', '--access-log-json', appFile + ':app']);
    const socket = connect(g.port, '127.0.0.1');
    socket.on('error', () => {});
    let wire = '';
    socket.setEncoding('latin1').on('data', (c: string) => (wire += c));
    const request = 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n';
    const answers = () => wire.split(/HTTP\/1\.1 200/).length - 1;
    socket.write(request);
    await pollUntil(() => answers() === 1 && wire.endsWith('0\r\n\r\n'), 'the first answer');
    socket.write(request);
    await pollUntil(() => answers() === 2 && wire.endsWith('0\r\n\r\n'), 'the second answer');
    socket.destroy();
    // Each answer's chunked body as sent (node frames `abc` and `defg` as one chunk or two, by version).
    const bodies = wire.split(/(?=HTTP\/1\.1 200)/).map((answer) => answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(bodies).toHaveLength(2);
    for (const body of bodies) {
      expect(body).toMatch(/^(?:[0-9a-f]+\r\n[a-g]+\r\n)+0\r\n\r\n$/);
      expect(body.replace(/[0-9a-f]+\r\n([a-g]*)\r\n/g, '$1')).toBe('abcdefg');
    }
    await g.until(() => linesOf(g.stdout).length >= 2, 'two access lines');
    const bytes = linesOf(g.stdout).map((l) => JSON.parse(l).bytes);
    expect(bytes).toEqual(bodies.map((body) => body.length));
  });

  it('counts the body bytes of each of two pipelined chunked responses, not those of the answer before it', async () => {
    const dir = tempDir();
    const appFile = join(dir, 'chunked.js');
    writeFileSync(
      appFile,
      "export function app(req, res) { res.write('abc'); setImmediate(() => res.end('defg')); }\n",
    );
    const g = await startGserve(['--access-logfile', '-', '--access-log-json', appFile + ':app']);
    const request = 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n';
    const wire = await rawExchange(g.port, request + request.replace('Host: x', 'Host: x\r\nConnection: close'));
    const bodies = wire.split(/(?=HTTP\/1\.1 200)/).map((answer) => answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(bodies).toHaveLength(2);
    await g.until(() => linesOf(g.stdout).length >= 2, 'two access lines');
    const bytes = linesOf(g.stdout).map((l) => JSON.parse(l).bytes);
    expect(bytes).toEqual(bodies.map((body) => body.length));
  });

  const CUT_APPS = {
    node: 'export function app(req, res) { res.write("partial"); setTimeout(() => res.end("rest"), 60_000).unref(); }\n',
    fetch:
      'export default { fetch() { return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("partial")); } })); } };\n',
  };
  it.each([
    ['node', 'async'],
    ['fetch', 'async'],
    // The thread class logs from the app thread, which hears of the cut from the main thread.
    ['node', 'thread'],
    ['fetch', 'thread'],
  ] as const)('logs a %s response the client cut short (-k %s), with its remote address', async (kind, workerClass) => {
    const dir = tempDir();
    const appFile = join(dir, 'cut.mjs');
    writeFileSync(appFile, CUT_APPS[kind]);
    const g = await startGserve(['-k', workerClass, '--access-logfile', '-', '--access-log-json', appFile]);
    const socket = connect(g.port, '127.0.0.1', () => socket.write('GET /cut HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => {});
    // The first bytes of the body arrive; the client leaves before the rest.
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.destroy();
    await g.until(() => linesOf(g.stdout).length >= 1, 'the access line of the cut response');
    const line = JSON.parse(linesOf(g.stdout)[0]!);
    expect(line).toMatchObject({ method: 'GET', path: '/cut', status: 200, remote: '127.0.0.1' });
    expect(line.msg).toMatch(/^127\.0\.0\.1 - - \[/);
  });

  it('USR1 reopens the access log and the error log after they are renamed', async () => {
    const dir = tempDir();
    const [access, errors] = [join(dir, 'access.log'), join(dir, 'error.log')];
    const g = await startGserve(['--access-logfile', access, '--error-logfile', errors, app('observe') + ':app'], {
      workers: 0,
    });
    await waitForFile(errors, (t) => t.includes('Worker ready'), 'the worker to be ready');
    const port = Number(
      /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(
        await waitForFile(errors, (t) => t.includes('Listening at'), 'the listener'),
      )![1],
    );
    await get(`http://127.0.0.1:${port}/before`);
    await waitForFile(access, (t) => t.includes('/before'), 'the first access line');
    renameSync(access, access + '.1');
    renameSync(errors, errors + '.1');
    g.signal('SIGUSR1');
    // The master writes a line once it has reopened its own file and told the workers.
    await waitForFile(errors, (t) => /Reopen/i.test(t), 'the master to reopen the error log');
    await pollUntil(async () => {
      await get(`http://127.0.0.1:${port}/after`);
      return /\/after/.test(readText(access));
    }, 'an access line in the new file');
    expect(readText(access + '.1')).toMatch(/\/before/);
    expect(readText(access + '.1')).not.toMatch(/\/after/);
    expect(readText(errors + '.1')).toMatch(/Worker ready/);
  });
});

/** One request to a server on a Unix socket (these tests use no TCP port), its body read to the end. */
function getUnix(socketPath: string, path: string, method = 'GET', headers: Record<string, string> = {}) {
  return new Promise<string>((resolve, reject) => {
    const req = request({ socketPath, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => resolve(body)).on('error', reject);
    });
    req.on('error', reject).end();
  });
}

describe('access log format conversions and log files refused', () => {
  it("writes %(T)d, widths, %(a)r and %% as Gunicorn's Python % does", async () => {
    const sock = join(tempDir(), 'g.sock');
    const g = await startGserve([
      '-b',
      `unix:${sock}`,
      '--access-logfile',
      '-',
      '--no-access-log-json',
      '--access-logformat',
      '%(T)d|%(M)05d|[%(s)5s]|%(b)d|%(B)d|%(a)r|%({user-agent}i).4s|%(m)-4s|100%%|%(zz)s',
      app('observe') + ':app',
    ]);
    expect(await getUnix(sock, '/a', 'GET', { 'user-agent': 'atom-test/1.0' })).toBe('hello body\n');
    await getUnix(sock, '/', 'HEAD', { 'user-agent': "it's" });
    await g.until(() => linesOf(g.stdout).length >= 2, 'two access log lines');
    const [first, head] = linesOf(g.stdout);
    expect(first).toMatch(/^\d+\|\d{5}\|\[ {2}200\]\|11\|11\|'atom-test\/1\.0'\|atom\|GET \|100%\|-$/);
    // No body: `b` is `-`, which `d` writes as it is (Python would raise, and Gunicorn drop the line).
    expect(head).toMatch(/^\d+\|\d{5}\|\[ {2}200\]\|-\|0\|"it's"\|it's\|HEAD\|100%\|-$/);
  });

  it('refuses at start a conversion it cannot honour, in one line naming the atom and the fix', async () => {
    const sock = join(tempDir(), 'g.sock');
    for (const [format, said] of [
      ['%(h)s %(T)x', '%(T)x: gserve formats atoms with s, r, d or i only, not x; write %(T)s or %(T)d.'],
      ['%(h)d %(s)s', '%(h)d: the h atom is text, not a number; write %(h)s.'],
    ] as const) {
      const r = await runGserve(['-b', `unix:${sock}`, '--access-logformat', format, app('observe') + ':app']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'gserve: error: Invalid value for setting "accessLogformat" from command line --access-logformat: ' +
          `${said} [GSERVE_E_SETTING]\n`,
      );
    }
  });

  it('a folder given as --access-logfile: says it is a folder and to name a file inside it', async () => {
    const dir = tempDir();
    const r = await runGserve(['-b', `unix:${join(dir, 'g.sock')}`, '--access-logfile', dir, app('observe') + ':app']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `gserve: error: Cannot open --access-logfile ${dir}: EISDIR, it is a folder. Give the path of a file inside ` +
        `it, e.g. ${dir}/access.log ('-' for the standard stream). [GSERVE_E_LOGFILE]\n`,
    );
  });

  it('a log file that became a folder is said as such at USR1, with what to do before the next USR1', async () => {
    const dir = tempDir();
    const [sock, access] = [join(dir, 'g.sock'), join(dir, 'access.log')];
    const g = await startGserve(['-b', `unix:${sock}`, '--access-logfile', access, app('observe') + ':app']);
    await getUnix(sock, '/before');
    await waitForFile(access, (t) => t.includes('/before'), 'the first access line');
    renameSync(access, `${access}.1`);
    mkdirSync(access);
    g.signal('SIGUSR1');
    await g.until(() => g.stderr.includes('cannot write the log file'), "the worker's notice");
    expect(g.stderr).toContain(
      `gserve: cannot write the log file ${access} (EISDIR, it is a folder); its lines are dropped until it can ` +
        'be written again: move the folder away, then send USR1 to reopen it\n',
    );
    expect(await getUnix(sock, '/after')).toBe('hello body\n'); // the server goes on without its log
  });
});

describe('access log over TLS and HTTP/2', () => {
  it.skipIf(missing('openssl'))('logs HTTP/2 requests like HTTP/1.1 ones', async () => {
    const certs = testCerts();
    const g = await startGserve([
      ...tlsArgs(),
      '--http2',
      '--access-logfile',
      '-',
      '--no-access-log-json',
      '--access-logformat',
      '%(r)s %(s)s %(B)s %({x-out}o)s',
      app('observe') + ':app',
    ]);
    const body = await new Promise<string>((resolve, reject) => {
      const session = http2Connect(`https://localhost:${g.port}`, { ca: readFileSync(certs.cert) });
      session.on('error', reject);
      const stream = session.request({ ':path': '/h2?x=1' });
      let text = '';
      stream.setEncoding('utf8').on('data', (c) => (text += c));
      stream.on('end', () => {
        session.close();
        resolve(text);
      });
      stream.on('error', reject);
      stream.end();
    });
    expect(body).toBe('hello body\n');
    await g.until(() => linesOf(g.stdout).length >= 1, 'an access line');
    expect(linesOf(g.stdout)[0]).toBe('GET /h2?x=1 HTTP/2.0 200 11 out-value');
  });
});

describe('error log', () => {
  it('--capture-output turns what workers print into log events, one per line, with the worker pid', async () => {
    const g = await startGserve(['--capture-output', app('observe') + ':app']);
    const [worker] = [...g.workerPids];
    expect((await get(g.url + '/print')).body).toBe('printed\n');
    const captured = (text: string) => g.lines.find((l) => l.msg === text);
    await g.until(() => captured('second error line'), 'the captured stderr lines');
    await g.until(() => captured('stdout part one, part two'), 'the captured stdout lines');
    expect(captured('console.log line')).toMatchObject({ pid: worker, stream: 'stdout', level: 30 });
    expect(captured('stdout part one, part two')).toMatchObject({ pid: worker, stream: 'stdout' });
    expect(captured('first error line')).toMatchObject({ pid: worker, stream: 'stderr', level: 40 });
    expect(captured('second error line')).toMatchObject({ pid: worker, stream: 'stderr' });
    // The worker's own log lines pass through untouched (not wrapped in captured text).
    g.signal('SIGTERM');
    const [exiting] = await g.waitForLog(/^Worker exiting/);
    expect(exiting).toMatchObject({ pid: worker });
    expect(exiting!.stream).toBeUndefined();
  });

  it.skipIf(missing('script (a pseudo-terminal)'))(
    'is readable in a terminal, and JSON there with --log-json',
    async () => {
      const dir = tempDir();
      for (const [flags, expected] of [
        ['', /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000\] \[\d+\] \[INFO\] Booting worker with pid: \d+/m],
        ['--log-json', /^\{"level":30,"time":\d+,"pid":\d+,"msg":"Booting worker with pid: \d+"\}/m],
      ] as const) {
        const out = join(dir, `tty${flags}.txt`);
        const command = `${process.execPath} ${BIN} -b 127.0.0.1:0 --control-socket off ${flags} ${app('observe')}:app`;
        const child = spawn('script', ['-qfec', command, out], { stdio: 'ignore' });
        try {
          const text = await waitForFile(out, (t) => /Booting worker/.test(t), 'the boot lines');
          expect(text.replace(/\r/g, '')).toMatch(expected);
        } finally {
          const master = /\[(\d+)\] \[INFO\] Starting gserve|"pid":(\d+),"msg":"Starting gserve/.exec(readText(out));
          if (master) process.kill(Number(master[1] ?? master[2]), 'SIGTERM');
          child.kill('SIGKILL');
          if (master) await waitForExit(Number(master[1] ?? master[2]));
        }
      }
    },
  );
});
