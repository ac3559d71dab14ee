import type { Socket } from 'node:net';

/**
 * Request facts shared by the WSGI environ and the ASGI scope: the path split from the query,
 * decoded once, and the two ends of the connection (a Unix socket has a path and no port).
 */

/** Percent-decodes a path as UTF-8; a path that is not valid UTF-8 stays as sent. */
export function decodePath(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function splitTarget(url: string): { rawPath: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, query: '' } : { rawPath: url.slice(0, q), query: url.slice(q + 1) };
}

/** Unix socket paths by listening fd: an inherited fd does not tell its path, the master's boot message does. */
const unixPaths = new Map<number, string>();
export function registerListeners(listeners: ReadonlyArray<{ fd: number; address: string }>): void {
  for (const { fd, address } of listeners) if (address.startsWith('unix:')) unixPaths.set(fd, address.slice(5));
}

/** The listening end: [host, port] for TCP, [path, null] for a Unix socket. */
export function serverAddress(socket: Socket): [string, number | null] {
  if (socket.localPort !== undefined && socket.localAddress) return [socket.localAddress, socket.localPort];
  const server = (socket as Socket & { server?: { address(): unknown; _handle?: { fd?: number } } }).server;
  const fd = server?._handle?.fd;
  const bound = server?.address();
  return [(fd !== undefined ? unixPaths.get(fd) : undefined) ?? (typeof bound === 'string' ? bound : ''), null];
}
