import type { Socket } from 'node:net';
import type { HttpLimits } from './limits.js';
import { Rejection, rejectionResponse } from './reject.js';
import { StrictParser } from './strict-parser.js';
import { hasBody } from './validate.js';
import { ConnectionTimer, LINGER_MS, bodyTimedOut, headerTimedOut, truncatedByClient, type TimerKind } from './timeouts.js';

type DataListener = (chunk: Buffer) => void;

export interface GuardHooks {
  /** Whether node:http will switch protocols on this head (it has an upgrade or connect listener). */
  willUpgrade(method: string): boolean;
  rejected(r: Rejection, socket: Socket): void;
}

/**
 * Stands between a socket and node:http's parser: every byte passes gserve's StrictParser first, so
 * the node path refuses exactly what gserve's engine refuses, with the same answers, and enforces the
 * same header and body timeouts. Node's parser only ever sees whole requests that passed, plus the
 * bytes of a request whose head passed and whose body is still arriving.
 */
export class NodeRequestGuard {
  private readonly parser: StrictParser;
  private readonly timer = new ConnectionTimer((kind) => this.onTimer(kind));
  private nodeOnData: DataListener | null = null;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private stopped = false;
  /** The head of the message being read was handed to node:http in an earlier chunk. */
  private headDelivered = false;
  private pending: Rejection | null = null;
  /** Responses node:http has open on this socket. */
  open = 0;
  /** The response to the request whose body is being read, once the app has it. */
  bodyResponse: { headersSent: boolean } | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly limits: HttpLimits,
    private readonly hooks: GuardHooks,
  ) {
    this.parser = new StrictParser(limits, {
      onHead: (info) => {
        if (this.timer.kind === 'header') this.timer.clear();
        if (info.upgrade && this.hooks.willUpgrade(info.method)) return true;
        if (hasBody(info.headers)) this.timer.arm('body', limits.requestTimeout);
        return false;
      },
      onBody: () => {},
      onComplete: () => {
        if (this.timer.kind === 'body') this.timer.clear();
      },
    });
    this.timer.arm('header', limits.headerTimeout);
  }

  /**
   * Hands the socket to node:http with this guard in front. Node reads a socket's handle directly
   * when it can, bypassing 'data' events; marking the handle as taken makes it use its 'data'
   * listener instead, which the guard then wraps.
   */
  attach(handOver: (socket: Socket) => void): void {
    const handle = (this.socket as unknown as { _handle?: { _consumed?: boolean } })._handle;
    if (handle) handle._consumed = true;
    const before = new Set(this.socket.listeners('data'));
    handOver(this.socket);
    const added = this.socket.listeners('data').filter((l) => !before.has(l));
    if (added.length !== 1) throw new Error('node:http did not attach exactly one data listener; cannot guard the socket');
    this.nodeOnData = added[0] as DataListener;
    this.socket.removeListener('data', this.nodeOnData);
    this.socket.on('data', this.onData);
    this.socket.on('close', () => this.timer.clear());
    // Before node:http's own 'end' handler, so a request cut short gets the engine's answer.
    this.socket.prependListener('end', () => {
      if (this.stopped || this.parser.phase === 'idle') return;
      this.headDelivered = this.parser.phase === 'body';
      this.reject(truncatedByClient());
    });
  }

  private receive(chunk: Buffer): void {
    if (this.stopped) return;
    const headsBefore = this.parser.heads;
    const wasInBody = this.parser.phase === 'body';
    const result = this.parser.execute(chunk);
    if (result instanceof Rejection) {
      // Node gets the whole messages that came before the bad one in this chunk, and nothing of it.
      this.headDelivered = wasInBody && this.parser.heads === headsBefore && this.parser.phase === 'body';
      if (this.parser.messageStart > 0) this.nodeOnData!(chunk.subarray(0, this.parser.messageStart));
      return this.reject(result);
    }
    if (this.parser.phase === 'head' && this.timer.kind !== 'header') this.timer.arm('header', this.limits.headerTimeout);
    if (this.parser.ended) {
      // The last request closes the connection: node:http gets it and nothing after it.
      this.nodeOnData!(chunk.subarray(0, result));
      return this.detach();
    }
    this.nodeOnData!(chunk);
    if (result < chunk.length || this.parser.upgraded) this.detach();
  }

  /** The connection left HTTP (an upgrade): what follows is not ours to parse. */
  private detach(): void {
    this.stopped = true;
    this.timer.clear();
    this.socket.removeListener('data', this.onData);
  }

  private onTimer(kind: TimerKind): void {
    if (this.stopped) return;
    const ms = kind === 'header' ? this.limits.headerTimeout : this.limits.requestTimeout;
    if (this.socket.isPaused()) return this.timer.arm(kind, ms); // node:http holds the client back, not the client
    const phase = this.parser.phase;
    if (kind === 'header') {
      if (phase === 'idle' && this.open === 0) this.socket.destroy();
      else if (phase === 'head') {
        this.headDelivered = false;
        this.reject(headerTimedOut(ms));
      }
    } else if (phase === 'body') {
      this.headDelivered = true;
      this.reject(bodyTimedOut(ms));
    }
  }

  /** node:http's own parser refused what the guard let through: answered the guard's way, in order. */
  rejectFromNode(r: Rejection): void {
    if (this.stopped) return;
    this.headDelivered = this.parser.phase === 'body';
    this.reject(r);
  }

  private reject(r: Rejection): void {
    this.stopped = true;
    this.timer.clear();
    this.socket.resume();
    this.hooks.rejected(r, this.socket);
    if (this.headDelivered) {
      // The app already has this request; refuse it in its place if it has not answered yet.
      if (this.open <= 1 && !this.bodyResponse?.headersSent) this.answerAndClose(r);
      else this.socket.destroy();
      return;
    }
    if (this.open === 0) this.answerAndClose(r);
    else this.pending = r;
  }

  /** node:http finished a response on this socket. */
  responseClosed(): void {
    this.open--;
    if (this.open === 0 && this.pending) this.answerAndClose(this.pending);
  }

  get refused(): boolean {
    return this.stopped && !this.parser.upgraded;
  }

  private answerAndClose(r: Rejection): void {
    this.pending = null;
    if (this.socket.destroyed) return;
    this.socket.end(rejectionResponse(r));
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }
}
