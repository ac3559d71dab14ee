import { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * The few undocumented fields of node's (and `ws`'s) objects that gserve reads, in one place. Each is read
 * through `field()` (an `unknown`, never trusted) and checked at run time, so a Node that renames
 * or drops one makes the reader return undefined, and the caller falls back, instead of throwing.
 */
const field = (target: object, key: PropertyKey): unknown => Reflect.get(target, key);

const isObject = (value: unknown): value is object =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

/** What a listening net.Server exposes of itself on an accepted socket. */
export interface ListeningServer {
  address(): unknown;
  /** The fd of the listening handle (`server._handle.fd`), where node tells it. */
  fd: number | undefined;
}

/** The server that accepted `socket` (`socket.server`), with its listening fd. */
export function listeningServer(socket: object): ListeningServer | undefined {
  const server = field(socket, 'server');
  if (!isObject(server)) return undefined;
  const address = field(server, 'address');
  if (typeof address !== 'function') return undefined;
  const handle = field(server, '_handle');
  const fd = isObject(handle) ? field(handle, 'fd') : undefined;
  return { address: () => Reflect.apply(address, server, []), fd: typeof fd === 'number' ? fd : undefined };
}

/** Each listener's own address when it is bound to one host (not a wildcard), as [host, port]; null otherwise. */
const boundAddresses = new WeakMap<object, [string, number] | null>();

/**
 * The local address of a TCP connection accepted by a listener bound to one host: the listener's
 * address, asked once per listener instead of one getsockname(2) per connection. Undefined for a
 * wildcard listener (0.0.0.0, ::), a Unix socket, or a socket that came without its server.
 */
export function boundServerAddress(socket: object): [string, number] | undefined {
  const server = field(socket, 'server');
  if (!isObject(server)) return undefined;
  let bound = boundAddresses.get(server);
  if (bound === undefined) {
    const address = field(server, 'address');
    const info: unknown = typeof address === 'function' ? Reflect.apply(address, server, []) : null;
    const host = isObject(info) ? field(info, 'address') : undefined;
    const port = isObject(info) ? field(info, 'port') : undefined;
    bound =
      typeof host === 'string' && typeof port === 'number' && host !== '0.0.0.0' && host !== '::' ? [host, port] : null;
    // A listener not yet listening tells nothing; it is asked again next time.
    if (info !== null) boundAddresses.set(server, bound);
  }
  return bound ?? undefined;
}

/** node:http's llhttp parser on a socket it serves (`socket.parser`): the bytes of the current read. */
export interface SocketParser {
  getCurrentBuffer(): Buffer;
}

const isSocketParser = (value: unknown): value is SocketParser =>
  isObject(value) && typeof field(value, 'getCurrentBuffer') === 'function';

/** The parser's callbacks are numbered slots; the numbers are constants on its class. */
export interface LlhttpParser extends SocketParser {
  [slot: number]: unknown;
}

const isLlhttpParser = (value: unknown): value is LlhttpParser => isSocketParser(value);

/** Where llhttp's callbacks sit on node:http's parser of a socket, when this Node has them. */
export interface ParserSlots {
  parser: LlhttpParser;
  /** Called when a message begins. */
  kOnMessageBegin: number;
  /** Called after each read llhttp parsed itself. */
  kOnExecute: number;
  /** llhttp reads the socket itself (`parser._consumed`): no 'data' events. */
  consumed: boolean;
}

export function parserSlots(socket: object): ParserSlots | undefined {
  const parser = field(socket, 'parser');
  if (!isLlhttpParser(parser)) return undefined;
  const kinds = field(parser, 'constructor');
  if (!isObject(kinds)) return undefined;
  const kOnMessageBegin = field(kinds, 'kOnMessageBegin');
  const kOnExecute = field(kinds, 'kOnExecute');
  if (typeof kOnMessageBegin !== 'number' || typeof kOnExecute !== 'number') return undefined;
  return { parser, kOnMessageBegin, kOnExecute, consumed: Boolean(field(parser, '_consumed')) };
}

/** A parser callback, called the way llhttp calls it. */
export const isParserCallback = (value: unknown): value is (ret: unknown) => void => typeof value === 'function';

export function socketParser(socket: object): SocketParser | undefined {
  const parser = field(socket, 'parser');
  return isSocketParser(parser) ? parser : undefined;
}

/** What counts the bytes a socket has read: `bytesRead`. */
export interface ReadCounter {
  readonly bytesRead: number;
}

/**
 * The counter behind `socket.bytesRead`, to read once per read and per head: its libuv handle
 * (`socket._handle`, as node's own getter reads it), else the socket. node's getter reads `_handle`
 * through another getter, whose symbol-keyed load sees every kind of socket in the process and
 * goes megamorphic: two such loads cost about 470 instructions per call in a worker
 * (bench/instructions-per-request.js), where the handle's own counter costs one native call. A
 * destroyed handle counts 0, which the head watch reads as a read it cannot judge by its length.
 */
