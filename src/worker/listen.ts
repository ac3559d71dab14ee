import { createServer, type Server, type Socket } from 'node:net';

/** Accepts on an inherited listening socket; the kernel spreads connections over the workers. */
export function listenOnFd(fd: number, onConnection: (socket: Socket) => void, backlog?: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onConnection);
    server.once('error', reject);
    // The backlog must be a separate argument: Node ignores `backlog` inside `{ fd }` options.
    server.listen({ fd }, backlog, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
