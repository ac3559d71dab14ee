import type { EngineHandler, EngineRequest, EngineResponse, HeaderList } from '../http/engine.js';
import type { HostedApp } from './detect.js';
import { isIterable, kindOf } from '../http/app-values.js';
import { requestClient } from '../http/proxy.js';
import type { WorkerRuntime } from './runtime.js';
import { decodePath, splitTarget } from './scope.js';
import {
  checkAcceptOptions,
  engineUpgradeRequest,
  handshakeFault,
  offeredSubprotocols,
  refuseHandshake,
  toBytes,
  type WebSocketHub,
} from './websocket.js';
import type { WebSocket } from 'ws';
import { errorMessage } from '../errors.js';

/**
 * ASGI 3 for JavaScript: `async (scope, receive, send)`, with ASGI's event names and keys, bytes
 * in Uint8Arrays and headers in lower-case [name, value] byte pairs.
 */
export type AsgiEvent = { type: string; [key: string]: unknown };
export type AsgiReceive = () => Promise<AsgiEvent>;
export type AsgiSend = (event: AsgiEvent) => Promise<void>;
export type AsgiScope = Record<string, unknown> & { type: 'http' | 'websocket' | 'lifespan' };
export type AsgiApp = (scope: AsgiScope, receive: AsgiReceive, send: AsgiSend) => Promise<void> | void;

type AsgiHosted = Extract<HostedApp, { kind: 'asgi' }>;

export const ASGI_VERSION: Readonly<{ version: string; spec_version: string }> = Object.freeze({
  version: '3.0',
  spec_version: '2.4',
});
const EMPTY = new Uint8Array(0);
/** A header or target string as bytes, in an array of its own (apps may keep it); a loop beats Buffer.from for short strings. */
function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
/**
 * Header bytes as a latin1 string. Buffer's own latin1Slice takes any Uint8Array as `this`: half the
 * time of fromCharCode over the bytes for a short name or value (`fromCharCode.apply` spreads the
 * array into arguments), with no Buffer view made, on Node 20 and 24.
 */
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;
function fromBytes(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!(value instanceof Uint8Array))
    throw new AsgiProtocolError(`a header name or value is ${kindOf(value)}: give each as a Uint8Array (or a string)`);
  return latin1Slice.call(value, 0, value.byteLength);
}

export class AsgiProtocolError extends Error {
  override name = 'AsgiProtocolError';
}

/**
 * A send() after the client left: ASGI 2.4's "server-specific subclass of OSError" (Uvicorn's
 * ClientDisconnected), so a streaming loop that never calls receive() ends instead of producing for
 * no one. Like an OSError, it carries an errno-style `code`.
 */
export class ClientDisconnected extends Error {
  override name = 'ClientDisconnected';
  readonly code = 'ECONNRESET';
  constructor(what = 'the response') {
    super(`The client disconnected: ${what} cannot be sent`);
  }
}

/**
 * `err`, a turn of the event loop later: an app that catches it and sends again in a loop still
 * yields to the rest of the worker (its close events, heartbeats, other requests). An app that does
 * not await the send is not reported for an unhandled rejection.
 */
function failNextTurn(err: Error): Promise<void> {
  const failed = nextTurn().then(() => Promise.reject(err));
  failed.catch(() => {});
  return failed;
}

function scopeHeaders(req: EngineRequest): Array<[Uint8Array, Uint8Array]> {
  const raw = req.rawHeaders;
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([latin1(raw[i]!.toLowerCase()), latin1(raw[i + 1]!)]);
  return out;
}

function responseHeaders(headers: unknown): HeaderList {
  if (headers === undefined || headers === null) return [];
  if (!isIterable(headers)) throw new AsgiProtocolError('"headers" must be an iterable of [name, value] pairs');
  const out: HeaderList = [];
  for (const pair of headers) {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new AsgiProtocolError('each of "headers" must be a [name, value] pair');
    out.push([fromBytes(pair[0]), fromBytes(pair[1])]);
  }
  return out;
}

