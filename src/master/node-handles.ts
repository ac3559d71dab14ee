import net from 'node:net';
import { constants } from 'node:os';

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

/**
 * Starts or stops accepting on a listening handle without closing it: the socket stays listening
 * (another process may share it), and new connections wait in its queue for whoever accepts next.
 * Works on a handle *opened* on a descriptor (`createServerHandle(null, null, null, fd)`): libuv lets
 * only those "read", and on a listening socket the read watch is the accept watch. Pausing starts
 * the read (EALREADY if it runs) only to stop it, which stops the watch. False if this Node has no
 * such handle methods or refuses.
 */
export function setAccepting(handle: RawHandle, accepting: boolean): boolean {
  if (typeof handle.readStart !== 'function' || typeof handle.readStop !== 'function') return false;
  const started = handle.readStart();
  if (accepting) return started === 0 || started === EALREADY;
  return handle.readStop() === 0;
}

/** libuv's error codes are the negated errno values on Unix. */
const EALREADY = -constants.errno.EALREADY;

/** The libuv handle a listening net.Server accepts on, or null. */
export function serverHandle(server: net.Server): RawHandle | null {
  const handle: unknown = Reflect.get(server, '_handle');
  return isRawHandle(handle) ? handle : null;
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

/**
 * Starts node reading again a socket that stopReading() stopped: libuv's read, and the socket's flow
 * (resume). node's own flag says it reads too, else node, seeing it clear, would start libuv's read a
 * second time, which fails and destroys the socket. False if this Node has no such handle, or libuv
 * cannot read it (the client's side already ended).
 */
export function startReading(socket: net.Socket): boolean {
  const handle: unknown = Reflect.get(socket, '_handle');
  const readStart: unknown = typeof handle === 'object' && handle !== null ? Reflect.get(handle, 'readStart') : null;
  if (typeof readStart !== 'function' || Reflect.apply(readStart, handle, []) !== 0) return false;
  Reflect.set(handle as object, 'reading', true);
  socket.resume();
  return true;
}

/**
 * Closes the connections `child` was sent (without keepOpen) that it never acknowledged. node's
 * child_process holds a sent handle until the receiver's NODE_HANDLE_ACK, and queues the next ones
 * behind it; a receiver that dies first (kill -9, a crash, --timeout) leaves them open here for good,
 * since its channel's end closes them only when no handle is queued. Each was then a client waiting
 * with no answer and no close, and a descriptor lost in the master. The worker never saw them (its
 * ACK goes out before it reads the message), so closing them is what its crash would have done.
 * Returns how many were closed.
 */
export function closeUnacknowledged(child: object): number {
  let closed = 0;
  const close = (entry: unknown) => {
    const handle: unknown = typeof entry === 'object' && entry !== null ? Reflect.get(entry, 'handle') : null;
    if (isRawHandle(handle)) {
      handle.close();
      closed++;
    } else if (handle instanceof net.Socket && !handle.destroyed) {
      // A queued entry still holds what was given to send(): the net.Socket, not yet its handle.
      handle.destroy();
      closed++;
    }
  };
  close(Reflect.get(child, '_pendingMessage'));
  Reflect.set(child, '_pendingMessage', null);
  const queue: unknown = Reflect.get(child, '_handleQueue');
  // Left an (empty) array: an ACK still unread on the channel expects one.
  if (Array.isArray(queue)) for (const entry of queue.splice(0)) close(entry);
  return closed;
}
