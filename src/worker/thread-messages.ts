/**
 * What the worker's main thread and its app threads say to each other. The main thread owns the
 * client sockets and parses each request once; an app thread gets the parsed head, then the body in
 * chunks, and answers with its status and headers, then body chunks. Both directions are
 * flow-controlled by a window of unacknowledged bytes ("credit"), so neither side buffers more than
 * a window per request, whatever the client or the app does.
 *
 * Only an upgraded connection (WebSocket) still travels in raw bytes (a tunnel): its protocol is
 * spoken by the app thread's own HTTP implementation on an in-memory socket.
 */

import type { BootSettings } from './boot.js';

/** What a thread is started with (worker_threads workerData). */
export interface ThreadBoot {
  settings: BootSettings;
  cwd: string;
  /** The scheme of each listener, by listener index. */
  schemes: Array<'http' | 'https'>;
}

/** One thread's workerData: the pool's boot, and the cells for requests handed to it ahead of time (thread-claim.ts). */
export interface ThreadStart extends ThreadBoot {
  claim: SharedArrayBuffer;
}

export interface Peer {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  /** The connection is TLS: the app's socket says so, like node's does (Express's `req.protocol`). */
  encrypted?: boolean;
  remoteFamily?: string;
  /** Came in on a `unix:` listener: its forwarded headers are trusted (src/http/proxy.ts). */
  unixPeer?: boolean;
  /** The listening socket's path, for a `unix:` listener (WSGI SERVER_NAME, ASGI `server`). */
  unixPath?: string;
}

/** The request head that the main thread's engine parsed. */
export interface RequestHead {
  method: string;
  url: string;
  httpVersion: string;
  /** Names and values, alternating, in the order received. */
  rawHeaders: string[];
  /** The target as sent, when `url` is not it (an absolute form: EngineRequest.rawTarget). */
  rawTarget?: string;
  keepAlive: boolean;
  /** An upgrade request: the connection becomes a byte tunnel to the thread (`raw` messages). */
  upgrade: boolean;
}

export type HeaderList = Array<[string, string]>;

/**
 * Body bytes either side may have sent and not yet had acknowledged. Past it, the sender waits: the
 * main thread stops reading the client's body (so TCP holds the client back), the app's writes wait.
 */
export const WINDOW_BYTES = 256 * 1024;
/** Bytes gathered into one message before it is posted (smaller writes of one turn travel together). */
export const BATCH_BYTES = 64 * 1024;

export type ToThread =
  /**
   * A new request. `end`: no body follows (or all of it is in `chunk`). `ahead`: handed over while
   * the thread is busy, with the claim cell to take it by once the thread is free (thread-claim.ts).
   */
  | {
      t: 'open';
      id: number;
      listener: number;
      head: RequestHead;
      peer: Peer;
      chunk?: Uint8Array;
      end?: boolean;
      ahead?: number;
    }
  /**
   * Request body bytes (for a tunnel: the client's raw bytes); `end`: the body is complete.
   * `trailers`: with `end`, the fields after a chunked body, names and values alternating.
   */
  | { t: 'body'; id: number; chunk?: Uint8Array; end?: boolean; trailers?: string[] }
  /** The client went away (`refused`: gserve refused the rest of the body): drop the request. */
  | { t: 'abort'; id: number; refused?: boolean }
  /** `bytes` of the response have been written out to the client: the thread may send that much more. */
  | { t: 'credit'; id: number; bytes: number }
  /** The worker stops gracefully: the thread closes its WebSockets with 1001, as the engine does. */
  | { t: 'drain' }
  /**
   * No request is left: the thread runs its app's shutdown (close(), its SIGTERM listeners, the ASGI
   * lifespan shutdown) within `ms`, as a worker process does, then exits.
   */
  | { t: 'shutdown'; ms: number };

