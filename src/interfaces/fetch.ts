import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { UncalledFactoryError } from '../errors.js';
import { appLike, isThenable, kindOf } from '../http/app-values.js';
import { requestClient, type TrustedPeers } from '../http/proxy.js';
import type { EngineHandler, EngineRequest, EngineResponse, HeaderList } from '../http/engine.js';
import type { HostedApp } from './detect.js';
import type { WorkerRuntime } from './runtime.js';
import {
  FastResponse,
  LazyRequest,
  NativeRequest,
  installFastGlobals,
  type FastBody,
  type HeadersInit,
  type RequestSource,
} from './fetch-globals.js';
import {
  BunSocket,
  DEFAULT_BACKPRESSURE_LIMIT,
  Topics,
  checkAcceptOptions,
  engineUpgradeRequest,
  handshakeFault,
  offeredSubprotocols,
  runBunHandlers,
  type WebSocketHub,
} from './websocket.js';

type FetchApp = Extract<HostedApp, { kind: 'fetch' }>;

/**
 * The absolute URL a fetch app sees; the Host header names the authority, the way browsers sent it; the
 * scheme is the listener's, or a trusted proxy's X-Forwarded-Proto / Forwarded.
 */
export function requestUrl(req: EngineRequest, trusted: TrustedPeers): string {
  let host = req.header('host');
  // HTTP/1.0 may omit Host, and HTTP/1.1 may send it empty (RFC 9112 §3.2): name the listening address
  // (bracketed when IPv6; a Unix socket has none). An empty one kept would make `http:///a/b`, whose
  // path's first segment a URL parser reads as the host.
  if (!host) {
    const address = req.socket.localAddress;
    host = address ? `${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort}` : 'localhost';
  }
  const { scheme } = requestClient(req, trusted);
  return `${scheme}://${host}${urlPath(req.url)}`;
}

/**
 * A request target as the path of an absolute URL. `OPTIONS *` (the server as a whole) has no path:
 * joined as it is, `http://host:8000*` is no URL, and the app's first touch of the request threw.
 * It becomes `/*`, what `new URL('*', origin)` makes of it, as Node's docs build a URL from req.url.
 */
export const urlPath = (target: string): string => (target === '*' ? '/*' : target);

function requestHeaders(req: EngineRequest): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/** The real Request, with a streamed body and a signal that aborts when the client leaves. */
function buildRequest(req: EngineRequest, headers: Headers, trusted: TrustedPeers): Request {
  const controller = new AbortController();
  req.onAbort(() => controller.abort(new Error('The client disconnected')));
  const withBody = req.hasBody && req.method !== 'GET' && req.method !== 'HEAD';
  const init: RequestInit & { duplex: 'half' } = {
    method: req.method,
    headers,
    body: withBody ? Readable.toWeb(req.body) : null,
    duplex: 'half',
    signal: controller.signal,
  };
  return new NativeRequest(requestUrl(req, trusted), init);
}

/** A LazyRequest that remembers the engine's request, for `server.upgrade()` and `server.requestIP()`. */
class EngineLazyRequest extends LazyRequest {
  constructor(
    source: RequestSource,
    readonly engineRequest: EngineRequest,
  ) {
    super(source);
  }
}

/** The request a fetch app receives: a LazyRequest over the engine's parsed head (see fetch-globals.ts). */
export function toWebRequest(req: EngineRequest, trusted: TrustedPeers): LazyRequest {
  const source: RequestSource = {
    method: req.method,
    url: () => requestUrl(req, trusted),
    headers: () => requestHeaders(req),
    build: (headers) => buildRequest(req, headers, trusted),
  };
  return new EngineLazyRequest(source, req);
}

function headerList(headers: Headers): HeaderList {
  const out: HeaderList = [];
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') out.push([name, value]);
  });
  for (const cookie of headers.getSetCookie()) out.push(['set-cookie', cookie]);
  return out;
}

/** Headers in the form given to `new Response(body, { headers })`, without building a Headers object. */
/** As the Headers class keeps a value: a string, without the spaces, tabs, CRs and LFs around it. */
function headerValue(value: unknown): string {
  const text = String(value);
  const last = text.length - 1;
  return last >= 0 && (text.charCodeAt(0) <= 0x20 || text.charCodeAt(last) <= 0x20)
    ? text.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')
    : text;
}

function initHeaderList(init: HeadersInit | undefined, body: FastBody): HeaderList {
  let out: HeaderList;
  if (init === undefined) out = [];
  else if (init instanceof Headers) out = headerList(init);
  else if (Array.isArray(init)) out = init.map(([name, value]) => [name!, headerValue(value)]);
  else {
    out = [];
    for (const name in init) {
      // A JavaScript app may give numbers too: each value becomes a string, like in the Headers class.
      const value: unknown = init[name];
      if (Array.isArray(value)) for (const v of value) out.push([name, headerValue(v)]);
      else out.push([name, headerValue(value)]);
    }
  }
  // What the native Response would add for a string body.
  if (typeof body === 'string' && !out.some(([name]) => name.length === 12 && name.toLowerCase() === 'content-type')) {
    out.push(['content-type', 'text/plain;charset=UTF-8']);
  }
  return out;
}

