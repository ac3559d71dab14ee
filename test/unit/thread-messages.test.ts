import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PeerSocket, ThreadRequest, ThreadResponse } from '../../src/worker/thread-exchange.js';
import {
  BATCH_BYTES,
  Batcher,
  WINDOW_BYTES,
  decodeFromThread,
  decodeToThread,
  encodeFromThread,
  encodeToThread,
  type FromThread,
  type ToThread,
} from '../../src/worker/thread-messages.js';

const HEAD = {
  method: 'POST',
  url: '/x',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'x', 'Content-Length', '9'],
  keepAlive: true,
  upgrade: false,
};

function exchange() {
  const posted: FromThread[] = [];
  const credits: number[] = [];
  const req = new ThreadRequest(
    HEAD,
    new PeerSocket({ remoteAddress: '10.0.0.1' }, () => res.abandon()),
    'http',
    (bytes) => credits.push(bytes),
  );
  const res: ThreadResponse = new ThreadResponse(req, 7, (m) => posted.push(m));
  return { req, res, posted, credits };
}

describe('the messages between a thread worker and its app threads', () => {
  it('gathers a flood of 1-byte chunks into one message per turn, in a buffer of its own', async () => {
    const posted: Uint8Array[] = [];
    const batcher = new Batcher((chunk) => posted.push(chunk));
    for (let i = 0; i < 1000; i++) batcher.add(Buffer.from([i & 0xff]));
    expect(posted).toHaveLength(0);
    await nextTurn();
    expect(posted).toHaveLength(1);
    const [chunk] = posted;
    expect(chunk!.byteLength).toBe(1000);
    // Exactly its bytes, so transferring it moves 1000 bytes, not a shared 8 KiB pool slab.
    expect(chunk!.buffer.byteLength).toBe(1000);
    expect(chunk![999]).toBe(999 & 0xff);
  });

  it('posts by size as well, for a writer that never yields to the event loop', () => {
    const posted: Uint8Array[] = [];
    const batcher = new Batcher((chunk) => posted.push(chunk));
    const block = Buffer.alloc(16 * 1024, 1);
    for (let i = 0; i < BATCH_BYTES / block.length; i++) batcher.add(block);
    expect(posted.map((c) => c.byteLength)).toEqual([BATCH_BYTES]);
  });

  it('sends a small whole response as one message: status, headers, body and end', () => {
    const { res, posted } = exchange();
    res.writeHead(201, [['content-type', 'text/plain']]).end('created');
    expect(posted).toHaveLength(1);
    const [m] = posted as Array<Extract<FromThread, { t: 'res' }>>;
    expect(m).toMatchObject({ t: 'res', id: 7, status: 201, headers: [['content-type', 'text/plain']], end: true });
    expect(m!.stream).toBeUndefined();
    expect(Buffer.from(m!.chunk!).toString()).toBe('created');
  });

  it('holds the app once a window of its response is unacknowledged, and lets it go on credit', async () => {
    const { res, posted } = exchange();
    res.writeHead(200);
    const block = Buffer.alloc(BATCH_BYTES, 2);
    let accepted = 0;
    while (res.write(block)) accepted += block.length;
    accepted += block.length;
    expect(accepted).toBeGreaterThanOrEqual(WINDOW_BYTES);
    expect(accepted).toBeLessThanOrEqual(WINDOW_BYTES + BATCH_BYTES);
    let drained = false;
    const waiting = res.drained().then(() => (drained = true));
    await nextTurn();
    expect(drained).toBe(false);
    const sent = posted.reduce((n, m) => n + (m.t === 'res' ? (m.chunk?.byteLength ?? 0) : 0), 0);
    res.credit(sent);
    await waiting;
    expect(drained).toBe(true);
  });

  it('credits request body bytes only once the app has read them', async () => {
    const { req, credits } = exchange();
    const chunk = new Uint8Array(WINDOW_BYTES / 2);
    req.receive(chunk, false);
    req.receive(chunk, false);
    await nextTurn();
    expect(credits).toEqual([]); // nobody read: the main thread stays held at the window
    let read = 0;
    req.body.on('data', (c: Buffer) => (read += c.length));
    for (let turn = 0; turn < 100 && read < WINDOW_BYTES; turn++) await nextTurn();
    expect(read).toBe(WINDOW_BYTES);
    // Once the app reads, the main thread is let below its window (credit comes in quarter windows).
    expect(credits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(WINDOW_BYTES / 4);
  });

  it('an app that cuts its response short (socket.destroy) abandons it: once, and later writes are dropped', () => {
    const { req, res, posted } = exchange();
    res.writeHead(200).write('part');
    req.socket.destroy();
    expect(res.write('more')).toBe(false);
    res.end();
    expect(posted.filter((m) => m.t === 'abandon')).toEqual([{ t: 'abandon', id: 7 }]);
    expect(posted.some((m) => m.t === 'res' && m.end)).toBe(false);
  });

  it('every message survives its wire form', () => {
    const chunk = new Uint8Array([1, 2, 3]);
    const toThread: ToThread[] = [
      {
        t: 'open',
        id: 1,
        listener: 2,
        head: {
          method: 'GET',
          url: '/a?b',
          httpVersion: '1.0',
          rawHeaders: ['Host', 'x', 'X-Two', 'y'],
          rawTarget: 'http://x/a?b',
          keepAlive: false,
          upgrade: true,
        },
        peer: {
          remoteAddress: '::1',
          remotePort: 5,
          remoteFamily: 'IPv6',
          localAddress: '::1',
          localPort: 80,
          encrypted: true,
          unixPeer: false,
        },
        chunk,
        end: true,
      },
      {
        t: 'open',
        id: 3,
        listener: 0,
        head: { method: 'POST', url: '/', httpVersion: '1.1', rawHeaders: [], keepAlive: true, upgrade: false },
        peer: { encrypted: false, unixPeer: true, unixPath: '/run/g.sock' },
      },
      // Handed ahead, in cell 0 and in cell 3 (thread-claim.ts).
      ...[0, 3].map(
        (ahead): ToThread => ({
          t: 'open',
          id: 4 + ahead,
          listener: 0,
          head: { method: 'GET', url: '/', httpVersion: '1.1', rawHeaders: [], keepAlive: true, upgrade: false },
          peer: { encrypted: false, unixPeer: false },
          end: true,
          ahead,
        }),
      ),
      { t: 'body', id: 1, chunk, end: false },
      // The last of a chunked body, with the client's trailers.
      { t: 'body', id: 1, end: true, trailers: ['X-Trail', 'yes', 'X-Two', ''] },
      { t: 'abort', id: 1, refused: true },
      { t: 'credit', id: 1, bytes: 9 },
    ];
    for (const m of toThread) expect(decodeToThread(structuredClone(encodeToThread(m)))).toEqual(m);
    const fromThread: FromThread[] = [
      {
        t: 'res',
        id: 4,
        status: 204,
        headers: [
          ['a', '1'],
          ['set-cookie', 'x=1'],
          ['set-cookie', 'y=2'],
        ],
        chunk,
        end: true,
        stream: true,
      },
      { t: 'res', id: 4, chunk },
      // The end of a streamed answer, with the app's trailers; with and without a head of its own.
      { t: 'res', id: 4, end: true, stream: true, trailers: [['X-T', 'v']] },
      {
        t: 'res',
        id: 4,
        status: 200,
        headers: [['trailer', 'X-T']],
        reason: 'Fine',
        end: true,
        trailers: [['X-T', 'v']],
      },
      { t: 'abandon', id: 4 },
      { t: 'credit', id: 4, bytes: 1 },
      { t: 'raw', id: 4, chunk, end: true },
      { t: 'ready' },
    ];
    for (const m of fromThread) expect(decodeFromThread(structuredClone(encodeFromThread(m)))).toEqual(m);
  });
});
