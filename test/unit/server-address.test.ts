import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { boundServerAddress } from '../../src/http/node-internals.js';
import { UnixPaths } from '../../src/interfaces/scope.js';

/**
 * The local end of a connection (ASGI `scope.server`, WSGI `SERVER_NAME`/`SERVER_PORT`): taken from
 * the listener when it is bound to one host, so a connection costs no getsockname(2); asked of the
 * socket when the listener is a wildcard, where only the socket knows which address it came in on.
 */

const servers: Server[] = [];
const clients: Socket[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A listener on `host`, and the server's end of one connection to it. */
async function accepted(host: string): Promise<Socket> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  const serverEnd = new Promise<Socket>((resolve) => server.once('connection', resolve));
  clients.push(connect(port, '127.0.0.1'));
  return serverEnd;
}

describe("a connection's local address", () => {
  it("a listener bound to one host: the listener's address, the same the socket would tell", async () => {
    const socket = await accepted('127.0.0.1');
    const [host, port] = new UnixPaths([]).serverAddress(socket);
    // node caches getsockname(2)'s answer on the socket: none was asked for.
    expect(Reflect.get(socket, '_sockname') ?? null).toBeNull();
    expect([host, port]).toEqual([socket.localAddress, socket.localPort]);
    expect(boundServerAddress(socket)).toEqual(['127.0.0.1', port]);
  });

  it('a wildcard listener: not known from the listener, so the socket is asked', async () => {
    const socket = await accepted('0.0.0.0');
    expect(boundServerAddress(socket)).toBeUndefined();
    expect(new UnixPaths([]).serverAddress(socket)).toEqual(['127.0.0.1', socket.localPort]);
  });

  it('a socket without its server (handed over from another process) is asked too', () => {
    const socket = { localAddress: '10.0.0.1', localPort: 8000 };
    expect(boundServerAddress(socket)).toBeUndefined();
    expect(new UnixPaths([]).serverAddress(socket)).toEqual(['10.0.0.1', 8000]);
  });
});