export function readCounter(socket: Socket): ReadCounter {
  const handle = field(socket, '_handle');
  return isObject(handle) && typeof field(handle, 'bytesRead') === 'number' ? (handle as ReadCounter) : socket;
}

/** The head node:http serialized for a response (`res._header`, stable since Node 0.x), once written. */
export function writtenHead(res: object): string | undefined {
  const head = field(res, '_header');
  return typeof head === 'string' ? head : undefined;
}

/**
 * `socket.bytesWritten`, without its cost when nothing is queued (nearly always, between responses):
 * node's getter copies the write queue into a new array on every call. Then the count is node's
 * `_bytesDispatched`; the getter where that field is missing.
 */
export function bytesWritten(socket: Socket): number {
  // Read directly, not through field(): this runs twice per request, and a property load at this
  // one site stays monomorphic where Reflect.get does not.
  const queued = socket as Socket & { _bytesDispatched?: unknown; _pendingData?: unknown };
  if (queued.writableLength === 0 && queued._pendingData == null) {
    const dispatched = queued._bytesDispatched;
    if (typeof dispatched === 'number') return dispatched;
  }
  return socket.bytesWritten;
}

/**
 * How far the client has taken a socket's answers, as two counts that move only when it reads: the
 * bytes of node's completed writes (written less still buffered or in flight), which only grows,
 * and the bytes waiting in libuv's queue (`_handle.writeQueueSize`, which falls as the kernel takes
 * a large write piece by piece; for TLS, the queue of the TCP socket beneath), NaN where unknown.
 */
export function sendProgress(socket: Socket): { done: number; queued: number } {
  const handle = field(tlsParent(socket) ?? socket, '_handle');
  const queued = isObject(handle) ? field(handle, 'writeQueueSize') : undefined;
  return {
    done: (socket.bytesWritten ?? 0) - socket.writableLength,
    queued: typeof queued === 'number' ? queued : Number.NaN,
  };
}

/** The TCP socket a TLS server wrapped (`tlsSocket._parent`): the one gserve accepted. */
export function tlsParent(socket: object): Socket | undefined {
  const parent = field(socket, '_parent');
  return parent instanceof Socket ? parent : undefined;
}

/** The transport under a `ws` WebSocket (`ws._socket`): its write buffer is where back-pressure shows. */
export function webSocketTransport(ws: object): Duplex | undefined {
  const transport = field(ws, '_socket');
  return transport instanceof Duplex ? transport : undefined;
}

type Latin1Slice = (this: Buffer, start: number, end: number) => string;
const isLatin1Slice = (value: unknown): value is Latin1Slice => typeof value === 'function';

/**
 * Buffer's latin1 decoder without toString()'s argument juggling (`Buffer.prototype.latin1Slice`,
 * present and untyped in every Node gserve supports); toString() where it is missing.
 */
export function latin1Decoder(): (buf: Buffer, start: number, end: number) => string {
  const slice = field(Buffer.prototype, 'latin1Slice');
  if (isLatin1Slice(slice)) return (buf, start, end) => slice.call(buf, start, end);
  return (buf, start, end) => buf.toString('latin1', start, end);
}

/**
 * The `onread` option of `net.connect()` (public since Node 12: the handle reads into one buffer
 * the caller gives, and hands each read to a callback), which an accepted socket cannot be given
 * at creation. It is stored in the socket's own `kBuffer` and `kBufferCb` symbol fields, and the
 * handle is told with `useUserBuffer()`; this sets the same. Undefined where any part is missing:
 * a TLS socket, a stream, a Node that changed them.
 */
export function userBufferReads(
  socket: Socket,
): ((buffer: Buffer, onRead: (bytes: number, buffer: Buffer) => unknown) => void) | undefined {
  const handle = field(socket, '_handle');
  const useUserBuffer = isObject(handle) ? field(handle, 'useUserBuffer') : undefined;
  if (typeof useUserBuffer !== 'function') return undefined;
  const keys = (onreadKeys ??= findOnreadKeys(socket));
  if (!keys || !Object.hasOwn(socket, keys.buffer) || !Object.hasOwn(socket, keys.callback)) return undefined;
  return (buffer, onRead) => {
    Reflect.set(socket, keys.buffer, buffer);
    Reflect.set(socket, keys.callback, onRead);
    Reflect.apply(useUserBuffer, handle, [buffer]);
  };
}

/** net.js's `kBuffer` and `kBufferCb`, the same symbols on every socket: looked up on the first one. */
let onreadKeys: { buffer: symbol; callback: symbol } | null | undefined;

function findOnreadKeys(socket: Socket): { buffer: symbol; callback: symbol } | null {
  const keys = Object.getOwnPropertySymbols(socket);
  const buffer = keys.find((key) => key.description === 'kBuffer');
  const callback = keys.find((key) => key.description === 'kBufferCb');
  return buffer && callback ? { buffer, callback } : null;
}
