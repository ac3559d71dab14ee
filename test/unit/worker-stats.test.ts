import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FinishedExchange } from '../../src/http/protocol-server.js';
import type { AccessLog } from '../../src/log/access.js';
import { onPulse } from '../../src/worker/pulse.js';
import { WorkerStats } from '../../src/worker/stats.js';

/** A socket's byte counters, as node:net shows them (nothing queued: bytesWritten() reads _bytesDispatched). */
function fakeSocket() {
  return { bytesRead: 0, bytesWritten: 0, _bytesDispatched: 0, writableLength: 0 };
}
type FakeSocket = ReturnType<typeof fakeSocket>;

function exchange(socket: FakeSocket, method = 'GET', status = 200): FinishedExchange {
  return {
    method,
    url: '/',
    httpVersion: '1.1',
    status,
    bodyBytes: 0,
    startedAt: performance.now(),
    socket: socket as unknown as Socket,
    requestHeader: () => undefined,
    responseHeader: () => undefined,
  };
}

/** The wire moved: `read` more bytes in, `written` more out. */
function transfer(socket: FakeSocket, read: number, written: number): void {
  socket.bytesRead += read;
  socket.bytesWritten += written;
  socket._bytesDispatched += written;
}

describe('WorkerStats', () => {
  const made: WorkerStats[] = [];
  const stats = (accessLog: AccessLog | null = null, counting = true) => {
    const s = new WorkerStats(accessLog, counting);
    made.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of made.splice(0)) s.stop();
  });

  it('counts the bytes of every socket that served a response, once per report, by difference', () => {
    const s = stats();
    const a = fakeSocket();
    const b = fakeSocket();
    transfer(a, 100, 300);
    s.finished(exchange(a));
    transfer(a, 50, 70); // a second response on the same keep-alive connection
    s.finished(exchange(a));
    transfer(b, 10, 20);
    s.finished(exchange(b, 'POST', 404));
    const first = s.report();
    expect(first.served).toBe(3);
    expect([first.bytesIn, first.bytesOut]).toEqual([160, 390]);

    // A socket counted before adds only what moved since; one with no response since is not read.
    transfer(a, 5, 7);
    s.finished(exchange(a));
    transfer(b, 1000, 1000);
    const second = s.report();
    expect([second.bytesIn, second.bytesOut]).toEqual([165, 397]);
    expect(second.counts[0 * 5 + 1]).toBe(3); // GET 2xx
    expect(second.counts[1 * 5 + 3]).toBe(1); // POST 4xx
  });

  it('counts each byte once when many sockets served between two reports (clients that reconnect per request)', () => {
    const s = stats();
    for (let i = 0; i < 1000; i++) {
      const socket = fakeSocket();
      transfer(socket, 40, 60);
      s.finished(exchange(socket));
    }
    const report = s.report();
    expect(report.served).toBe(1000);
    expect([report.bytesIn, report.bytesOut]).toEqual([40_000, 60_000]);
  });

  it('without anyone reading the counters, only writes the access log', () => {
    const written: FinishedExchange[] = [];
    const log = { write: (x: FinishedExchange) => written.push(x), flush: () => {} };
    const s = stats(log as unknown as AccessLog, false);
    const socket = fakeSocket();
    transfer(socket, 10, 10);
    const x = exchange(socket);
    s.finished(x);
    s.finished(undefined); // a protocol that has no exchange for a response
    expect(written).toEqual([x]);
    expect(s.report().served).toBe(0);
  });

  it("samples the event loop's delay on the worker's one pulse, and stops it with the last user", () => {
    // Fake timers, a real clock: the pulse fires when the test says, and its lateness is real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const s = stats();
      const beats: number[] = [];
      const stopBeats = onPulse((late) => beats.push(late));
      // The board's beat and the delay sample share one timer: an idle worker wakes for it alone.
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(500);
      expect(beats).toHaveLength(10);
      expect(s.report().loopDelay.max).toBeLessThan(0.04);
      // A loop blocked for 150 ms (a synchronous handler): the next pulse comes about 100 ms late.
      const blockedUntil = performance.now() + 150;
      while (performance.now() < blockedUntil);
      vi.advanceTimersByTime(50);
      expect(beats.at(-1)).toBeGreaterThanOrEqual(99);
      expect(s.report().loopDelay.max).toBeGreaterThan(0.099);
      stopBeats();
      s.stop();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
