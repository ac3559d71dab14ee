import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** The TCP port a listening server got; it fails loudly for a Unix socket or a closed server. */
export function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`not listening on TCP: ${address}`);
  return address.port;
}

/** The local ports the kernel gives outgoing connections and `listen(0)` (Linux), else its default. */
function ephemeralPorts(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: the usual range
  }
  return [32768, 60999];
}

/**
 * A port nothing listens on right now, for a server a test starts on a port of its own choosing.
 * It is taken outside the kernel's ephemeral range: a port from inside it may meanwhile be the
 * local end of another test's connection, and one in TIME_WAIT there makes a later bind fail with
 * EADDRINUSE. It is checked by binding every IPv4 address, which any other use of the port blocks.
 */
export async function freePort(): Promise<number> {
  const [low, high] = ephemeralPorts();
  const [from, to] = low - 1 >= 20_000 ? [10_000, low - 1] : [high + 1, 65_535];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${from} and ${to}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}
