import { readFileSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { eventually } from '../helpers/files.js';
import { FIXTURES, startGserve, type Gserve } from '../helpers/gserve.js';
import { FLAG, FRAME, PREFACE, frame, getHeaderBlock, h2Request, h2Session, rssOf, rstStream, tlsOpen } from '../helpers/h2.js';

/**
 * Floods against an --http2 listener and its WebSockets, one worker: during each, a well-behaved
 * client keeps being served, and the worker's memory stays within a bound and comes back after.
 */

const MB = 1024 * 1024;
/** How far above its idle RSS the worker may go during a flood, and must come back within after. */
const PEAK_BOUND = 160 * MB;
const AFTER_BOUND = 80 * MB;

let certs: TestCerts | null = null;
beforeAll(() => {
  certs = makeCerts();
});

async function target(): Promise<{ g: Gserve; worker: number; idleRss: number }> {
  const g = await startGserve(['--certfile', certs!.cert, '--keyfile', certs!.key, '--http2', '--ws-ping-interval', '0', join(FIXTURES, 'apps', 'flood-target.js')]);
  const worker = [...g.workerPids][0]!;
  // Warm the worker up (both protocols) before taking its idle size.
  const s = await h2Session(g.port, certs!);
  for (let i = 0; i < 50; i++) await h2Request(s, { ':path': '/warm' });
  s.close();
  return { g, worker, idleRss: rssOf(worker) };
}

/**
 * Runs `attack` while a polite client sends requests one after another on its own h2 connection;
 * samples the worker's RSS meanwhile. Resolves with the polite client's statuses and the peak RSS.
 */
async function during(g: Gserve, worker: number, attack: (polite: number[]) => Promise<void>): Promise<{ statuses: number[]; peak: number }> {
  let peak = rssOf(worker);
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(worker));
    } catch {
      // the worker is gone: the assertions below will say so
    }
  }, 50);
  const statuses: number[] = [];
  let attacking = true;
  const polite = (async () => {
    const session: ClientHttp2Session = await h2Session(g.port, certs!);
    try {
      while (attacking || statuses.length < 20) statuses.push((await h2Request(session, { ':path': '/polite' })).status);
    } catch (err) {
      statuses.push(Number.NaN);
      console.log(`the polite client failed: ${(err as Error).message}`);
    }
    session.close();
  })();
  try {
    await attack(statuses);
  } finally {
    attacking = false;
    await polite;
    clearInterval(sampler);
  }
  return { statuses, peak };
}

/** A raw h2 connection: TLS with ALPN h2, the preface and an empty SETTINGS sent. */
async function rawH2(port: number): Promise<TLSSocket> {
  const socket = await tlsOpen(port, certs!, ['h2']);
  socket.on('error', () => {});
  socket.resume(); // read (and drop) what the server sends, so its writes never stall on us
  socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), frame(FRAME.SETTINGS, FLAG.ACK, 0)]));
  return socket;
}

