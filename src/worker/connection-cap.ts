import type { Socket } from 'node:net';
import { refuseOverloaded } from '../http/overload.js';
import type { ConnectionBalance } from './balance.js';

/**
 * `--worker-connections`: the most connections one worker process holds at once. One beyond it is
 * refused at once with 503 and Retry-After (http/overload.ts) rather than queued: a client is
 * better served by a fast, retryable answer than by hanging behind a full worker.
 *
 * It counts every connection the worker holds, so it is also where the worker takes part in
 * balancing (balance.ts): a new connection may go on to a less loaded worker instead.
 */
export class ConnectionCap {
  private open = 0;
  /** Connections being passed on to another worker, not yet sent: a stop must not end the worker under them. */
  private passing = 0;
  /** Told after each connection held here closed (its raw socket, whatever the layers above it did). */
  onClosed: (() => void) | null = null;

  /**
   * Connections this worker holds: accepted here or passed on to it, on every listener, in any layer,
   * and those it is passing on until they have left.
   */
  get held(): number {
    return this.open + this.passing;
  }

  constructor(
    private readonly max: number,
    private readonly balance: ConnectionBalance | null = null,
  ) {}

  /**
   * Wraps the accept callback of listener `listener`: counts connections, refuses the ones over the
   * cap. `tls`: the listener speaks TLS, so a refusal is a close (a plain-text 503 written into a
   * TLS handshake reads as garbage: `wrong version number`).
   */
  guard(accept: (socket: Socket) => void, listener: number, tls = false): (socket: Socket) => void {
    return (socket) => {
      if (this.balance?.shouldPass(this.open)) {
        this.passing++;
        if (this.balance.pass(socket, listener, this.passed)) return;
        this.passing--;
      }
      this.hold(socket, accept, tls);
    };
  }

  private readonly passed = () => {
    this.passing--;
    this.onClosed?.();
  };

  /** A connection another worker passed on (through the master): taken here, never passed again. */
  take(socket: Socket, accept: (socket: Socket) => void, tls = false): void {
    this.balance?.arrived();
    this.hold(socket, accept, tls);
  }

  private hold(socket: Socket, accept: (socket: Socket) => void, tls: boolean): void {
    // Listeners accept paused when balancing, so that a connection passed on was never read here.
    if (socket.isPaused()) socket.resume();
    if (this.open >= this.max) {
      refuseOverloaded(socket, tls);
      return;
    }
    this.open++;
    const { balance } = this;
    if (balance) {
      balance.publish(this.open);
      const since = performance.now();
      socket.once('close', () => {
        this.open--;
        balance.publish(this.open);
        balance.closed(performance.now() - since);
        this.onClosed?.();
      });
    } else
      socket.once('close', () => {
        this.open--;
        this.onClosed?.();
      });
    accept(socket);
  }
}