/** Writes a FastResponse's kept string/bytes body at once; false when it has none to write. */
function writeKept(response: FastResponse, res: EngineResponse): boolean {
  const kept = response.kept();
  if (!kept) return false;
  res.writeHead(kept.status, kept.real ? headerList(kept.real.headers) : initHeaderList(kept.headers, kept.body));
  res.end(kept.body ?? undefined);
  return true;
}

/**
 * The head of a streamed Response: its headers, and a Content-Length where the body's size was known
 * from its init (a Blob, an ArrayBuffer) and the app gave none, so that it is not sent chunked. One
 * the app gave that is not that size is its error, refused before the head: a longer one was a head
 * sent with the body cut short under it (an answer to HEAD, which sends no body, keeps the app's).
 */
export function streamedHead(response: Response, head = false): HeaderList {
  const headers = headerList(response.headers);
  const size = FastResponse.isFast(response) ? response.streamedSize() : undefined;
  if (size === undefined) return headers;
  const own = headers.find(([name]) => name === 'content-length');
  if (!own) headers.push(['content-length', String(size)]);
  else if (!head && own[1].trim() !== String(size))
    throw new TypeError(
      `the response's Content-Length (${own[1]}) is not the size of its body (${size} bytes): leave it out, gserve sets it`,
    );
  return headers;
}

/**
 * A chunk read from a Response's body stream, refused unless it is bytes. A string too: the fetch
 * standard's body is a stream of Uint8Arrays, and node's own Response (undici), Deno and Workers
 * refuse a string (`await response.text()` throws), so an app that enqueues one works nowhere else.
 */
export function bodyChunk(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError(
    typeof value === 'string'
      ? "the response's body stream gave a string: a ReadableStream body must enqueue Uint8Arrays, as " +
          "node's own Response requires; enqueue new TextEncoder().encode(text), or pipe the stream " +
          'through a TextEncoderStream'
      : `the response's body stream gave ${kindOf(value)}: a ReadableStream body must enqueue Uint8Arrays`,
  );
}

/** Writes a web Response to the engine: kept string/bytes bodies at once, streams with back-pressure. */
export async function sendWebResponse(response: Response, res: EngineResponse): Promise<void> {
  if (FastResponse.isFast(response) && writeKept(response, res)) return;
  res.writeHead(response.status, streamedHead(response, res.req.method === 'HEAD'));
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const req = res.req;
  const stop = () => void reader.cancel(new Error('The client disconnected')).catch(() => {});
  req.onAbort(stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || req.aborted) break;
      if (!res.write(bodyChunk(value))) await res.drained();
    }
  } catch (err) {
    // The response failed (a chunk that is not bytes, a body longer than its Content-Length, the
    // stream's own error): the stream is cancelled, as at a disconnect, so that its source (a file,
    // a cursor) is told to let go rather than left waiting for a reader that will never come back.
    void reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
  if (!req.aborted) res.end();
}

function notAResponse(value: unknown): Error {
  const app = appLike(value);
  if (app) return new UncalledFactoryError(app, 'a Response');
  return new TypeError(`the fetch handler returned ${kindOf(value)}, not a Response`);
}

/**
 * Bun's `server` argument: `server.upgrade(request, { data, headers })` marks an Upgrade request
 * to be turned into a WebSocket once `fetch` returns; `publish` reaches this worker's subscribers.
 */
export class FetchServer {
  readonly pending = new WeakMap<EngineRequest, { data: unknown; headers?: HeadersInit }>();
  readonly topics = new Topics();
  /** The engine's request behind each native Request handed out (--no-override-global-objects). */
  readonly natives = new WeakMap<Request, EngineRequest>();
  constructor(
    public hub: WebSocketHub | null,
    private readonly trusted: TrustedPeers,
  ) {}
  private engineRequestOf(request: Request): EngineRequest | undefined {
    return request instanceof EngineLazyRequest ? request.engineRequest : this.natives.get(request);
  }
  upgrade(request: Request, options: { data?: unknown; headers?: HeadersInit } = {}): boolean {
    const req = this.engineRequestOf(request);
    if (!this.hub || !req?.upgrade || req.header('upgrade')?.toLowerCase() !== 'websocket') return false;
    // As Bun: false for a handshake that cannot open, which the app answers as it answers a refusal.
    if (handshakeFault(req)) return false;
    this.pending.set(req, { data: options.data, headers: options.headers });
    return true;
  }
  publish(topic: string, message: string | Uint8Array | ArrayBuffer): number {
    return this.topics.publish(topic, message);
  }
  requestIP(request: Request): { address: string; family: string; port: number } | null {
    const req = this.engineRequestOf(request);
    if (!req) return null;
    // The client a trusted proxy names (--forwarded-allow-ips), else the socket's peer.
    const { clientAddress, clientPort } = requestClient(req, this.trusted);
    return clientAddress
      ? { address: clientAddress, family: isIP(clientAddress) === 6 ? 'IPv6' : 'IPv4', port: clientPort }
      : null;
  }
}