function asBytes(value: unknown, key: string, type: string): Uint8Array {
  if (value === undefined || value === null) return EMPTY;
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  throw new AsgiProtocolError(`"${key}" of ${type} must be a Uint8Array, got ${typeof value}`);
}

/** The keys common to http and websocket scopes. */
function connectionScope(
  type: 'http' | 'websocket',
  req: EngineRequest,
  state: Record<string, unknown>,
  runtime: WorkerRuntime,
): AsgiScope {
  const { rawPath, query } = splitTarget(req.url);
  // The client and scheme a trusted proxy tells (--forwarded-allow-ips), else the socket's.
  const client = requestClient(req, runtime.trustedPeers);
  const secure = client.scheme === 'https';
  const scope: AsgiScope = {
    type,
    asgi: { version: ASGI_VERSION.version, spec_version: ASGI_VERSION.spec_version },
    http_version: req.httpVersion,
    scheme: type === 'http' ? client.scheme : secure ? 'wss' : 'ws',
    path: decodePath(rawPath),
    raw_path: latin1(rawPath),
    query_string: latin1(query),
    root_path: '',
    headers: scopeHeaders(req),
    client: client.clientAddress ? [client.clientAddress, client.clientPort] : null,
    server: runtime.unixPaths.serverAddress(req.socket),
    // Each request gets a shallow copy: keys the app adds do not leak between requests.
    state: { ...state },
  };
  // Set on the scope made, not spread into it for http alone: a spread copied an object per request.
  if (type === 'http') scope.method = req.method;
  return scope;
}

// ---- http ----

/**
 * When the response is complete, for receive()'s `http.disconnect`: a list of waiters made on first
 * need, not a promise per request (most apps never wait for the disconnect).
 */
class ResponseEnd {
  done = false;
  private waiters: Array<() => void> | null = null;
  finish(): void {
    this.done = true;
    if (this.waiters) for (const waiter of this.waiters.splice(0)) waiter();
  }
  whenDone(waiter: () => void): void {
    if (this.done) waiter();
    else (this.waiters ??= []).push(waiter);
  }
}

const RESOLVED = Promise.resolve();
/**
 * What a send after the client left returns: dropped, but settled on the next turn of the event
 * loop. A settled promise would let an app that streams for ever without reading `receive()` spin in
 * microtasks, and no other request of the worker would be served until --timeout killed it.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const lastBody = (): AsgiEvent => ({ type: 'http.request', body: EMPTY, more_body: false });

/**
 * The http receive(). One object and the one function the app calls, per request: its other steps
 * are methods, not closures made anew for every request (most never run: no body, no disconnect wait).
 */
class HttpReceive {
  /** Made on first need: most requests have no body. */
  private chunks: AsyncIterator<Buffer> | null = null;
  private bodyDone = false;
  /** Made on first need: most apps never wait for the disconnect. */
  private disconnect: Promise<AsgiEvent> | null = null;
  readonly receive: AsgiReceive = () => {
    // After the body, receive() waits for the client to leave or the response to finish (as Uvicorn).
    if (this.bodyDone || this.req.aborted) return this.disconnected();
    if (this.req.hasBody) return this.nextChunk();
    this.bodyDone = true;
    return Promise.resolve(lastBody());
  };

  constructor(
    private readonly req: EngineRequest,
    private readonly responseEnd: ResponseEnd,
  ) {}

  private disconnected(): Promise<AsgiEvent> {
    this.disconnect ??= new Promise<AsgiEvent>((resolve) => {
      const event = { type: 'http.disconnect' };
      this.req.onAbort(() => resolve(event));
      this.responseEnd.whenDone(() => resolve(event));
    });
    return this.disconnect;
  }

