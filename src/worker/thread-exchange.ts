import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { EngineRequest, EngineResponse, HeaderList } from '../http/engine.js';
import { markUnixPeer } from '../http/proxy.js';
import { checkBodyLength, checkResponseHead } from '../http/response-framing.js';
import { statusHasNoBody } from '../http/status.js';
import { Batcher, WINDOW_BYTES, transferOf, type FromThread, type Peer, type RequestHead } from './thread-messages.js';
import { engineSocket } from './stand-ins.js';

/**
 * The app thread's side of one request: the same request and response objects the engine gives a
 * gateway app (fetch, wsgi, asgi), built from the main thread's messages instead of from bytes. The
 * head arrives parsed; the body arrives in chunks and is credited back while the app reads it; the
 * response leaves in status, headers and body chunks, and the app's writes wait once a window of
 * them is unacknowledged (the client is slower than the app).
 */

export type Post = (message: FromThread, transfer?: ArrayBuffer[]) => void;

const EMPTY = Buffer.alloc(0);

/** What an app sees in `req.socket`: the connection's two ends; `destroy()` cuts the response short. */
export class PeerSocket {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  remoteFamily?: string;
  encrypted = false;
  /** For a Unix listener: what `serverAddress` (interfaces/scope.ts) reads the path from. */
  readonly server?: { address(): string };
  destroyed = false;

  constructor(
    peer: Peer,
    private readonly onDestroy: () => void,
  ) {
    const { unixPeer, unixPath, ...address } = peer;
    Object.assign(this, address);
    if (unixPeer) markUnixPeer(this);
    if (unixPath !== undefined) this.server = { address: () => unixPath };
  }

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.onDestroy();
    }
    return this;
  }
}

/**
 * Credits request body bytes back to the main thread once the reader has taken them from `stream`.
 * Credit goes in quarter windows, so a fast reader costs few messages; a reader that stops leaves the
 * bytes in `stream`, uncredited, and the main thread stops sending at a window.
 */
export class CreditMeter {
  private received = 0;
  private credited = 0;

  constructor(
    private readonly stream: Readable,
    private readonly credit: (bytes: number) => void,
  ) {}

  /** `bytes` were pushed into the stream. */
  pushed(bytes: number): void {
    this.received += bytes;
    this.update();
  }

  /** Call after pushing and when the stream asks for more (its `_read`). */
  update(): void {
    const taken = this.received - this.stream.readableLength - this.credited;
    if (taken >= WINDOW_BYTES / 4) {
      this.credited += taken;
      this.credit(taken);
    }
  }
}

class ThreadBody extends Readable {
  meter: CreditMeter | null = null;
  /**
   * Readable calls _read before it takes the bytes a read returns, and not again until the next
   * push: counted only there, the credit for a window the app emptied was never sent, and the
   * request waited for ever (an app pausing between reads of a body larger than the window).
   */
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    this.meter?.update();
    return chunk;
  }
  override _read(): void {
    this.meter?.update();
  }
}

/**
 * The public members of one of the engine's classes, minus those typed with its own classes: what a
 * stand-in must have, so that the compiler says when the engine grows a member the adapters might use.
 */
type PublicShape<T, Except extends keyof T> = Omit<Pick<T, keyof T>, Except>;