/** Writes frames made by `next` until it returns null or the server closes; honours back-pressure. */
async function pour(socket: TLSSocket, next: (i: number) => Buffer | null): Promise<void> {
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (let i = 0; ; i++) {
    if (socket.destroyed) return;
    const bytes = next(i);
    if (bytes === null) break;
    if (!socket.write(bytes)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
  }
  socket.end();
  await closed;
}

async function comesBack(worker: number, idleRss: number): Promise<number> {
  return eventually(() => {
    const rss = rssOf(worker);
    return rss < idleRss + AFTER_BOUND ? rss : false;
  }, `the worker's RSS back within ${AFTER_BOUND / MB} MB of idle`, 30_000);
}

function report(name: string, idleRss: number, peak: number, after: number, statuses: number[]): void {
  console.log(`${name}: idle ${(idleRss / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB, after ${(after / MB).toFixed(0)} MB; polite requests served: ${statuses.length}`);
}

describe('HTTP/2 and WebSocket floods (fault suite)', () => {
  it('rapid reset: 20,000 streams opened and cancelled at once, over 4 connections', async () => {
    if (!certs) return;
    const { g, worker, idleRss } = await target();
    const block = getHeaderBlock();
    const { statuses, peak } = await during(g, worker, async () => {
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const socket = await rawH2(g.port);
          await pour(socket, (i) => (i < 5000 ? Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2 * i + 1, block), rstStream(2 * i + 1)]) : null));
        }),
      );
    });
    const after = await comesBack(worker, idleRss);
    report('rapid reset', idleRss, peak, after, statuses);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(statuses.length).toBeGreaterThanOrEqual(20);
    expect(peak - idleRss).toBeLessThan(PEAK_BOUND);
    expect(g.workerPids.size).toBe(1); // the worker never crashed
  });

  it('CONTINUATION flood: one header block that never ends, 1 KB at a time', async () => {
    if (!certs) return;
    const { g, worker, idleRss } = await target();
    // A literal header field (new name, no indexing) of ~1 KB, repeated in CONTINUATION frames.
    const name = 'x-flood';
    const value = 'v'.repeat(1000);
    const field = Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([0x7f, value.length - 127]), Buffer.from(value)]);
    const { statuses, peak } = await during(g, worker, async () => {
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const socket = await rawH2(g.port);
          await pour(socket, (i) => (i === 0 ? frame(FRAME.HEADERS, FLAG.END_STREAM, 1, getHeaderBlock()) : i < 20_000 ? frame(FRAME.CONTINUATION, 0, 1, field) : null));
        }),
      );
    });
    const after = await comesBack(worker, idleRss);
    report('CONTINUATION flood', idleRss, peak, after, statuses);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(peak - idleRss).toBeLessThan(PEAK_BOUND);
    expect(g.workerPids.size).toBe(1);
  });

  it('10,000 streams sent at once on one connection that never reads its responses', async () => {
    if (!certs) return;
    const { g, worker, idleRss } = await target();
    const block = getHeaderBlock();
    const { statuses, peak } = await during(g, worker, async (polite) => {
      const socket = await tlsOpen(g.port, certs!, ['h2']);
      socket.on('error', () => {});
      // Never reads: the server's responses pile up against TCP and the stream windows.
      socket.pause();
      const frames = [PREFACE, frame(FRAME.SETTINGS, 0, 0)];
      for (let i = 0; i < 10_000; i++) frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2 * i + 1, block));
      socket.write(Buffer.concat(frames));
      // The flood is in the server's hands; meanwhile the polite client is served.
      const before = polite.length;
      await eventually(() => polite.length >= before + 50, 'the polite client served during the flood');
      socket.destroy();
    });
    const after = await comesBack(worker, idleRss);
    report('10,000 streams', idleRss, peak, after, statuses);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(peak - idleRss).toBeLessThan(PEAK_BOUND);
    expect(g.workerPids.size).toBe(1);
  });

  it('WebSocket clients that never read, sent to as fast as the app can: queues stop at the back-pressure limit', async () => {
    if (!certs) return;
    const { g, worker, idleRss } = await target();
    const clients: WebSocket[] = [];
    const { statuses, peak } = await during(g, worker, async (polite) => {
      for (let i = 0; i < 4; i++) {
        const ws = new WebSocket(`wss://localhost:${g.port}/ws`, { ca: readFileSync(certs!.cert) });
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => {
            ws.pause(); // never reads
            resolve();
          });
          ws.once('error', reject);
        });
        clients.push(ws);
      }
      // The app sees send() return 0 once a socket's queue is at the limit.
      await g.until(() => g.stdout.split('queue full').length - 1 >= 4, 'every queue full');
      const before = polite.length;
      await eventually(() => polite.length >= before + 20, 'the polite client served with the queues full');
    });
    for (const ws of clients) ws.terminate();
    const after = await comesBack(worker, idleRss);
    report('WebSocket never reads', idleRss, peak, after, statuses);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(peak - idleRss).toBeLessThan(PEAK_BOUND);
    expect(g.workerPids.size).toBe(1);
  });
});
