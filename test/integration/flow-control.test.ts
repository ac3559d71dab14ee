import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { waitForEvent } from '../helpers/events.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

/**
 * Worker memory is bounded by a window whatever the client does (issue 14): a body sent in
 * 1-byte chunks, a large upload to an app that reads slowly, a client that reads the response
 * slowly. Each is measured on the worker process itself (its app threads included): the growth of
 * its peak RSS (VmHWM, reset before each case) over its RSS before the case.
 *
 * The bound is far below what buffering would cost: -k thread used to take 10 GB for 1 MiB sent in
 * 1-byte chunks, and held a whole upload (or a whole response) in memory.
 */
const FLOW = join(FIXTURES, 'classes', 'flow.js');
const MiB = 1 << 20;
/**
 * Growth of the worker's peak RSS allowed per case. What is alive is bounded by the windows; the rest
 * is garbage not yet collected: V8 collects once external memory (the Buffers that carried the
 * bytes) has grown by about 64 MiB, and a thread worker has two heaps, its main thread's and an app
 * thread's.
 */
const BOUND = 128 * MiB;
/**
 * The 1-byte-chunk case makes a million small objects for 1 MiB: its garbage outlives a starved
 * CPU's collections (fetch on Node 24 peaked at +148 MiB at load average 20). What it guards against
 * grew by gigabytes (-k thread: 10 GB), so a looser bound still tells the two apart.
 */
const SMALL_CHUNKS_BOUND = 256 * MiB;
/** Sizes: far above the bound where it matters, so buffering would show. */
const ONE_BYTE_CHUNKS = 1 * MiB;
const UPLOAD = 192 * MiB;
const DOWNLOAD_MIB = 192;

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Writes `chunks` in order, waiting for 'drain' whenever the socket says so (the server holds us back). */
async function writeAll(socket: Socket, chunks: Iterable<Buffer>): Promise<void> {
  for (const chunk of chunks) {
    if (!socket.write(chunk))
      await new Promise<void>((resolve, reject) => {
        const closed = () => reject(new Error('the server closed the connection while the body was being sent'));
        socket.once('close', closed);
        socket.once('drain', () => {
          socket.off('close', closed);
          resolve();
        });
      });
  }
}

/** One request on its own connection (Connection: close); resolves with the response's status and body. */
function exchange(
  port: number,
  head: string,
  body: (socket: Socket) => Promise<void>,
  read?: (socket: Socket, data: Buffer) => void,
): Promise<{ status: number; body: Buffer; bodyBytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let total = 0;
    let headEnd = -1;
    let headText = '';
    socket.on('data', (data: Buffer) => {
      total += data.length;
      if (headEnd < 0) {
        parts.push(data);
        const all = Buffer.concat(parts);
        headEnd = all.indexOf('\r\n\r\n');
        if (headEnd >= 0) headText = all.subarray(0, headEnd).toString('latin1');
      } else if (parts.length < 4) parts.push(data);
      read?.(socket, data);
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(parts);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headText)?.[1] ?? 0),
        body: all.subarray(headEnd + 4),
        bodyBytes: total - headEnd - 4,
      });
    });
    socket.write(head);
    body(socket).catch(reject);
  });
}

function* oneByteChunks(count: number): Generator<Buffer> {
  // Many 1-byte chunks per write: the parser still hands the body over one byte at a time.
  const piece = Buffer.from('1\r\nx\r\n'.repeat(4096), 'latin1');
  for (let sent = 0; sent < count; sent += 4096) yield piece;
  yield Buffer.from('0\r\n\r\n', 'latin1');
}

function* blocks(total: number): Generator<Buffer> {
  const block = Buffer.alloc(64 * 1024, 121);
  for (let sent = 0; sent < total; sent += block.length) yield block;
}