/** `EngineRequest`, the way an app thread has it. */
// The engine's own body plumbing (pushBody, …) is not part of what an adapter sees.
export class ThreadRequest
  implements PublicShape<EngineRequest, 'body' | 'pushBody' | 'discardBody' | 'bodyComplete' | 'announceBody'>
{
  readonly body: ThreadBody = new ThreadBody();
  complete = false;
  /** The trailer fields after a chunked body, as the engine's request has them (known at its end). */
  rawTrailers: string[] = [];
  readonly startedAt = performance.now();
  upgrade = false;
  upgradeHead: Buffer = EMPTY;
  aborted = false;
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly rawTarget: string | undefined;
  readonly keepAlive: boolean;
  readonly socket: Socket;
  private abortListeners: Array<() => void> | null = null;

  constructor(
    head: RequestHead,
    socket: PeerSocket,
    readonly scheme: 'http' | 'https',
    credit: (bytes: number) => void,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.httpVersion = head.httpVersion;
    this.rawHeaders = head.rawHeaders;
    this.rawTarget = head.rawTarget;
    this.keepAlive = head.keepAlive;
    this.socket = engineSocket(socket);
    this.body.meter = new CreditMeter(this.body, credit);
  }

  /** Body bytes from the main thread; `end`: the body is complete, followed by `trailers` (if any). */
  receive(chunk: Uint8Array | undefined, end: boolean, trailers?: string[]): void {
    if (this.body.destroyed) return;
    if (trailers) this.rawTrailers = trailers;
    if (chunk && chunk.byteLength > 0) {
      this.body.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.body.meter!.pushed(chunk.byteLength);
    }
    if (end) {
      this.complete = true;
      this.body.push(null);
    }
  }

  onAbort(listener: () => void): void {
    if (this.aborted) listener();
    else (this.abortListeners ??= []).push(listener);
  }

  markAborted(): void {
    if (this.aborted) return;
    this.aborted = true;
    for (const listener of this.abortListeners?.splice(0) ?? []) listener();
  }

  takeSocket(): { socket: Socket; head: Buffer } {
    // Upgrade requests never come this way: they are tunnelled to the thread's own HTTP implementation.
    throw new Error('takeSocket() is only for Upgrade requests');
  }

  header(name: string): string | undefined {
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2)
      if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) return raw[i + 1];
    return undefined;
  }

  get bodyFailed(): boolean {
    return this.body.errored !== null;
  }

  get hasBody(): boolean {
    const length = this.header('content-length');
    return (length !== undefined && length !== '0') || this.header('transfer-encoding') !== undefined;
  }
}

/**
 * `EngineResponse`, the way an app thread has it: status and headers leave with the first body bytes
 * (or the end), like the engine's do; small writes of one turn of the loop travel in one message, and a
 * small whole response is a single message.
 */
export class ThreadResponse implements PublicShape<EngineResponse, 'writeHead' | 'req' | 'abort' | 'failWith'> {
  statusCode = 200;
  bodyBytes = 0;
  headersSent = false;
  finished = false;
  /** The main thread was told the response is over (ended or abandoned): nothing more is sent. */
  private closed = false;
  /** The app wrote before it ended: the answer streams. */
  private streamed = false;
  private head: { status: number; headers: HeaderList; reason?: string } | null = null;
  /**
   * The body length the app's Content-Length declares: checked here, in the app's own call, as the
   * engine checks it, so the app fails the same way on every class.
   */
  private declared: number | null = null;
  /** Body bytes posted that the main thread has not yet written out to the client. */
  private unacked = 0;
  private waiters: Array<() => void> = [];
  private readonly batcher = new Batcher((chunk) => this.post(chunk, false));
  /** Fields to send after the body (addTrailers): they travel with the end. */
  private trailers: HeaderList | null = null;

  constructor(
    readonly req: ThreadRequest,
    private readonly id: number,
    private readonly out: Post,
  ) {}

  writeHead(status: number, headers: HeaderList = [], reason?: string): this {
    if (this.head || this.headersSent) throw new Error('writeHead called twice');
    this.declared = checkResponseHead(headers);
    this.statusCode = status;
    this.head = { status, headers, reason };
    return this;
  }

  /** A 1xx answer before the response (a node app's 103 Early Hints): passed on as it comes. */
  writeInterim(status: number, headers: HeaderList): void {
    if (this.closed || this.headersSent || this.head) return;
    checkResponseHead(headers);
    this.out({ t: 'res', id: this.id, status, headers, interim: true });
  }