  private async nextChunk(): Promise<AsgiEvent> {
    const { req } = this;
    this.chunks ??= req.body[Symbol.asyncIterator]();
    let step: IteratorResult<Buffer>;
    try {
      step = await this.chunks.next();
    } catch {
      return { type: 'http.disconnect' }; // the body stream was destroyed: the client left
    }
    if (step.done) {
      this.bodyDone = true;
      return lastBody();
    }
    const last = req.complete && req.body.readableLength === 0;
    if (last) this.bodyDone = true;
    const chunk = step.value;
    return {
      type: 'http.request',
      body: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      more_body: !last,
    };
  }
}

/** `failed`: the engine refused what the app sent to end its response (a length that does not match, a 1xx status). */
type SendState = 'none' | 'started' | 'complete' | 'failed';

/** The http send(): sends that need no waiting return a settled promise, not an async function's. */
class HttpSend {
  state: SendState = 'none';
  /** Why the response could not be completed (state `failed`). */
  failure: unknown = null;
  private start: { status: number; headers: HeaderList } | null = null;
  readonly send: AsgiSend = (event) => {
    if (this.req.aborted) return this.refused();
    try {
      return this.handle(event) ?? RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  };

  constructor(
    private readonly req: EngineRequest,
    private readonly res: EngineResponse,
    private readonly responseEnd: ResponseEnd,
  ) {}

  /** The error that serveHttp() does not log: the app let the refusal of a send of its own through. */
  disconnected: ClientDisconnected | null = null;

  /** The client left: the send fails (failNextTurn). */
  private refused(): Promise<void> {
    return failNextTurn((this.disconnected ??= new ClientDisconnected()));
  }

  /** Returns a promise only when the socket asks to wait (back-pressure). */
  private handle(event: AsgiEvent): Promise<void> | undefined {
    switch (event?.type) {
      case 'http.response.start': {
        if (this.state !== 'none') throw new AsgiProtocolError('http.response.start sent twice');
        const status = event.status;
        if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
          throw new AsgiProtocolError(`"status" must be an integer status code, got ${shownStatus(status)}`);
        this.start = { status, headers: responseHeaders(event.headers) };
        this.state = 'started';
        return;
      }
      case 'http.response.body': {
        if (this.state === 'none') throw new AsgiProtocolError('http.response.body sent before http.response.start');
        if (this.state === 'complete')
          throw new AsgiProtocolError('http.response.body sent after the response was complete');
        const body = asBytes(event.body, 'body', event.type);
        const more = Boolean(event.more_body);
        const { res, start } = this;
        if (start) {
          res.writeHead(start.status, start.headers);
          this.start = null;
          // The whole body in one event: sent with Content-Length.
          if (!more) return this.complete(body);
        }
        if (body.byteLength > 0 && !res.write(body)) {
          if (more) return res.drained();
          return res.drained().then(() => this.complete());
        }
        if (!more) this.complete();
        return;
      }
      default:
        throw new AsgiProtocolError(
          `unexpected event ${JSON.stringify(event?.type)} in an http connection; ` +
            'expected http.response.start or http.response.body',
        );
    }
  }

  private complete(body?: Uint8Array): undefined {
    this.state = 'complete';
    try {
      this.res.end(body);
    } catch (err) {
      // The app may catch this; the response is still not complete, and serveHttp() says so.
      this.state = 'failed';
      this.failure = err;
      throw err;
    }
    this.responseEnd.finish();
    return undefined;
  }
}

async function serveHttp(
  app: AsgiHosted,
  req: EngineRequest,
  res: EngineResponse,
  runtime: WorkerRuntime,
): Promise<void> {
  const responseEnd = new ResponseEnd();
  const sender = new HttpSend(req, res, responseEnd);
  try {
    const { receive } = new HttpReceive(req, responseEnd);
    await app.app(connectionScope('http', req, app.state, runtime), receive, sender.send);
  } catch (err) {
    // The refusal of a send after the client left, let through: the app stopped, as it should.
    if (err !== null && err === sender.disconnected) return;
    throw err;
  }
  // The client left, or its body was refused (the 400 is on its way, logged): the app was told
  // http.disconnect, and whatever it sent or not is moot.
  if (req.aborted || req.bodyFailed) return;
  checkComplete(sender, res, 'http');
}

/**
 * Uvicorn's "ASGI callable returned without completing response", for a response the app has
 * returned from: an http one, or a WebSocket's denial response, named by its events' prefix. Thrown:
 * a 500, or, once the head is out, a cut connection, so the client cannot take a partial body for whole.
 */
function checkComplete(sender: HttpSend, res: EngineResponse, events: 'http' | 'websocket.http'): void {
  switch (sender.state) {
    case 'complete':
      return;
    case 'none':
      throw new AsgiProtocolError(`the ASGI app returned without sending ${events}.response.start`);
    case 'failed':
      throw new AsgiProtocolError(
        `the ASGI app returned after the send() that ended its response failed: ${errorMessage(sender.failure)}`,
      );
    case 'started':
      if (!res.headersSent)
        throw new AsgiProtocolError(`the ASGI app returned without sending ${events}.response.body`);
      throw new AsgiProtocolError(
        `the ASGI app returned before its response was complete: its last ${events}.response.body said more_body: true`,
      );
  }
}

// ---- websocket ----

/**
 * Messages for a WebSocket app's `receive()`. Past a bound (as websockets' max_queue under Uvicorn)
 * the socket stops reading, so a client can send no faster than the app takes its messages in; it
 * reads again once the app has taken half of them. After the disconnect, every `receive()` returns
 * it again, as `http.disconnect` is on HTTP: an app that asks once more is not left waiting.
 */
export class WebSocketInbox {
  private readonly items: AsgiEvent[] = [];
  private readonly waiters: Array<(item: AsgiEvent) => void> = [];
  private bytes = 0;
  private last: AsgiEvent | null = null;
  socket: Pick<WebSocket, 'pause' | 'resume'> | null = null;
  private paused = false;

