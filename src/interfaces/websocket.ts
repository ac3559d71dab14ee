import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { ResponseError } from '../errors.js';
import { isCatchable } from '../http/app-values.js';
import { webSocketTransport } from '../http/node-internals.js';
import { checkResponseHead } from '../http/response-framing.js';

/**
 * WebSocket for every interface, on `ws` in noServer mode: the HTTP side (gserve's engine or
 * node:http) hands over the socket and the bytes after the request head, `ws` does the handshake
 * and the framing. The hub adds what a server needs on top: pings with a pong deadline, a
 * message-size limit (1009), and closing every open socket with 1001 at a graceful stop.
 */

export interface WebSocketOptions {
  /** Largest message in bytes; larger closes with 1009. */
  maxPayload: number;
  /** Ping period in ms; 0 disables. */
  pingInterval: number;
  /** Time a peer has to answer a ping, in ms. */
  pingTimeout: number;
  perMessageDeflate: boolean;
}

/** What a WebSocket handshake is read from: gserve's engine request. */
interface HandshakeRequest {
  readonly method: string;
  readonly httpVersion: string;
  readonly rawHeaders: readonly string[];
}

/** A field's value when the head has it exactly once: `ws` refuses a repeated key or version. */
function onlyValue(req: HandshakeRequest, lower: string): string | undefined {
  let found: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== lower.length || raw[i]!.toLowerCase() !== lower) continue;
    if (found !== undefined) return undefined;
    found = raw[i + 1]!.trim();
  }
  return found;
}

/** Why a request that asks for a WebSocket cannot have one, answered before any app code runs. */
export interface HandshakeFault {
  status: 400 | 426;
  reason: string;
}

const HANDSHAKE_KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * RFC 6455 §4.2.1: an HTTP/1.1 GET with a Sec-WebSocket-Key of 16 bytes in base64 and version 13.
 * `ws` checks these too, but only when the app accepts: an ASGI app was called with
 * `websocket.connect` for a handshake that could never open, its accept resolved, and the client got
 * `ws`'s own HTML refusal (Uvicorn refuses it before the app runs). HTTP/1.0 and version 8 passed.
 */
export function handshakeFault(req: HandshakeRequest): HandshakeFault | null {
  if (req.httpVersion === '1.0') return { status: 400, reason: 'a WebSocket handshake needs HTTP/1.1' };
  if (req.method !== 'GET') return { status: 400, reason: `a WebSocket handshake is a GET, not ${req.method}` };
  if (!HANDSHAKE_KEY.test(onlyValue(req, 'sec-websocket-key') ?? ''))
    return { status: 400, reason: 'Sec-WebSocket-Key must be one field of 16 bytes in base64' };
  if (onlyValue(req, 'sec-websocket-version') !== '13')
    return { status: 426, reason: 'only WebSocket version 13 is served (Sec-WebSocket-Version: 13)' };
  return null;
}

/** Answers a handshake that cannot open (handshakeFault), as plain text naming the rule. */
export function refuseHandshake(
  res: { writeHead(status: number, headers: Array<[string, string]>): { end(body: string): void } },
  fault: HandshakeFault,
): void {
  const headers: Array<[string, string]> = [['content-type', 'text/plain; charset=utf-8']];
  if (fault.status === 426) headers.push(['sec-websocket-version', '13']);
  res.writeHead(fault.status, headers).end(`${fault.reason}\n`);
}

/** Per-handshake choices: the subprotocol to answer with, and extra response headers. */
export interface AcceptOptions {
  protocol?: string | null;
  headers?: Array<[string, string]>;
}

