import { once } from 'node:events';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SendWatch } from '../../src/http/timeouts.js';

/**
 * --send-timeout's watch on real sockets: the server end has 64 MiB to send, far more than the
 * kernel's buffers hold, so what the client does not read waits in node and libuv.
 */
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function pair(): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  servers.push(listener);
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const client = connect(address.port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  client.on('error', () => {});
  server.on('error', () => {});
  return { server, client };
}

describe('SendWatch', () => {
  it('calls a reader that takes nothing stalled, and never one that keeps taking bytes', async () => {
    const stalled = await pair();
    stalled.client.pause();
    stalled.server.write(Buffer.alloc(64 << 20));
    const cut = new Promise<void>((resolve) => new SendWatch(stalled.server, 300, resolve).start());
    await cut;
    expect(stalled.server.writableLength).toBeGreaterThan(0);
    stalled.server.destroy();
    stalled.client.destroy();

    // Reads in bursts with pauses shorter than the timeout, until all 64 MiB came.
    const reading = await pair();
    let calledStalled = false;
    reading.server.end(Buffer.alloc(64 << 20));
    new SendWatch(reading.server, 300, () => {
      calledStalled = true;
    }).start();
    let bytes = 0;
    let burst: NodeJS.Timeout | undefined;
    reading.client.on('data', (data: Buffer) => {
      bytes += data.length;
      // 50 ms of reading, then 200 ms of none.
      burst ??= setTimeout(() => {
        reading.client.pause();
        setTimeout(() => {
          burst = undefined;
          reading.client.resume();
        }, 200);
      }, 50);
    });
    await once(reading.client, 'end');
    expect(bytes).toBe(64 << 20);
    expect(calledStalled).toBe(false);
    reading.client.destroy();
  }, 60_000);

  it('does nothing when off (0) or once the buffer has drained', async () => {
    const { server, client } = await pair();
    let stalled = false;
    server.write(Buffer.alloc(1024));
    const watch = new SendWatch(server, 0, () => {
      stalled = true;
    });
    watch.start();
    let got = 0;
    client.on('data', (d: Buffer) => {
      got += d.length;
    });
    while (got < 1024) await once(client, 'data');
    expect(server.writableLength).toBe(0);
    expect(stalled).toBe(false);
    server.destroy();
    client.destroy();
  });
});
