import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syncHoldLimit } from '../../src/master/open-file-limit.js';
import { FIXTURES, isAlive, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';
import { holdConnections, parseResponses } from '../helpers/raw.js';

/** The sync class's hand-off under clients and workers that misbehave (master/dispatch.ts, worker/sync.ts). */

const bigAnswer = join(FIXTURES, 'apps/big-answer-node.js') + ':app';
const ulimit = (n: number) => ['sh', '-c', `ulimit -n ${n} && exec "$@"`, 'sh'];

const descriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** SIGSTOP, once the process has stopped (the signal lands when it is next scheduled). */
async function pause(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await pollUntil(() => /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), `process ${pid} to stop`);
}

/** Whether the server side of each connection from local `clientPorts` has no unread bytes in the kernel. */
function serverHasRead(port: number, ...clientPorts: number[]): boolean {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const read = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(port)}`) && queues!.split(':')[1] === '00000000') read.add(remote!.slice(-4));
  }
  return clientPorts.every((p) => read.has(hex(p)));
}

function opened(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
}

describe('sync class: faults at the hand-off', () => {
  it('a client that never reads a node app’s large answer holds the worker for --send-timeout, not for ever', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--send-timeout', '1', bigAnswer]);
    const reader = connect(g.port, '127.0.0.1');
    reader.on('error', () => {});
    await opened(reader);
    reader.pause(); // never reads
    reader.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    const closed = new Promise((resolve) => reader.once('close', resolve));
    try {
      // node:http ends the answer only once it is all with the kernel, which never happens: the one
      // worker served no one else, and the next request waited for ever.
      const next = await get(g.url + '/next');
      expect(next.status).toBe(200);
      expect(reader.bytesRead).toBeLessThan(1024 * 1024); // a few buffers' worth, of 32 MiB
    } finally {
      reader.destroy();
    }
    await closed;
  });

  it('a connection sent to a worker that dies before taking it is closed, not held open in the master', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', bigAnswer]);
    const [victim] = [...g.workerPids];
    const idleFds = descriptors(g.pid);
    // Stopped after it said it was idle: the master sends it the next connection, which it never reads.
    process.kill(victim!, 'SIGSTOP');
    const client = connect(g.port, '127.0.0.1');
    client.on('error', () => {});
    let answer = '';
    client.setEncoding('latin1').on('data', (d) => (answer += d));
    const closed = new Promise((resolve) => client.once('close', resolve));
    await opened(client);
    client.write('GET /lost HTTP/1.1\r\nHost: x\r\n\r\n');
    // The master read the request: it sent the connection in the same turn of its loop.
    await pollUntil(() => serverHasRead(g.port, client.localPort!), 'the master to read the request');
    process.kill(victim!, 'SIGKILL');
    await g.waitForWorkers(2);
    await closed; // before: open until the client gave up, the master's descriptor with it
    expect(answer).toBe('');
    await g.until(
      () => g.lines.some((l) => /^Closed 1 connection\(s\) sent to worker/.test(l.msg)),
      'the master to say it closed the connection',
    );
    expect((await get(g.url + '/after')).status).toBe(200);
    // No more than at start: a descriptor the master held only while it started (seen under a loaded
    // full run) may be gone by now; the lost connection's stayed open for good.
    await pollUntil(() => descriptors(g.pid) <= idleFds, 'the master back to its idle descriptors');
  });

  it('connections queued behind an unacknowledged one (a hand-off to a stopped worker) are closed too when it dies', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', bigAnswer]);
    const [victim] = [...g.workerPids];
    process.kill(victim!, 'SIGSTOP'); // idle, then never reads again: nothing it is sent is acknowledged
    const clients = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const client = connect(g.port, '127.0.0.1');
        client.on('error', () => {});
        const closed = new Promise((resolve) => client.once('close', resolve));
        await opened(client);
        client.write(`GET /held${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        await pollUntil(() => serverHasRead(g.port, client.localPort!), 'the master to read the request');
        return { client, closed };
      }),
    );
    // The first went to the worker (unacknowledged); WINCH hands the two held ones to it
    // too, where node queues them behind the first until an ACK that never comes.
    g.signal('SIGWINCH');
    await g.waitForLog(/^Number of workers: 0/);
    process.kill(victim!, 'SIGKILL');
    await g.waitForLog(/^Closed 3 connection\(s\) sent to worker/);
    // Before: the queued ones were dropped from node's queue but left open in the master, for ever.
    await Promise.all(clients.map((c) => c.closed));
  });

  // Clients that send a request and reset at once, as many as the master holds, then good ones, while
  // the one worker takes nothing: each way a reset can reach the master. Before, the resets filled
  // the hold until a worker took them, and the good clients got 503s.
  it.each([
    ['after the master read the request', 'read', 'GET /reset HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['with the request, on a connection the master holds silent', 'silent', 'GET /reset HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['with a part of a head, on a connection the master holds silent', 'silent', 'GET /reset HTTP/1.1\r\nHo'],
  ] as const)('clients that send a request and reset it leave the hold at once: reset %s', async (_, way, sent) => {
    // The hold follows the open-file limit: a small one fills with a few dozen connections.
    const files = 128;
    const hold = syncHoldLimit(files, 1);
    const g = await startGserve(['-k', 'sync', '-w', '1', bigAnswer], { wrapper: ulimit(files) });
    const [worker] = [...g.workerPids];
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const open = async (count: number, bytes: string) =>
      (await holdConnections(g.port, count, bytes)).map((h) => ({ ...h, port: h.socket.localPort! }));
    // Read by the master, or already answered and closed (a 503).
    const readAll = (conns: Array<{ socket: Socket; port: number }>) =>
      serverHasRead(g.port, ...conns.filter((c) => !c.socket.destroyed).map((c) => c.port));
    // Stopped once idle: it is sent the first connection and takes nothing, so the rest wait in the master.
    await pause(worker!);
    const answered: Awaited<ReturnType<typeof open>> = [];
    try {
      answered.push(...(await open(1, request('/first'))));
      await pollUntil(() => readAll(answered), 'the master to read the first request');
      const idleFds = descriptors(g.pid);
      const resets = await open(hold, way === 'read' ? sent : '');
      try {
        if (way === 'read') await pollUntil(() => readAll(resets), 'the master to read the requests to reset');
        else {
          await pollUntil(() => descriptors(g.pid) >= idleFds + hold, 'the master to accept the silent connections');
          await pause(g.pid); // the bytes and the reset arrive together
          for (const { socket } of resets) socket.write(sent);
        }
      } finally {
        for (const { socket } of resets) socket.resetAndDestroy();
      }
      g.signal('SIGCONT');
      const good = await open(12, request('/good'));
      answered.push(...good);
      await pollUntil(() => readAll(good), 'the master to read the good requests');
      // A client that closes its side after its request is still answered, as by Gunicorn.
      for (const { socket } of good.slice(0, 4)) socket.end();
      const closed = answered.map(({ socket }) => socket.closed || new Promise((r) => socket.once('close', r)));
      process.kill(worker!, 'SIGCONT');
      await Promise.all(closed);
      const statuses = answered.map((c) => parseResponses(Buffer.from(c.received(), 'latin1'))[0]?.status);
      expect(statuses).toEqual(answered.map(() => 200));
    } finally {
      for (const pid of [g.pid, worker!]) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
      for (const { socket } of answered) socket.destroy();
    }
  });
});
