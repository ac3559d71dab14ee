import type { Socket } from 'node:net';
import { boundServerAddress, listeningServer } from '../http/node-internals.js';

/**
 * Request facts shared by the WSGI environ and the ASGI scope: the path split from the query,
 * decoded once, and the two ends of the connection (a Unix socket has a path and no port).
 */

/** Percent-decodes a path from UTF-8; a path that is not valid UTF-8 stays unchanged. */
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

export interface ListenerAddress {
  fd: number;
  address: string;
}

/** Unix socket paths by listening fd: an inherited fd does not tell its path, the master's boot message does. */
export class UnixPaths {
  private readonly byFd = new Map<number, string>();
  /** Connections that came over IPC (-k sync's dispatcher, a balanced one): no listener of this process took them. */
  private readonly bySocket = new WeakMap<object, string>();
  constructor(private readonly listeners: readonly ListenerAddress[]) {
    for (const { fd, address } of listeners) if (address.startsWith('unix:')) this.byFd.set(fd, address.slice(5));
  }

  /** `socket` was accepted on boot.listeners[`listener`] by another process, which handed it here. */
  handedOver(socket: object, listener: number): void {
    const address = this.listeners[listener]?.address;
    if (address?.startsWith('unix:')) this.bySocket.set(socket, address.slice(5));
  }

  /** The listening end: [host, port] for TCP, [path, null] for a Unix socket. */
  serverAddress(socket: Pick<Socket, 'localAddress' | 'localPort'>): [string, number | null] {
    const tcp = boundServerAddress(socket);
    if (tcp) return [tcp[0], tcp[1]];
    if (socket.localPort !== undefined && socket.localAddress) return [socket.localAddress, socket.localPort];
    const handed = this.bySocket.get(socket);
    if (handed !== undefined) return [handed, null];
    const server = listeningServer(socket);
    const fd = server?.fd;
    const bound = server?.address();
    return [(fd !== undefined ? this.byFd.get(fd) : undefined) ?? (typeof bound === 'string' ? bound : ''), null];
  }
}
