import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesWritten, readCounter } from '../../src/http/node-internals.js';

/**
 * The access log's body bytes and the counters' bytes out read a socket's write count twice per
 * request. bytesWritten() takes node's dispatched count when nothing is queued, instead of the
 * getter that copies the write queue: both must always agree.
 */

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** Both ends of a TCP connection on 127.0.0.1. */
async function connection(): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  servers.push(listener);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  sockets.push(client);
  const [server] = await accepted;
  sockets.push(server);
  return { server, client };
}

describe('bytesWritten(socket)', () => {
  it('agrees with socket.bytesWritten with nothing queued, before and after writes', async () => {
    const { server, client } = await connection();
    expect(bytesWritten(server)).toBe(0);
    client.resume();
    await new Promise<void>((resolve) => server.write('hello', () => resolve()));
    expect(server.writableLength).toBe(0);
    expect(bytesWritten(server)).toBe(5);
    expect(bytesWritten(server)).toBe(server.bytesWritten);
  });

  it('agrees with socket.bytesWritten while writes are queued behind a client that does not read', async () => {
    const { server, client } = await connection();
    client.pause();
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    // Writes until the kernel's buffers are full and node queues the rest.
    while (server.write(chunk)) sent += chunk.length;
    sent += chunk.length;
    expect(server.writableLength).toBeGreaterThan(0);
    expect(bytesWritten(server)).toBe(server.bytesWritten);
    expect(bytesWritten(server)).toBe(sent);
  });

  it('falls back on the getter for a stream that is not a net.Socket', () => {
    const stream = new Duplex({ read() {}, write: (_c, _e, done) => done() });
    expect(bytesWritten(stream as unknown as Socket)).toBeUndefined();
  });
});

describe('readCounter(socket)', () => {
  it("counts what socket.bytesRead counts, read after read, from the socket's handle", async () => {
    const { server, client } = await connection();
    const counter = readCounter(server);
    expect(counter).not.toBe(server);
    expect(counter.bytesRead).toBe(0);
    for (const text of ['GET / HTTP/1.1\r\n', 'Host: x\r\n\r\n']) {
      const read = once(server, 'data');
      client.write(text);
      await read;
      expect(counter.bytesRead).toBe(server.bytesRead);
    }
    expect(counter.bytesRead).toBe(27);
  });

  it('is the socket itself for a stream without a handle', () => {
    const stream = new Duplex({ read() {}, write: (_c, _e, done) => done() });
    expect(readCounter(stream as unknown as Socket)).toBe(stream);
  });
});