  push(item: AsgiEvent): void {
    if (this.last) return;
    if (item.type === 'websocket.disconnect') this.last = item;
    const waiter = this.waiters.shift();
    if (waiter) return waiter(item);
    this.items.push(item);
    this.bytes += eventSize(item);
    if (!this.paused && this.socket && (this.items.length >= INBOX_MESSAGES || this.bytes >= INBOX_BYTES)) {
      this.paused = true;
      this.socket.pause();
    }
  }

  next(): Promise<AsgiEvent> {
    const item = this.items.shift();
    if (item === undefined)
      return this.last ? Promise.resolve(this.last) : new Promise((resolve) => this.waiters.push(resolve));
    this.bytes -= eventSize(item);
    if (this.paused && this.items.length <= INBOX_MESSAGES / 2 && this.bytes <= INBOX_BYTES / 2) {
      this.paused = false;
      this.socket?.resume();
    }
    return Promise.resolve(item);
  }
}

/** Messages, and bytes, a WebSocket app may leave unread before its socket stops reading. */
const INBOX_MESSAGES = 32;
const INBOX_BYTES = 4 * 1024 * 1024;
/** A message's size as the inbox counts it: bytes, or a text's UTF-16 units. */
const eventSize = (event: AsgiEvent): number =>
  event.bytes instanceof Uint8Array ? event.bytes.byteLength : typeof event.text === 'string' ? event.text.length : 0;

/**
 * The close code an app sees for a connection `ws` failed: its 'close' then says 1006 (no close
 * frame came back), though it sent the peer the code of the fault.
 */
const FAULT_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
};

/** What an app may send in `websocket.close` (RFC 6455 §7.4): else `ws` throws, and the socket would stay open. */
function checkClose(code: unknown, reason: string): void {
  const valid =
    typeof code === 'number' &&
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999));
  if (!valid)
    throw new AsgiProtocolError(
      `websocket.close code ${JSON.stringify(code)} cannot be sent: use 1000 (normal), another code from 1001 to 1014 ` +
        'other than 1004, 1005 and 1006, or one from 3000 to 4999',
    );
  if (Buffer.byteLength(reason) > 123)
    throw new AsgiProtocolError(
      `websocket.close reason is ${Buffer.byteLength(reason)} bytes long: a close frame holds at most 123 bytes of reason`,
    );
}

