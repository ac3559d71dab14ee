import { createServer, type Server } from 'node:net';

/** The TCP port a listening server got; it fails loudly for a Unix socket or a closed server. */
export function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`not listening on TCP: ${address}`);
  return address.port;
}

/** A port nothing listens on right now (taken from the kernel, then released), on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = portOf(s);
      s.close(() => resolve(port));
    });
  });
}
