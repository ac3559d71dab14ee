import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { HttpLimits } from './limits.js';
import { sendProgress } from './node-internals.js';
import { REFUSAL_LINGER_MS, Rejection, badRequest } from './reject.js';

/**
 * The one timer a connection needs at a time: waiting for the next request (`idle`, the keep-alive
 * time), for the rest of a request head (`header`), or for the rest of a body (`body`). Parsing is
 * sequential, so these never overlap.
 */
export type TimerKind = 'idle' | 'header' | 'body';

export class ConnectionTimer {
  /** Node's timer, when one is set; it may fire before `deadline`, and then sets itself for the rest. */
  private timer: NodeJS.Timeout | null = null;
  /** When `timer` fires (this clock's milliseconds). */
  private firesAt = 0;
  private deadline = 0;
  kind: TimerKind | null = null;

  /**
   * `clock`: a monotonic clock in milliseconds. A keep-alive connection arms and clears its timer on
   * every request: a new Node timer each time was a Timeout, a closure and two list operations per
   * request, 2.6% of the fetch engine's time on Node 24 (--cpu-prof). So a timer set to fire no later
   * than a new deadline is kept, and when it fires early it sets itself again for the time left; a
   * cleared one is left to fire with nothing to do. One Node timer per keep-alive period, not per request.
   */
  constructor(
    private readonly onFire: (kind: TimerKind) => void,
    private readonly clock: () => number,
  ) {}

  /** Starts (or restarts) the timer; a 0 duration means no timer. */
  arm(kind: TimerKind, ms: number): void {
    if (ms <= 0) return this.clear();
    const now = this.clock();
    this.kind = kind;
    this.deadline = now + ms;
    if (this.timer === null || this.firesAt > this.deadline) this.schedule(now, ms);
  }

  clear(): void {
    this.kind = null;
  }

  /**
   * Takes back a clear() made since the timer was last armed: its deadline stands, as if the bytes
   * that came in between had not. False when there is no such deadline to go back to.
   */
  restore(kind: TimerKind): boolean {
    if (this.timer === null || this.kind !== null) return false;
    this.kind = kind;
    return true;
  }

  /** The connection is over: its Node timer goes too. */
  stop(): void {
    this.kind = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(now: number, ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.firesAt = now + ms;
    this.timer = setTimeout(this.fire, ms);
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = null;
    const kind = this.kind;
    if (kind === null) return;
    const now = this.clock();
    // Node's timers count from the event loop's cached time, which can trail this clock by a
    // millisecond or so: earlier than that is a deadline moved on since.
    if (this.deadline - now > 1) return this.schedule(now, this.deadline - now);
    this.kind = null;
    this.onFire(kind);
  };
}

const secondsText = (ms: number) => `${+(ms / 1000).toFixed(3)} s`;

export const headerTimedOut = (ms: number) =>
  new Rejection(408, `the request head did not arrive within ${secondsText(ms)} (--header-timeout)`);
export const bodyTimedOut = ({ requestTimeout, requestTimeoutSetting }: HttpLimits) =>
  new Rejection(
    408,
    `the request body was not complete within ${secondsText(requestTimeout)} (${requestTimeoutSetting ?? '--request-timeout'})`,
  );
export const truncatedByClient = () => badRequest('the client closed its side in the middle of a request');

/** After a refusal, how long the client may take to read it and close before the socket is destroyed. */
export const LINGER_MS = REFUSAL_LINGER_MS;

/**
 * --request-timeout on a body node delivers (node:http, HTTP/2): `onTimeout` runs once it has not
 * ended within `ms`, unless it is over by then (`over`) or the app is the one holding it up by not
 * reading (`appHolding`), which restarts the clock.
 */
export function timeBody(
  body: EventEmitter,
  ms: number,
  checks: { over: () => boolean; appHolding: () => boolean },
  onTimeout: () => void,
): void {
  if (ms <= 0) return;
  const fire = () => {
    if (checks.over()) return;
    if (checks.appHolding()) return void (timer = setTimeout(fire, ms).unref());
    onTimeout();
  };
  let timer = setTimeout(fire, ms).unref();
  const stop = () => clearTimeout(timer);
  body.once('end', stop);
  body.once('close', stop);
}

/** How often a stalled send is looked at: its cut comes at most this late. */
const SEND_CHECK_MS = 1000;

/**
 * --send-timeout, nginx's send_timeout: while bytes of an answer wait for the client, it must take
 * some within `ms`, or `onStalled` runs (the connection is cut). `start()` when a write found the
 * buffer full; the watch ends by itself once the buffer drains or the socket closes.
 */
export class SendWatch {
  private timer: NodeJS.Timeout | null = null;
  private last = { done: 0, queued: 0 };
  private since = 0;

  constructor(
    private readonly socket: Socket,
    private readonly ms: number,
    private readonly onStalled: () => void,
  ) {}

  start(): void {
    if (this.ms <= 0 || this.timer) return;
    this.last = sendProgress(this.socket);
    this.since = performance.now();
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.check(), Math.min(this.ms, SEND_CHECK_MS));
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    if (this.socket.destroyed || this.socket.writableLength === 0) return;
    const now = sendProgress(this.socket);
    // A new write can raise the queue: only completed bytes growing, or the queue falling, is the reader's doing.
    if (now.done > this.last.done || now.queued < this.last.queued) {
      this.last = now;
      this.since = performance.now();
    } else {
      this.last.queued = Math.min(this.last.queued, now.queued);
      if (performance.now() - this.since >= this.ms) return this.onStalled();
    }
    this.schedule();
  }
}