export type FromThread =
  | { t: 'ready' }
  /** The thread's event loop turns (sent while `--timeout` is on). */
  | { t: 'beat' }
  /** The app failed to load in this thread; the thread exits after sending this. */
  | { t: 'load-error'; code: string; message: string }
  /**
   * Part of the response: its head (first time only), body bytes, and whether it is complete. A
   * small response is one message: head, body and end together.
   */
  | {
      t: 'res';
      id: number;
      status?: number;
      headers?: HeaderList;
      /** A reason phrase of the app's own (WSGI), with the head. */
      reason?: string;
      chunk?: Uint8Array;
      end?: boolean;
      /**
       * With `end`: the app wrote before it ended, so the answer streams (chunked when no length), like
       * on the engine.
       */
      stream?: boolean;
      /** `status` and `headers` are a 1xx answer before the response (a node app's 103 Early Hints). */
      interim?: boolean;
      /** With `end`: fields to send after the body (a node app's `res.addTrailers()`). */
      trailers?: HeaderList;
    }
  /** The thread gave up on the response (an error after the head, or the client left): the request is over. */
  | { t: 'abandon'; id: number }
  /** The app took `bytes` of the request body: the main thread may send that much more. */
  | { t: 'credit'; id: number; bytes: number }
  /** Tunnel bytes from the app thread's side; `end`: that side closed, the tunnel is over. */
  | { t: 'raw'; id: number; chunk?: Uint8Array; end?: boolean };

/** Whether a message from a thread ends its exchange (the thread is free for the next request). */
export const endsExchange = (m: FromThread): boolean =>
  m.t === 'res' || m.t === 'raw' ? m.end === true : m.t === 'abandon';

/**
 * Gathers small chunks and posts them in one message per turn of the event loop, or per BATCH_BYTES.
 * Chunks are copied into one buffer when they come, so a flood of 1-byte chunks holds no object per
 * byte. What it posts owns its whole ArrayBuffer and is transferred, not cloned: posting a view of a
 * small Buffer clones the 8 KB pool slab under it, which is how 1 MiB sent in 1-byte chunks once
 * took 10 GB.
 */