  /** As the engine's: checked here, in the app's own call, and sent with the end. */
  addTrailers(trailers: HeaderList): void {
    checkResponseHead(trailers);
    this.trailers = this.trailers ? [...this.trailers, ...trailers] : trailers;
  }

  /** The body length to hold the app to, where its body goes out at all (not for HEAD, 204, 304). */
  private get declaredBody(): number | null {
    return this.declared !== null && this.req.method !== 'HEAD' && !statusHasNoBody(this.statusCode)
      ? this.declared
      : null;
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.finished) throw new Error('write after end');
    if (this.closed) return false;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const declared = this.declaredBody;
    if (declared !== null) checkBodyLength(declared, this.bodyBytes, bytes.byteLength, false);
    this.bodyBytes += bytes.byteLength;
    this.streamed = true;
    if (!this.headersSent) {
      this.headersSent = true;
      // An empty first write sends the head now, like the engine's does.
      if (bytes.byteLength === 0) this.post(undefined, false);
    }
    this.batcher.add(bytes);
    return this.unacked + this.batcher.pendingBytes < WINDOW_BYTES;
  }

  drained(): Promise<void> {
    if (this.closed || this.unacked + this.batcher.pendingBytes < WINDOW_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  end(chunk?: Uint8Array | string): void {
    if (this.finished) return;
    const bytes = chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const declared = this.closed ? null : this.declaredBody;
    if (declared !== null) checkBodyLength(declared, this.bodyBytes, bytes?.byteLength ?? 0, true);
    this.finished = true;
    if (this.closed) return;
    if (bytes !== undefined) {
      this.bodyBytes += bytes.byteLength;
      this.batcher.append(bytes);
    }
    this.headersSent = true;
    this.post(this.batcher.take(), true);
  }

  /** The main thread wrote `bytes` out to the client. */
  credit(bytes: number): void {
    this.unacked -= bytes;
    if (this.unacked + this.batcher.pendingBytes < WINDOW_BYTES) this.release();
  }

  /**
   * The response cannot be completed (an error after its head went out, a cut-short answer) or the
   * client left: the main thread is told once, and later writes are dropped.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.batcher.clear();
    this.release();
    this.out({ t: 'abandon', id: this.id });
  }

  /**
   * An app error: the main thread answers it as it answers any app failure (app-failure.ts): a 500
   * and a close if nothing went out yet, else a cut connection.
   */
  fail(): void {
    this.abandon();
  }

  get willClose(): boolean {
    return !this.req.keepAlive;
  }

  private release(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  private post(chunk: Uint8Array | undefined, end: boolean): void {
    if (this.closed) return;
    const head = this.head;
    this.head = null;
    if (end) {
      this.closed = true;
      this.release();
    } else if (chunk) this.unacked += chunk.byteLength;
    const message: Extract<FromThread, { t: 'res' }> = head
      ? { t: 'res', id: this.id, status: head.status, headers: head.headers, reason: head.reason }
      : { t: 'res', id: this.id };
    if (chunk) message.chunk = chunk;
    if (end) message.end = true;
    if (end && this.streamed) message.stream = true;
    if (end && this.trailers) message.trailers = this.trailers;
    this.out(message, transferOf(chunk));
  }

  // ---- what the access log and metrics read from the engine's (unused in a thread, kept for the shape) ----
  get method(): string {
    return this.req.method;
  }
  get url(): string {
    return this.req.url;
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
  get status(): number {
    return this.statusCode;
  }
  get startedAt(): number {
    return this.req.startedAt;
  }
  get socket(): Socket {
    return this.req.socket;
  }
  requestHeader(name: string): string | undefined {
    return this.req.header(name);
  }
  responseHeader(name: string): string | undefined {
    for (const [key, value] of this.head?.headers ?? [])
      if (key.length === name.length && key.toLowerCase() === name) return value;
    return undefined;
  }
}
