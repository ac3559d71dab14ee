import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/**
 * What a worker class needs from an HTTP implementation (gserve's engine or node:http): take
 * accepted sockets, and stop gracefully. Events: 'request' before the app gets a request, 'response' after each finished response,
 * 'connection-closed' after each closed connection.
 */
export interface ProtocolServer extends EventEmitter {
  accept(socket: Socket): void;
  /** A graceful stop began: answer requests in hand with `Connection: close`, keep no connection alive. */
  drain(): void;
  closeIdleConnections(): void;
  readonly connectionCount: number;
  readonly inFlight: number;
}
