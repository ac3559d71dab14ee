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

/** The listening end: [host, port] for TCP, [path, null] for a Unix socket. */
export function serverAddress(socket: Socket): [string, number | null] {
  if (socket.localPort !== undefined && socket.localAddress) return [socket.localAddress, socket.localPort];
  const bound = (socket as Socket & { server?: { address(): unknown } }).server?.address();
  return [typeof bound === 'string' ? bound : '', null];
}

/** The client end, or null on a Unix socket (no address to tell). */
export function clientAddress(socket: Socket): [string, number] | null {
  return socket.remoteAddress && socket.remotePort !== undefined ? [socket.remoteAddress, socket.remotePort] : null;
}
