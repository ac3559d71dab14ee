import type { Socket } from 'node:net';
import { refuseOverloaded } from '../http/overload.js';

/**
 * `--worker-connections`: the most connections one worker process holds at once. One beyond it is
 * refused at once with 503 and Retry-After (http/overload.ts) rather than queued: a client is
 * better served by a fast, retryable answer than by hanging behind a full worker.
 */
export class ConnectionCap {
  private open = 0;

  constructor(private readonly max: number) {}

  /** Wraps an accept callback: counts connections and refuses the ones over the cap. */
  guard(accept: (socket: Socket) => void): (socket: Socket) => void {
    return (socket) => {
      if (this.open >= this.max) {
        refuseOverloaded(socket);
        return;
      }
      this.open++;
      socket.once('close', () => this.open--);
      accept(socket);
    };
  }
}
