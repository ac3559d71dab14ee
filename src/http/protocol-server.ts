import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/**
 * One finished request and its response, the way the access log and the metrics see it: the third
 * argument of the 'response' event, whichever HTTP implementation served it.
 */
export interface FinishedExchange {
  readonly method: string;
  /** The request target, unchanged from the request (path and query). */
  readonly url: string;
  readonly httpVersion: string;
  readonly status: number;
  /** Response body bytes (as Gunicorn's `B`). */
  readonly bodyBytes: number;
  /** `performance.now()` when the request head arrived. */
  readonly startedAt: number;
  readonly socket: Socket;
  /** A request header's first value, by lower-case name. */
  requestHeader(name: string): string | undefined;
  /** A response header's value, by lower-case name. */
  responseHeader(name: string): string | undefined;
}

/**
 * What a worker class needs from an HTTP implementation (gserve's engine or node:http): take
 * accepted sockets, and stop gracefully. Events: 'request' before the app gets a request,
 * 'response' (req, res, exchange: FinishedExchange) after each finished response,
 * 'connection-closed' after each closed connection.
 */
export interface ProtocolServer extends EventEmitter {
  accept(socket: Socket): void;
  /** A graceful stop began: answer requests in hand with `Connection: close`, keep no connection alive. */
  drain(): void;
  closeIdleConnections(): void;
  /** Open connections, but for those an app's own `upgrade` export took over (appOwnedCount). */
  readonly connectionCount: number;
  /**
   * Connections an app's own `upgrade` export took over: only the app ends them, from its close()
   * at a graceful stop, so that stop waits for them after the app's close(), not before it.
   */
  readonly appOwnedCount: number;
  readonly inFlight: number;
}

/**
 * Asks a new connection for its peer's address while it can tell: node asks the kernel only on the
 * first read of `remoteAddress` and keeps the answer, and a socket destroyed before that has none.
 * With an access log on, a response the client cut short is still logged with its `remote`.
 */
export function rememberPeer(socket: Socket): void {
  void socket.remoteAddress;
}

/**
 * Calls `heard` when a listener for `event` is first added to `emitter`. A server emits 'request'
 * only once something listens (a preRequest hook): an emit with no listener still looked the event
 * up in its table of events, a megamorphic load on every request.
 */
export function whenListened(emitter: EventEmitter, event: string, heard: () => void): void {
  const watch = (name: string | symbol) => {
    if (name !== event) return;
    emitter.off('newListener', watch);
    heard();
  };
  emitter.on('newListener', watch);
}