export class Batcher {
  private buffer: Uint8Array | null = null;
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly post: (chunk: Uint8Array) => void) {}

  get pendingBytes(): number {
    return this.bytes;
  }

  add(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.append(chunk);
    // An app streaming on microtasks (awaiting writes) never reaches setImmediate: flush by size too.
    if (this.bytes >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Adds a chunk to go with the next `take()`, without scheduling a post (the caller takes at once). */
  append(chunk: Uint8Array): void {
    const size = chunk.byteLength;
    if (size === 0) return;
    const needed = this.bytes + size;
    if (!this.buffer || needed > this.buffer.byteLength) {
      // Exactly the first chunk's size (a whole small response moves unchanged), then doubling.
      const grown = new Uint8Array(
        new ArrayBuffer(this.buffer ? Math.max(needed, Math.min(2 * this.buffer.byteLength, BATCH_BYTES)) : needed),
      );
      if (this.buffer) grown.set(this.buffer.subarray(0, this.bytes));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.bytes);
    this.bytes = needed;
  }

  /** Everything gathered, in one buffer of its own (to be transferred), or undefined; without posting it. */
  take(): Uint8Array | undefined {
    if (this.bytes === 0) return undefined;
    const buffer = this.buffer!;
    // A full buffer moves unchanged; a partly filled one gives up a copy of its bytes and is reused.
    const out = this.bytes === buffer.byteLength ? buffer : buffer.slice(0, this.bytes);
    if (out === buffer) this.buffer = null;
    this.bytes = 0;
    return out;
  }

  flush(): void {
    const chunk = this.take();
    if (chunk) this.post(chunk);
  }

  clear(): void {
    this.buffer = null;
    this.bytes = 0;
  }
}

/** The transfer list for a message carrying `chunk`: its ArrayBuffer moves instead of being copied. */
export const transferOf = (chunk: Uint8Array | undefined): ArrayBuffer[] =>
  chunk?.buffer instanceof ArrayBuffer ? [chunk.buffer] : [];

// ---- the wire form ----
// Messages travel in flat arrays: postMessage clones them two to three times faster than the nested
// objects above (measured: 7-11 µs against 18-34 µs for a request's `open`), and the main thread,
// which serves every connection, posts at least one per request. Rare messages stay objects.

const OPEN = 0;
const BODY = 1;
const ABORT = 2;
const CREDIT = 3;
const RES = 4;
const ABANDON = 5;
const RAW = 6;

const EMPTY_HEADERS: string[] = [];

type Chunk = Uint8Array | undefined;
type OpenWire = [
  kind: typeof OPEN,
  id: number,
  listener: number,
  /** 1: end, 2: keep-alive, 4: upgrade, 8: encrypted, 16: unix peer; above those, 1 + the `ahead` cell. */
  flags: number,
  chunk: Chunk,
  method: string,
  url: string,
  httpVersion: string,
  remoteAddress: string | undefined,
  remotePort: number | undefined,
  remoteFamily: string | undefined,
  localAddress: string | undefined,
  localPort: number | undefined,
  unixPath: string | undefined,
  rawTarget: string | undefined,
  ...rawHeaders: string[],
];
/** `trailers`: only when the body had some. */
type BodyWire = [kind: typeof BODY, id: number, chunk: Chunk, end: boolean, trailers?: string[]];
type AbortWire = [kind: typeof ABORT, id: number, refused: boolean];
type CreditWire = [kind: typeof CREDIT, id: number, bytes: number];
/**
 * `headers`: names and values, alternating; null when this part carries no head. `flags`: 1 end, 2
 * stream, 4 interim. `reason`: only when the app gave its own (else '' before trailers). `trailers`:
 * like `headers`, only when the app added some.
 */
type ResWire = [
  kind: typeof RES,
  id: number,
  status: number,
  headers: string[] | null,
  chunk: Chunk,
  flags: number,
  reason?: string,
  trailers?: string[],
];
type AbandonWire = [kind: typeof ABANDON, id: number];
type RawWire = [kind: typeof RAW, id: number, chunk: Chunk, end: boolean];
/** The rare messages from a thread, which travel unchanged, objects. */
type RareFromThread = Extract<FromThread, { t: 'ready' | 'beat' | 'load-error' }>;

/** What the main thread posts to an app thread. */
export type ToThreadWire =
  | OpenWire
  | BodyWire
  | AbortWire
  | CreditWire
  | Extract<ToThread, { t: 'drain' | 'shutdown' }>;
/** What an app thread posts to the main thread. */
export type FromThreadWire = ResWire | AbandonWire | CreditWire | RawWire | RareFromThread;

export function encodeToThread(m: ToThread): ToThreadWire {
  switch (m.t) {
    case 'open': {
      const { head, peer } = m;
      const flags =
        (m.end ? 1 : 0) |
        (head.keepAlive ? 2 : 0) |
        (head.upgrade ? 4 : 0) |
        (peer.encrypted ? 8 : 0) |
        (peer.unixPeer ? 16 : 0) |
        ((m.ahead === undefined ? 0 : m.ahead + 1) << 5);
      const out: OpenWire = [
        OPEN,
        m.id,
        m.listener,
        flags,
        m.chunk,
        head.method,
        head.url,
        head.httpVersion,
        peer.remoteAddress,
        peer.remotePort,
        peer.remoteFamily,
        peer.localAddress,
        peer.localPort,
        peer.unixPath,
        head.rawTarget,
      ];
      for (const value of head.rawHeaders) out.push(value);
      return out;
    }
    case 'body':
      return m.trailers?.length
        ? [BODY, m.id, m.chunk, m.end === true, m.trailers]
        : [BODY, m.id, m.chunk, m.end === true];
    case 'abort':
      return [ABORT, m.id, m.refused === true];
    case 'credit':
      return [CREDIT, m.id, m.bytes];
    case 'drain':
    case 'shutdown':
      return m; // once per stop: sent unchanged
  }
}

function decodeOpen(w: OpenWire): ToThread {
  const [, id, listener, flags, chunk, method, url, httpVersion, remoteAddress, remotePort, remoteFamily] = w;
  const [, , , , , , , , , , , localAddress, localPort, unixPath, rawTarget, ...rawHeaders] = w;
  const peer: Peer = {
    remoteAddress,
    remotePort,
    remoteFamily,
    localAddress,
    localPort,
    encrypted: (flags & 8) !== 0,
    unixPeer: (flags & 16) !== 0,
  };
  if (unixPath !== undefined) peer.unixPath = unixPath;
  const head: RequestHead = {
    method,
    url,
    httpVersion,
    rawHeaders,
    keepAlive: (flags & 2) !== 0,
    upgrade: (flags & 4) !== 0,
  };
  if (rawTarget !== undefined) head.rawTarget = rawTarget;
  const open: ToThread = { t: 'open', id, listener, head, peer };
  if (chunk !== undefined) open.chunk = chunk;
  if (flags & 1) open.end = true;
  if (flags >> 5) open.ahead = (flags >> 5) - 1;
  return open;
}

export function decodeToThread(w: ToThreadWire): ToThread {
  if (!Array.isArray(w)) return w;
  switch (w[0]) {
    case OPEN:
      return decodeOpen(w);
    case BODY:
      return w[4]
        ? { t: 'body', id: w[1], chunk: w[2], end: w[3], trailers: w[4] }
        : { t: 'body', id: w[1], chunk: w[2], end: w[3] };
    case ABORT:
      return { t: 'abort', id: w[1], refused: w[2] };
    case CREDIT:
      return { t: 'credit', id: w[1], bytes: w[2] };
  }
}

export function encodeFromThread(m: FromThread): FromThreadWire {
  switch (m.t) {
    case 'res': {
      const flags = (m.end ? 1 : 0) | (m.stream ? 2 : 0) | (m.interim ? 4 : 0);
      const wire: ResWire = [RES, m.id, m.status ?? 0, m.headers ? flatten(m.headers) : null, m.chunk, flags];
      if (m.reason || m.trailers) wire.push(m.reason ?? '');
      if (m.trailers) wire.push(flatten(m.trailers));
      return wire;
    }
    case 'abandon':
      return [ABANDON, m.id];
    case 'credit':
      return [CREDIT, m.id, m.bytes];
    case 'raw':
      return [RAW, m.id, m.chunk, m.end === true];
    default:
      return m; // ready, beat, load-error: rare, sent unchanged
  }
}

/** Header fields as names and values, alternating: what travels. */
function flatten(headers: HeaderList): string[] {
  if (headers.length === 0) return EMPTY_HEADERS;
  const flat: string[] = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}

function pairs(flat: string[]): HeaderList {
  const headers: HeaderList = [];
  for (let i = 0; i + 1 < flat.length; i += 2) headers.push([flat[i] ?? '', flat[i + 1] ?? '']);
  return headers;
}

function decodeRes(w: ResWire): FromThread {
  const [, id, status, flat, chunk, flags, reason, trailers] = w;
  const m: Extract<FromThread, { t: 'res' }> = { t: 'res', id };
  if (flat) {
    m.status = status;
    m.headers = pairs(flat);
    if (reason) m.reason = reason;
  }
  if (trailers) m.trailers = pairs(trailers);
  if (chunk !== undefined) m.chunk = chunk;
  if (flags & 1) m.end = true;
  if (flags & 2) m.stream = true;
  if (flags & 4) m.interim = true;
  return m;
}

export function decodeFromThread(w: FromThreadWire): FromThread {
  if (!Array.isArray(w)) return w;
  switch (w[0]) {
    case RES:
      return decodeRes(w);
    case ABANDON:
      return { t: 'abandon', id: w[1] };
    case CREDIT:
      return { t: 'credit', id: w[1], bytes: w[2] };
    case RAW:
      return { t: 'raw', id: w[1], chunk: w[2], end: w[3] };
  }
}
