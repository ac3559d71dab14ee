import { REFUSAL_LINGER_MS, Rejection, badRequest } from './reject.js';

/**
 * The one timer a connection needs at a time: waiting for the next request (`idle`, the keep-alive
 * time), for the rest of a request head (`header`), or for the rest of a body (`body`). Parsing is
 * sequential, so these never overlap.
 */
export type TimerKind = 'idle' | 'header' | 'body';

export class ConnectionTimer {
  private timer: NodeJS.Timeout | null = null;
  kind: TimerKind | null = null;

  constructor(private readonly onFire: (kind: TimerKind) => void) {}

  /** Starts (or restarts) the timer; a 0 duration means no timer. */
  arm(kind: TimerKind, ms: number): void {
    this.clear();
    if (ms <= 0) return;
    this.kind = kind;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kind = null;
      this.onFire(kind);
    }, ms);
    this.timer.unref();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.kind = null;
  }
}

const secondsText = (ms: number) => `${+(ms / 1000).toFixed(3)} s`;

export const headerTimedOut = (ms: number) =>
  new Rejection(408, `the request head did not arrive within ${secondsText(ms)} (--header-timeout)`);
export const bodyTimedOut = (ms: number) =>
  new Rejection(408, `the request body did not arrive within ${secondsText(ms)} (--request-timeout)`);
export const truncatedByClient = () => badRequest('the client closed its side in the middle of a request');

/** After a refusal, how long the client may take to read it and close before the socket is destroyed. */
export const LINGER_MS = REFUSAL_LINGER_MS;