async function serveWebSocket(
  app: AsgiHosted,
  req: EngineRequest,
  res: EngineResponse,
  hub: WebSocketHub,
  runtime: WorkerRuntime,
  onError: (err: unknown) => void,
): Promise<void> {
  const scope = connectionScope('websocket', req, app.state, runtime);
  // The denial response: an HTTP answer in the handshake's place (401, 403 with a body, a redirect).
  scope.extensions = { 'websocket.http.response': {} };
  const offered = offeredSubprotocols(req.header('sec-websocket-protocol'));
  scope.subprotocols = offered;
  const inbox = new WebSocketInbox();
  inbox.push({ type: 'websocket.connect' });
  let phase: 'connecting' | 'open' | 'closed' = 'connecting';
  let ws: WebSocket | null = null;
  // Set inside send(): read through a function, where the type is not narrowed to the initial null.
  const openSocket = (): WebSocket | null => ws;
  req.onAbort(() => {
    if (phase === 'connecting') {
      phase = 'closed';
      inbox.push({ type: 'websocket.disconnect', code: 1006, reason: '' });
    }
  });

  const deny = (status: number) => {
    phase = 'closed';
    if (!res.headersSent && !res.finished)
      res
        .writeHead(status, [['content-type', 'text/plain']])
        .end(status === 403 ? 'Forbidden\n' : 'Internal Server Error\n');
  };

  /** The error that serveWebSocket() does not log: the app let the refusal of a send of its own through. */
  let disconnected: ClientDisconnected | null = null;
  /**
   * A message for a connection the client closed, or is closing: ws would take it, buffer it for no
   * one and call back on the same tick, so a loop of sends that never calls receive() ran on without
   * a turn of the event loop, blind to the close and starving the worker. Returned to the app as it
   * is (send() is no async function), so that a send the app does not await is not reported.
   */
  const refused = () => failNextTurn((disconnected ??= new ClientDisconnected('the message')));
  /** The app sent websocket.close (or refused the handshake): what it sends next is its own mistake. */
  let closedByApp = false;

  /** The denial response under way, sent as an http response is (HttpSend). */
  let denial: HttpSend | null = null;

  const send: AsgiSend = (event) => {
    if (phase === 'closed') {
      if (event?.type === 'websocket.close') return nextTurn(); // closing twice costs nothing
      if (closedByApp) return Promise.reject(new AsgiProtocolError(`${event?.type} sent after websocket.close`));
      return refused();
    }
    const socket = openSocket();
    if (event?.type === 'websocket.send' && socket && socket.readyState !== socket.OPEN) return refused();
    return handle(event);
  };

  const handle = async (event: AsgiEvent): Promise<void> => {
    switch (event?.type) {
      case 'websocket.http.response.start':
      case 'websocket.http.response.body': {
        if (phase !== 'connecting')
          throw new AsgiProtocolError(`${event.type} after websocket.accept: a denial response replaces the handshake`);
        denial ??= new HttpSend(req, res, new ResponseEnd());
        return denial.send({ ...event, type: event.type.slice('websocket.'.length) });
      }
      case 'websocket.accept': {
        if (phase !== 'connecting') throw new AsgiProtocolError('websocket.accept sent twice');
        if (denial) throw new AsgiProtocolError('websocket.accept after websocket.http.response.start');
        const choices = {
          protocol: typeof event.subprotocol === 'string' ? event.subprotocol : null,
          headers: responseHeaders(event.headers),
        };
        checkAcceptOptions(choices, offered);
        const { socket, head } = req.takeSocket();
        phase = 'open';
        ws = await hub.accept(engineUpgradeRequest(req), socket, head, choices);
        if (!ws) {
          phase = 'closed';
          inbox.push({ type: 'websocket.disconnect', code: 1006, reason: '' });
          return;
        }
        inbox.socket = ws;
        ws.on('message', (data, isBinary) => {
          const buf = toBytes(data);
          inbox.push(
            isBinary
              ? { type: 'websocket.receive', bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) }
              : { type: 'websocket.receive', text: buf.toString('utf8') },
          );
        });
        let fault: number | undefined;
        ws.on('close', (code, reason) => {
          phase = 'closed';
          inbox.push({ type: 'websocket.disconnect', code: fault ?? code, reason: reason.toString('utf8') });
        });
        // 'close' follows, with 1006: the app is told the code ws sent the peer for the fault.
        ws.on('error', (err: Error & { code?: string }) => (fault ??= FAULT_CODES[err.code ?? '']));
        return;
      }
      case 'websocket.send': {
        if (phase !== 'open' || !ws) throw new AsgiProtocolError('websocket.send before websocket.accept');
        const socket: WebSocket = ws;
        const data = typeof event.text === 'string' ? event.text : asBytes(event.bytes, 'bytes', event.type);
        // Back-pressure: wait for the write only when the socket's buffer is already large. A write
        // that failed waits a turn, for the close to be seen: the next send is refused (send()).
        if (socket.bufferedAmount < 1024 * 1024) socket.send(data);
        else if (await new Promise<Error | undefined>((resolve) => socket.send(data, resolve))) await nextTurn();
        return;
      }
      case 'websocket.close': {
        if (phase === 'connecting' && denial) throw new AsgiProtocolError('websocket.close during a denial response');
        if (phase === 'connecting') {
          closedByApp = true;
          return deny(403);
        }
        const code = event.code ?? 1000;
        const reason = typeof event.reason === 'string' ? event.reason : '';
        checkClose(code, reason);
        closedByApp = true;
        phase = 'closed';
        ws?.close(code as number, reason);
        return;
      }
      default:
        throw new AsgiProtocolError(`unexpected event ${JSON.stringify(event?.type)} in a websocket connection`);
    }
  };

  try {
    await app.app(scope, () => inbox.next(), send);
  } catch (err) {
    if (phase === 'connecting') throw err; // the engine answers 500
    if (err !== null && err === disconnected) return;
    onError(err);
    if (phase === 'open') openSocket()?.close(1011, 'Internal error');
    return;
  }
  if (phase === 'connecting') {
    if (denial) return checkComplete(denial, res, 'websocket.http');
    onError(
      new AsgiProtocolError(
        'the ASGI app returned without accepting or closing the websocket: send websocket.accept, or ' +
          'websocket.close to refuse it (403)',
      ),
    );
    deny(500);
  } else if (phase === 'open') openSocket()?.close(1000);
}

export interface AsgiAdapterOptions {
  hub: WebSocketHub | null;
  onError(err: unknown, what: string): void;
}

export function asgiAdapter(app: AsgiHosted, runtime: WorkerRuntime, opts: AsgiAdapterOptions): EngineHandler {
  return (req, res) => {
    if (req.upgrade && req.header('upgrade')?.toLowerCase() === 'websocket') {
      const fault = handshakeFault(req);
      if (fault) return refuseHandshake(res, fault);
      const { hub } = opts;
      if (hub) return serveWebSocket(app, req, res, hub, runtime, (err) => opts.onError(err, `WebSocket ${req.url}`));
      // No hub: the sync class, which serves one connection at a time (interfaces/gateway.ts).
      res
        .writeHead(501, [['content-type', 'text/plain']])
        .end('WebSocket needs the async or thread worker class, not -k sync\n');
      return;
    }
    return serveHttp(app, req, res, runtime);
  };
}

/** A wrong status as the app gave it: `the string "200"` says what `200` would hide. */
function shownStatus(status: unknown): string {
  if (typeof status === 'number') return String(status);
  if (typeof status === 'string') return `the string ${JSON.stringify(status.slice(0, 40))}`;
  return kindOf(status);
}