/** One `server` per worker (it hosts one app), so requests on every listener and protocol share its topics. */
export function fetchServerFor(runtime: WorkerRuntime, hub: WebSocketHub | null): FetchServer {
  runtime.fetchServer ??= new FetchServer(hub, runtime.trustedPeers);
  if (hub) runtime.fetchServer.hub = hub; // the HTTP/2 bridge asks first without one
  return runtime.fetchServer;
}

/** The answer to TRACE, which no fetch app can be handed (see fetchAdapter), on HTTP/1 and HTTP/2. */
export const TRACE_BODY = 'TRACE is not served to a fetch app: the fetch API has no Request for it.\n';
const TRACE_HEADERS: HeaderList = [
  ['content-type', 'text/plain; charset=utf-8'],
  ['content-length', String(Buffer.byteLength(TRACE_BODY))],
];

export interface FetchAdapterOptions {
  hub: WebSocketHub | null;
  onError(err: unknown, what: string): void;
}

export function fetchAdapter(app: FetchApp, runtime: WorkerRuntime, opts: FetchAdapterOptions): EngineHandler {
  // --no-override-global-objects: node's own Request and Response stay, and the app gets a real
  // Request (node's constructor cannot unwrap a LazyRequest); its responses take the stream path.
  const { overrideGlobalObjects } = runtime.settings;
  if (overrideGlobalObjects) installFastGlobals();
  const server = fetchServerFor(runtime, app.websocket ? opts.hub : null);
  const trusted = runtime.trustedPeers;
  const webRequest = (req: EngineRequest): Request => {
    const lazy = toWebRequest(req, trusted);
    if (overrideGlobalObjects) return lazy;
    const native = lazy.real();
    server.natives.set(native, req);
    return native;
  };

  const upgrade = async (req: EngineRequest, data: unknown, headers: HeadersInit | undefined): Promise<void> => {
    // Checked while the request is still HTTP's: an app's bad header is then answered with a 500. A
    // Sec-WebSocket-Protocol among them is Bun's way to choose the subprotocol.
    const list = headers ? headerList(new Headers(headers)) : [];
    const chosen = list.find(([name]) => name === 'sec-websocket-protocol');
    const choices = { protocol: chosen?.[1] ?? null, headers: list.filter((field) => field !== chosen) };
    checkAcceptOptions(choices, offeredSubprotocols(req.header('sec-websocket-protocol')));
    const { socket, head } = req.takeSocket();
    const ws = await opts.hub!.accept(engineUpgradeRequest(req), socket, head, choices);
    if (!ws) return;
    const { backpressureLimit, closeOnBackpressureLimit } = app.websocket!;
    const bun = new BunSocket(ws, data, req.socket.remoteAddress ?? '', server.topics, {
      backpressureLimit:
        typeof backpressureLimit === 'number' && backpressureLimit > 0 ? backpressureLimit : DEFAULT_BACKPRESSURE_LIMIT,
      closeOnBackpressureLimit: closeOnBackpressureLimit === true,
    });
    runBunHandlers(bun, ws, app.websocket!, server.topics, (err) =>
      opts.onError(err, `WebSocket handler for ${req.url}`),
    );
  };

  const finish = (response: unknown, req: EngineRequest, res: EngineResponse): void | Promise<void> => {
    if (req.upgrade) {
      const pending = server.pending.get(req);
      if (pending) return upgrade(req, pending.data, pending.headers);
    }
    if (!(response instanceof Response)) throw notAResponse(response);
    if (FastResponse.isFast(response) && writeKept(response, res)) return; // no promise for the common case
    return sendWebResponse(response, res);
  };

  return (req, res) => {
    // The fetch standard has no Request for TRACE (node's constructor throws "unsupported"), so no
    // fetch app can be handed one: answered here, not as each app's error. TRACE echoes a request's
    // credentials back (cross-site tracing); nginx refuses it too.
    if (req.method === 'TRACE') return void res.writeHead(501, TRACE_HEADERS).end(TRACE_BODY);
    const result = app.fetch(webRequest(req), server);
    // A handler that answers synchronously (Hono's, for sync routes) is finished without a promise turn.
    if (isThenable(result)) return Promise.resolve(result).then((response) => finish(response, req, res));
    return finish(result, req, res);
  };
}
