import net from 'node:net';

/**
 * The few private parts of node:net the master relies on, in one place. Each is read through
 * Reflect (an `unknown`) and checked at run time, so a Node that renames one fails here, with a
 * message, instead of somewhere downstream.
 */

/** A libuv TCP or pipe handle, which node:net keeps at `server._handle`. */
export interface RawHandle {
  fd: number;
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  listen?(backlog: number): number;
  readStart?(): number;
  readStop?(): number;
  close(): void;
}

const isRawHandle = (value: unknown): value is RawHandle =>
  typeof value === 'object' &&
  value !== null &&
  typeof Reflect.get(value, 'fd') === 'number' &&
  typeof Reflect.get(value, 'close') === 'function';

/**
 * Node's bind-without-listen, `net._createServerHandle(address, port, addressType, fd)`: the call
 * node:cluster uses to make the handles it shares. A negative number is a libuv error code.
 */
export function createServerHandle(...args: Array<string | number | null>): RawHandle | number {
  const create: unknown = Reflect.get(net, '_createServerHandle');
  if (typeof create !== 'function') throw new Error('this Node.js has no net._createServerHandle');
  const result: unknown = Reflect.apply(create, net, args);
  if (typeof result === 'number' || isRawHandle(result)) return result;
  throw new Error('net._createServerHandle returned neither a handle nor an error code');
}

/** The descriptor of a net.Server or net.Socket (`._handle.fd`), or null when it has none. */
export function handleFd(owner: net.Server | net.Socket | null): number | null {
  const handle: unknown = owner ? Reflect.get(owner, '_handle') : null;
  const fd: unknown = typeof handle === 'object' && handle !== null ? Reflect.get(handle, 'fd') : null;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * Stops node from reading a socket that arrived over IPC (node starts reading any socket it makes
 * from a received handle): the master only passes such a socket on, and a byte read here would be
 * lost to the worker that gets it. False if this Node has no such handle.
 */
export function stopReading(socket: net.Socket): boolean {
  const handle: unknown = Reflect.get(socket, '_handle');
  const readStop: unknown = typeof handle === 'object' && handle !== null ? Reflect.get(handle, 'readStop') : null;
  if (typeof readStop !== 'function') return false;
  Reflect.apply(readStop, handle, []);
  return true;
}