/** Fields of the 101 that `ws` writes itself: an app's copy would make a second, conflicting one. */
const HANDSHAKE_FIELDS = new Set([
  'connection',
  'upgrade',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * An app's handshake choices, checked before the socket leaves HTTP (the app's failure is then
 * still answered with a 500): its extra headers as any response's are (a line break in a value
 * would put fields of a client's making into the 101), and the subprotocol against those the
 * client offered, since a client fails a connection whose subprotocol it did not ask for (RFC 6455
 * §4.1). Throws a ResponseError naming the problem.
 */
export function checkAcceptOptions(opts: AcceptOptions, offered: readonly string[]): void {
  const headers = opts.headers ?? [];
  checkResponseHead(headers);
  for (const [name] of headers)
    if (HANDSHAKE_FIELDS.has(name.toLowerCase()))
      throw new ResponseError(
        'GSERVE_E_RESPONSE_HEADER',
        `the WebSocket handshake's own field ${JSON.stringify(name)} cannot be set by the app: ` +
          "choose a subprotocol with the accept's subprotocol instead, and leave the others to the server",
      );
  const { protocol } = opts;
  if (protocol != null && !offered.includes(protocol))
    throw new ResponseError(
      'GSERVE_E_RESPONSE_HEADER',
      `the WebSocket subprotocol ${JSON.stringify(protocol)} was not offered by the client ` +
        `(${offered.length ? `it offered ${offered.map((p) => JSON.stringify(p)).join(', ')}` : 'it offered none'}): ` +
        'accept with one of those, or with none',
    );
}

/** The subprotocols a WebSocket request offers, in its order. */
export function offeredSubprotocols(header: string | undefined): string[] {
  return header
    ? header
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}

export const decodeReason = (reason: Buffer): string => reason.toString('utf8');
export const toBytes = (data: RawData): Buffer =>
  Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
export const toText = (data: RawData): string => toBytes(data).toString('utf8');

/**
 * `ws`, loaded by the first hub: it pulls in node's https, tls and zlib (about 15 MB of a worker's
 * memory), which a worker whose app never upgrades a connection should not pay for.
 */
function loadWs(): typeof import('ws') {
  return createRequire(import.meta.url)('ws');
}

export class WebSocketHub {
  private readonly wss: WebSocketServer;
  private readonly open = new Set<WebSocket>();
  /** The choices for each handshake under way, read back by `ws`'s hooks below. */
  private readonly choices = new WeakMap<IncomingMessage, AcceptOptions>();
  private closing = false;

  constructor(private readonly options: WebSocketOptions) {
    this.wss = new (loadWs().WebSocketServer)({
      noServer: true,
      clientTracking: false,
      maxPayload: options.maxPayload,
      perMessageDeflate: options.perMessageDeflate,
      handleProtocols: (_offered, req) => this.choices.get(req)?.protocol ?? false,
    });
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      for (const [name, value] of this.choices.get(req)?.headers ?? []) headers.push(`${name}: ${value}`);
    });
  }

  /** Completes the handshake; resolves with the open socket, or null when `ws` refused the request (it answered it). */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, opts: AcceptOptions = {}): Promise<WebSocket | null> {
    this.choices.set(req, opts);
    return new Promise((resolve) => {
      // Paused (node:http leaves an upgraded socket unpaused): ws's 'data' listener would otherwise
      // start the flow on the next tick, before the caller attached the app's handlers.
      socket.pause();
      // ws answers a bad handshake itself (400/426) and destroys the socket without calling back.
      socket.once('close', () => resolve(null));
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.track(ws, socket);
        resolve(ws);
      });
      // ws has its listener now. The app's handlers attach once this promise settles: bytes the
      // client sent with its handshake wait until then, or a message was dropped and a bad frame's
      // error had no listener (on -k thread it killed the app thread).
      setImmediate(() => socket.resume());
    });
  }

  private track(ws: WebSocket, socket: Duplex): void {
    // ws closes the connection on a protocol error itself (1002, 1009); an 'error' nobody listens to
    // would throw, for a handler that does not listen to it.
    ws.on('error', () => {});
    this.open.add(ws);
    ws.on('close', () => this.open.delete(ws));
    if (this.closing) ws.close(1001, 'Server shutting down');
    else this.keepAlive(ws, socket);
  }

  /**
   * Pings every interval; a peer that has not answered within the timeout is dropped. A pong is
   * only the last proof of life, and it can wait behind others: behind the rest of a large message
   * the peer is still sending (any byte from it counts), or unread while the socket is paused, for an
   * ASGI app that has stopped taking messages (WebSocketInbox). Then the next interval pings again.
   */
  private keepAlive(ws: WebSocket, socket: Duplex): void {
    const { pingInterval, pingTimeout } = this.options;
    if (pingInterval <= 0) return;
    let deadline: NodeJS.Timeout | null = null;
    let heard = false;
    socket.on('data', () => {
      heard = true;
    });
    const ticker = setInterval(() => {
      if (deadline) return; // still waiting for the last pong
      heard = false;
      ws.ping();
      deadline = setTimeout(() => {
        deadline = null;
        if (!heard && !ws.isPaused) ws.terminate();
      }, pingTimeout);
    }, pingInterval);
    ws.on('pong', () => {
      if (deadline) clearTimeout(deadline);
      deadline = null;
    });
    ws.on('close', () => {
      clearInterval(ticker);
      if (deadline) clearTimeout(deadline);
    });
  }

  /** A graceful stop: every open socket gets a close frame with 1001 (going away). */
  closeAll(): void {
    this.closing = true;
    for (const ws of this.open) ws.close(1001, 'Server shutting down');
  }

  get size(): number {
    return this.open.size;
  }
}

