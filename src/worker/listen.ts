import { createServer, type Server, type Socket } from 'node:net';
import { BindError } from '../errors.js';
import './node-internals.js';

/**
 * Accepts on an inherited listening socket; the kernel spreads connections over the workers.
 *
 * In a node:cluster worker, `listen({ fd })` would ask the master for the socket, and the master
 * would open the same fd number of its own (another socket). Node's own path for the master and for
 * `exclusive` listens, `_listen2`, takes the descriptor unchanged.
 */
export function listenOnFd(
  fd: number,
  onConnection: (socket: Socket) => void,
  backlog?: number,
  expectedPort?: number,
  /** Connections arrive paused: nothing is read from them until `onConnection` resumes them. */
  pauseOnConnect = false,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    // noDelay, as node:http's servers have it: every protocol answers in small writes (node-server.ts).
    const server = createServer({ pauseOnConnect, noDelay: true }, onConnection);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      // The master hands over sockets it has bound and made listen. A listen on anything else
      // (an unbound socket) would land on a random port of every address: refuse to serve there.
      const at = server.address();
      if (expectedPort !== undefined && typeof at === 'object' && at !== null && at.port !== expectedPort) {
        server.close();
        reject(
          new BindError(
            `Worker: the inherited socket fd ${fd} listens on port ${at.port}, not ${expectedPort}. ` +
              'Refusing to serve on it.',
          ),
        );
        return;
      }
      resolve(server);
    });
    if (typeof server._listen2 === 'function') server._listen2(null, null, null, backlog, fd);
    // The backlog must be a separate argument: Node ignores `backlog` inside `{ fd }` options.
    else server.listen({ fd, exclusive: true }, backlog);
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