const cases: Array<[string, string[]]> = [
  ['async', ['-k', 'async', `${FLOW}:app`]],
  ['async, fetch', ['-k', 'async', `${FLOW}:fetchApp`]],
  ['sync', ['-k', 'sync', `${FLOW}:app`]],
  ['sync, fetch', ['-k', 'sync', `${FLOW}:fetchApp`]],
  ['thread', ['-k', 'thread', '--threads', '2', `${FLOW}:app`]],
  ['thread, fetch', ['-k', 'thread', '--threads', '2', `${FLOW}:fetchApp`]],
];

describe('worker memory stays bounded by a window, whatever the client does', () => {
  it.each(cases)(
    '-k %s: 1-byte chunks, a large upload to a slow-reading app, a slow-reading client',
    async (_name, args) => {
      const g = await startGserve(['-w', '1', ...args]);
      const pid = [...g.workerPids][0]!;

      // A body sent in 1-byte chunks (chunked framing).
      let answer = await measured(pid, 'POST /count, 1-byte chunks', SMALL_CHUNKS_BOUND, () =>
        exchange(
          g.port,
          'POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
          (s) => writeAll(s, oneByteChunks(ONE_BYTE_CHUNKS)),
        ),
      );
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe(String(ONE_BYTE_CHUNKS));

      // A large upload to an app that reads slowly: the client is held back, not buffered.
      answer = await measured(pid, 'POST /slow-count, a large upload', BOUND, () =>
        exchange(
          g.port,
          `POST /slow-count HTTP/1.1\r\nHost: x\r\nContent-Length: ${UPLOAD}\r\nConnection: close\r\n\r\n`,
          (s) => writeAll(s, blocks(UPLOAD)),
        ),
      );
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe(String(UPLOAD));

      // A client that reads a large response slowly (a timer turn after each read): the app is held back, not buffered.
      const slowly = (socket: Socket) => {
        socket.pause();
        setTimeout(() => socket.resume(), 1);
      };
      answer = await measured(pid, 'GET /stream, a slow reader', BOUND, () =>
        exchange(
          g.port,
          `GET /stream?mb=${DOWNLOAD_MIB} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
          async () => {},
          slowly,
        ),
      );
      expect(answer.status).toBe(200);
      expect(answer.bodyBytes).toBe(DOWNLOAD_MIB * MiB);
    },
    240_000,
  );
});

/**
 * GETs `paths` on one keep-alive connection, all at once, and reads nothing for `pauseMs` (the
 * fault: a client that does not read its answers); then reads until the server closes the idle
 * connection. Counts the answers' heads (their bodies are all 'x') and every byte.
 */
function readLater(port: number, paths: string[], pauseMs: number): Promise<{ heads: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    let heads = 0;
    let bytes = 0;
    let tail = '';
    socket.on('data', (data: Buffer) => {
      bytes += data.length;
      const text = tail + data.toString('latin1');
      heads += text.split('\r\n\r\n').length - 1;
      tail = text.slice(-3);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ heads, bytes }));
    socket.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    setTimeout(() => socket.resume(), pauseMs);
  });
}

describe('a client that does not read its answers is held back, and still gets all of them', () => {
  // -k sync answers one request per connection: there is nothing pipelined to hold back.
  it.each(cases.filter(([name]) => !name.startsWith('sync')))(
    '-k %s: 150 pipelined 1 MiB answers unread for 2 s; a 16 MiB one unread for longer than --keep-alive',
    async (name, args) => {
      const g = await startGserve(['-w', '1', '--keep-alive', '1', '--max-keepalive-requests', '0', ...args]);
      const pid = [...g.workerPids][0]!;
      // Each answer waits for the one before it to be taken, not in the worker's memory all at once.
      // A (req, res) app on -k thread is held back the same way (its RSS stays flat while the client
      // does not read), but each answer is made in an app thread's heap and copied to the main
      // thread's: about 120 MiB of garbage at full speed, which three heaps collect lazily.
      const bound = name === 'thread' ? 2 * BOUND : BOUND;
      const pipelined = await measured(pid, 'GET /blob x 150, pipelined, unread for 2 s', bound, () =>
        readLater(
          g.port,
          Array.from({ length: 150 }, () => '/blob?kb=1024'),
          2000,
        ),
      );
      expect(pipelined.heads).toBe(150);
      expect(pipelined.bytes).toBeGreaterThan(150 * MiB);
      // Unread bytes are not idleness: the keep-alive time does not cut the answer short.
      const large = await readLater(g.port, ['/blob?kb=16384'], 3000);
      expect(large.heads).toBe(1);
      expect(large.bytes).toBeGreaterThan(16 * MiB);
    },
    120_000,
  );
});

/** Runs one case; fails it if the worker's peak RSS rose more than `bound` above its RSS before it. */
async function measured<T>(pid: number, what: string, bound: number, run: () => Promise<T>): Promise<T> {
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
  const before = memory(pid).rss;
  const result = await run();
  const growth = memory(pid).hwm - before;
  console.log(`${what}: peak RSS +${(growth / MiB).toFixed(1)} MiB`);
  expect(growth, `${what}: growth of the worker's peak RSS`).toBeLessThan(bound);
  return result;
}

/** `size` bytes, in 64 KiB blocks and the rest. */
function* exactly(size: number): Generator<Buffer> {
  const block = Buffer.alloc(64 * 1024, 122);
  let left = size;
  for (; left >= block.length; left -= block.length) yield block;
  if (left > 0) yield block.subarray(0, left);
}

describe('-k thread: an app that pauses between reads of a body larger than the window gets all of it', () => {
  const SLOW = join(FIXTURES, 'classes', 'slow-reader.js');
  it.each([
    ['asgi', ['--interface', 'asgi', '--lifespan', 'off', `${SLOW}:asgi`]],
    ['wsgi', ['--interface', 'wsgi', `${SLOW}:wsgi`]],
  ])(
    '%s',
    async (_name, args) => {
      const g = await startGserve(['-k', 'thread', '--threads', '2', ...args]);
      for (let i = 0; i < 3; i++) {
        const size = 5 * MiB + i;
        const r = await exchange(
          g.port,
          `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
          (socket) => writeAll(socket, exactly(size)),
        );
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe(String(size));
      }
    },
    120_000,
  );
});

describe('an answer that leaves a large body unread: the body is dropped and the next request on the connection is served', () => {
  it.each([
    ...cases.filter(([name]) => !name.startsWith('sync')),
    ['async, asgi', ['-k', 'async', '--interface', 'asgi', '--lifespan', 'off', `${FLOW}:asgiApp`]],
    ['thread, asgi', ['-k', 'thread', '--interface', 'asgi', '--lifespan', 'off', `${FLOW}:asgiApp`]],
  ])(
    '-k %s',
    async (_name, args) => {
      const g = await startGserve(['-w', '1', ...args]);
      // Far past every window and socket buffer: reading paused for the body, and never resumed
      // after the answer, held this upload, and the GET behind it, for ever.
      const size = 16 * MiB;
      const socket = connect(g.port, '127.0.0.1');
      let received = '';
      const answers = (n: number) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (received.split('HTTP/1.1 200 ').length - 1 >= n) resolve();
          };
          socket.on('data', (data: Buffer) => {
            received += data.toString('latin1');
            check();
          });
          socket.once('close', () => reject(new Error(`closed after: ${JSON.stringify(received)}`)));
          check();
        });
      // The head and a first part of the body; the rest once the answer is in, so that the body comes
      // after the answer, whatever the timing.
      const part = 64 * 1024;
      socket.write(`POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(part, 120));
      await answers(1);
      await writeAll(socket, exactly(size - part));
      expect(received).toContain('ignored');
      expect(received).not.toMatch(/connection: close/i);
      socket.write('GET /ignore HTTP/1.1\r\nHost: x\r\n\r\n');
      await answers(2);
      socket.destroy();
      // node's own keep-alive Agent, as a client app posts: one write of head and body, whose end comes
      // in after the answer. The GET after it, on the same socket, was cut at --keep-alive unread.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          const post = await agentRequest(agent, g.port, Buffer.alloc(5 * MiB, 120));
          const next = await agentRequest(agent, g.port);
          expect([post.status, next.status]).toEqual([200, 200]);
          expect(next.localPort).toBe(post.localPort);
        }
      } finally {
        agent.destroy();
      }
    },
    120_000,
  );
});

describe('-k thread: a node app still reading the body when its answer ends', () => {
  it('sees its request end as aborted (node:http would end it so when the client left), not hang', async () => {
    const dir = tempDir();
    const events = join(dir, 'events.log');
    writeFileSync(
      join(dir, 'app.cjs'),
      'const { appendFileSync } = require("node:fs");\n' +
        `const note = (line) => appendFileSync(${JSON.stringify(events)}, line + "\\n");\n` +
        'module.exports = (req, res) => {\n' +
        '  if (req.url !== "/up") return res.end("plain");\n' +
        '  req.once("data", () => { res.writeHead(202, { "content-length": "8" }); res.end("accepted"); });\n' +
        '  req.on("aborted", () => note("aborted"));\n' +
        '  req.on("close", () => note("close"));\n' +
        '};\n',
    );
    const g = await startGserve(['-w', '1', '-k', 'thread', 'app.cjs'], { cwd: dir });
    const size = 16 * MiB;
    const socket = connect(g.port, '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    const accepted = new Promise<void>((resolve) =>
      socket.on('data', (data: Buffer) => {
        received += data.toString('latin1');
        if (received.includes('accepted')) resolve();
      }),
    );
    socket.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    socket.write(Buffer.alloc(64 * 1024, 120));
    await accepted;
    // The rest of the body is dropped on its way: the app's request could never end on its own.
    await writeAll(socket, exactly(size - 64 * 1024));
    await pollUntil(
      () => existsSync(events) && readFileSync(events, 'utf8').split('\n').includes('close'),
      () => `the request's close (events: ${existsSync(events) ? readFileSync(events, 'utf8') : 'none'})`,
    );
    expect(readFileSync(events, 'utf8')).toContain('aborted');
    socket.destroy();
  }, 120_000);
});

describe('a client that resets its upload while gserve holds the body back: its request is aborted', () => {
  const ABANDONED = join(FIXTURES, 'apps', 'abandoned-upload.js');
  it.each([
    // The app ignores the disconnect and never answers: the worker's one app thread is free all the same.
    ['thread, node', ['-k', 'thread', '--threads', '1', `${ABANDONED}:app`], 'aborted'],
    ['thread, fetch', ['-k', 'thread', '--threads', '1', `${ABANDONED}:fetchApp`], 'signal'],
    ['async, fetch', ['-k', 'async', `${ABANDONED}:fetchApp`], 'signal'],
  ])(
    '-k %s',
    async (_name, args, heard) => {
      const events = join(tempDir(), 'events.log');
      const g = await startGserve(['-w', '1', ...args], { env: { EVENTS_FILE: events } });
      const socket = connect(g.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * MiB}\r\n\r\n`);
      // Far past the window and the socket buffers, one block at a time (each once the kernel took the
      // last, so that `taken` tells when gserve stops reading): the app reads none of it.
      const block = Buffer.alloc(64 * 1024, 120);
      let taken = 0;
      const more = (err?: Error | null) => {
        if (err || taken >= 32 * MiB) return;
        socket.write(block, (e) => {
          taken += block.length;
          more(e);
        });
      };
      more();
      await waitForEvent(events, 'started');
      // Reset once gserve has stopped reading, not while the first window still moves: a paused socket
      // never heard it, and the request (and the app thread it held) waited for ever.
      let last = -1;
      let still = 0;
      await pollUntil(() => {
        still = taken > 0 && taken === last ? still + 1 : 0;
        last = taken;
        return still >= 2;
      }, 'the upload to stall');
      socket.resetAndDestroy();
      await waitForEvent(events, heard);
      expect((await get(`${g.url}/ok`)).body).toBe('ok');
    },
    60_000,
  );
});

describe('a client that leaves an endless answer: the worker serves on', () => {
  const ENDLESS = join(FIXTURES, 'apps', 'endless.js');
  it.each([
    ['async, fetch', ['-k', 'async', `${ENDLESS}:fetchApp`]],
    ['async, wsgi', ['-k', 'async', '--interface', 'wsgi', `${ENDLESS}:wsgi`]],
    ['sync, wsgi', ['-k', 'sync', '--interface', 'wsgi', `${ENDLESS}:wsgi`]],
    ['thread, wsgi', ['-k', 'thread', '--interface', 'wsgi', `${ENDLESS}:wsgi`]],
  ])(
    '-k %s',
    async (_name, args) => {
      const g = await startGserve(['-w', '1', ...args]);
      // Writes to a socket whose client left fail at once, and the socket is destroyed a tick later:
      // the app's loop, taking every write as done, never let that tick come, and the worker served
      // nothing more until the master killed it at --timeout.
      await new Promise<void>((resolve) => {
        const req = request(`${g.url}/endless`, { agent: false }, (res) => res.once('data', () => req.destroy()));
        req.on('error', () => {});
        req.on('close', resolve);
        req.end();
      });
      for (let i = 0; i < 3; i++) expect((await get(`${g.url}/ok`)).body).toBe('ok');
      expect(g.lines.some((l) => /WORKER TIMEOUT/.test(l.msg))).toBe(false);
    },
    120_000,
  );
});

/** POST /ignore with `body` (else GET /ignore) through `agent`; its status and the socket's local port. */
function agentRequest(agent: Agent, port: number, body?: Buffer): Promise<{ status: number; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/ignore',
        method: body ? 'POST' : 'GET',
        agent,
        headers: body ? { 'content-length': body.length } : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, localPort: req.socket!.localPort! }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * GETs `path` (Connection: close). `stall`: reads 1 MiB, then nothing until resume(); otherwise
 * reads in bursts of 50 ms with 300 ms pauses. `done` resolves with the bytes read once the server
 * closed the connection.
 */
function download(port: number, path: string, stall: boolean) {
  const socket = connect(port, '127.0.0.1');
  let bytes = 0;
  let reading = true;
  const done = new Promise<number>((resolve, reject) => {
    socket.on('data', (data: Buffer) => {
      bytes += data.length;
      if (stall && reading && bytes >= MiB) {
        reading = false;
        socket.pause();
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => resolve(bytes));
  });
  if (!stall) {
    const burst = () => {
      if (socket.destroyed) return;
      socket.resume();
      setTimeout(() => {
        socket.pause();
        setTimeout(burst, 300);
      }, 50);
    };
    burst();
  }
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return { done, resume: () => socket.resume() };
}

describe('--send-timeout on the engine: a client that stops taking an answer is cut; one that pauses shorter is served', () => {
  it.each(cases.filter(([name]) => name.endsWith('fetch') || name === 'thread'))(
    '-k %s',
    async (_name, args) => {
      const g = await startGserve(['-w', '1', '--send-timeout', '2', '--access-logfile', '-', ...args]);
      const logged = (path: string) => g.stdout.split('\n').filter((line) => line.includes(`GET ${path} `)).length;
      // An answer written as the client takes it (the app waits for drain): logged once it is cut.
      const stalled = download(g.port, '/stream?mb=64', true);
      await g.until(() => logged('/stream?mb=64') >= 1, 'the access line of the cut answer');
      stalled.resume();
      expect(await stalled.done, 'cut, not served').toBeLessThan(64 * MiB);
      // That one, and one written whole, reach a reader that pauses shorter than the timeout.
      for (const path of ['/stream?mb=64', '/blob?kb=65536'])
        expect(await download(g.port, path, false).done, `${path}: served whole`).toBeGreaterThan(64 * MiB);
    },
    120_000,
  );
});