/** The `websocket` handlers a node app may export next to its (req, res) listener. */
export interface NodeWebSocketHandlers {
  open?(ws: WebSocket, req: IncomingMessage): unknown;
  /** Text frames arrive in strings, binary frames in Buffers. */
  message?(ws: WebSocket, data: string | Buffer, isBinary: boolean): unknown;
  close?(ws: WebSocket, code: number, reason: string): unknown;
  error?(ws: WebSocket, err: Error): unknown;
}

/** Wires node-style handlers to an open socket; handler errors are reported, never thrown into `ws`. */
/** Calls an app's handler, sending a throw or a rejection to `onError` instead of into `ws`. */
const guarded =
  (onError: (err: unknown) => void) =>
  (fn: () => unknown): void => {
    try {
      const out = fn();
      if (isCatchable(out)) out.catch(onError);
    } catch (err) {
      onError(err);
    }
  };

export function runNodeHandlers(
  ws: WebSocket,
  req: IncomingMessage,
  handlers: NodeWebSocketHandlers,
  onError: (err: unknown) => void,
): void {
  const call = guarded(onError);
  ws.on('message', (data, isBinary) =>
    call(() => handlers.message?.(ws, isBinary ? toBytes(data) : toText(data), isBinary)),
  );
  ws.on('close', (code, reason) => call(() => handlers.close?.(ws, code, decodeReason(reason))));
  ws.on('error', (err) => call(() => handlers.error?.(ws, err)));
  call(() => handlers.open?.(ws, req));
}

// ---- Bun's convention, for fetch apps ----

/** Bun's `websocket` handlers: `export default { fetch(req, server) {...}, websocket: { open, message, close } }`. */
export interface BunWebSocketHandlers {
  open?(ws: BunSocket): unknown;
  message?(ws: BunSocket, message: string | Buffer): unknown;
  close?(ws: BunSocket, code: number, reason: string): unknown;
  ping?(ws: BunSocket, data: Buffer): unknown;
  pong?(ws: BunSocket, data: Buffer): unknown;
  /** After a send returned -1 (back-pressure): the socket has written its backlog out; send more. */
  drain?(ws: BunSocket): unknown;
  /** Bytes a socket may have queued before sends are dropped (return 0). Bun's default: 16 MiB. Checked where read. */
  backpressureLimit?: unknown;
  /** Close the connection instead of dropping, once the limit is reached (Bun's default: false). Checked where read. */
  closeOnBackpressureLimit?: unknown;
}

/** Bun's default `backpressureLimit`. */
export const DEFAULT_BACKPRESSURE_LIMIT = 16 * 1024 * 1024;

/** `send()` results, with Bun's meaning. */
export const SEND_DROPPED = 0;
export const SEND_BACKPRESSURE = -1;

/** In-process pub/sub topics, like Bun's `ws.subscribe`/`server.publish` (one worker's sockets only). */
export class Topics {
  private readonly members = new Map<string, Set<BunSocket>>();
  subscribe(topic: string, ws: BunSocket): void {
    let set = this.members.get(topic);
    if (!set) this.members.set(topic, (set = new Set()));
    set.add(ws);
  }
  unsubscribe(topic: string, ws: BunSocket): void {
    const set = this.members.get(topic);
    set?.delete(ws);
    if (set?.size === 0) this.members.delete(topic);
  }
  isSubscribed(topic: string, ws: BunSocket): boolean {
    return this.members.get(topic)?.has(ws) ?? false;
  }
  publish(topic: string, message: string | Uint8Array | ArrayBuffer, except?: BunSocket): number {
    let sent = 0;
    for (const ws of this.members.get(topic) ?? []) if (ws !== except) sent += Math.max(ws.send(message), 0);
    return sent;
  }
  leaveAll(ws: BunSocket): void {
    for (const topic of [...this.members.keys()]) this.unsubscribe(topic, ws);
  }
}

/**
 * The subset of Bun's ServerWebSocket that gserve provides, over a `ws` socket.
 *
 * `send()` answers like Bun's does: the byte count when the message went out, -1 when it was queued
 * behind unsent data (back-pressure: it will be delivered; the `drain` handler says when to go
 * on), 0 when it was dropped: the socket is not open, or its queue is at `backpressureLimit` (then
 * nothing is queued, so the app knows exactly which messages the client will get).
 */
export class BunSocket<T = unknown> {
  private wantsDrain = false;
  constructor(
    private readonly ws: WebSocket,
    public data: T,
    readonly remoteAddress: string,
    private readonly topics: Topics,
    private readonly limits: { backpressureLimit: number; closeOnBackpressureLimit: boolean } = {
      backpressureLimit: DEFAULT_BACKPRESSURE_LIMIT,
      closeOnBackpressureLimit: false,
    },
  ) {}
  get readyState(): number {
    return this.ws.readyState;
  }
  /** Bytes still queued for the client. */
  getBufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
  send(message: string | Uint8Array | ArrayBuffer, compress?: boolean): number {
    if (this.ws.readyState !== this.ws.OPEN) return SEND_DROPPED;
    if (this.ws.bufferedAmount >= this.limits.backpressureLimit) {
      this.wantsDrain = true;
      if (this.limits.closeOnBackpressureLimit) this.ws.terminate();
      return SEND_DROPPED;
    }
    const size = typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength;
    this.ws.send(message, { compress, binary: typeof message !== 'string' });
    // The transport's own signal: past its high-water mark it will emit 'drain' once written out.
    if (webSocketTransport(this.ws)?.writableNeedDrain) {
      this.wantsDrain = true;
      return SEND_BACKPRESSURE;
    }
    return size;
  }
  /** Called on the transport's 'drain': true once per back-pressure episode the app saw. */
  takeDrain(): boolean {
    if (!this.wantsDrain || this.ws.readyState !== this.ws.OPEN) return false;
    this.wantsDrain = false;
    return true;
  }
  sendText(message: string, compress?: boolean): number {
    return this.send(message, compress);
  }
  sendBinary(message: Uint8Array | ArrayBuffer, compress?: boolean): number {
    return this.send(message, compress);
  }
  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
  terminate(): void {
    this.ws.terminate();
  }
  ping(data?: string | Uint8Array): void {
    this.ws.ping(data);
  }
  subscribe(topic: string): void {
    this.topics.subscribe(topic, this);
  }
  unsubscribe(topic: string): void {
    this.topics.unsubscribe(topic, this);
  }
  isSubscribed(topic: string): boolean {
    return this.topics.isSubscribed(topic, this);
  }
  /** Sends to every other subscriber of `topic` (Bun excludes the publisher). */
  publish(topic: string, message: string | Uint8Array | ArrayBuffer): number {
    return this.topics.publish(topic, message, this);
  }
}

export function runBunHandlers(
  socket: BunSocket,
  ws: WebSocket,
  handlers: BunWebSocketHandlers,
  topics: Topics,
  onError: (err: unknown) => void,
): void {
  const call = guarded(onError);
  ws.on('message', (data, isBinary) => call(() => handlers.message?.(socket, isBinary ? toBytes(data) : toText(data))));
  ws.on('close', (code, reason) => {
    topics.leaveAll(socket);
    call(() => handlers.close?.(socket, code, decodeReason(reason)));
  });
  ws.on('ping', (data) => call(() => handlers.ping?.(socket, data)));
  ws.on('pong', (data) => call(() => handlers.pong?.(socket, data)));
  ws.on('error', () => {}); // 'close' follows with the code
  webSocketTransport(ws)?.on('drain', () => {
    if (socket.takeDrain()) call(() => handlers.drain?.(socket));
  });
  call(() => handlers.open?.(socket));
}

/**
 * One of gserve's engine requests the way `ws` reads an upgrade request: a node IncomingMessage
 * with its method, URL and lower-case headers (repeated ones joined).
 */
export function engineUpgradeRequest(req: {
  method: string;
  url: string;
  rawHeaders: string[];
  socket: Socket;
}): IncomingMessage {
  const headers: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    headers[name] = name in headers ? `${headers[name]}, ${raw[i + 1]}` : raw[i + 1]!;
  }
  const message = new IncomingMessage(req.socket);
  message.method = req.method;
  message.url = req.url;
  message.headers = headers;
  message.rawHeaders = raw;
  return message;
}
