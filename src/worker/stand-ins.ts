import type { Socket } from 'node:net';
import type { EngineRequest, EngineResponse } from '../http/engine.js';
import type { CompatListener } from '../http/http2.js';
import type { NodeListener } from '../interfaces/detect.js';
import type { PeerSocket, ThreadRequest, ThreadResponse } from './thread-exchange.js';
import type { ExchangeSocket } from './thread-replay.js';

/**
 * The one place where the workers cross types they cannot prove. Each function hands an object to
 * code typed for another one it stands in for, and says why that is safe. Everything else in
 * src/worker is typed without casts; a new crossing belongs here, documented like these.
 */

/**
 * An app thread's in-memory socket, for the engine and node:http, which are typed with net.Socket.
 * It has every member they use on a connection (reads, writes, the peer's addresses, destroy()).
 */
export const engineSocket = (socket: ExchangeSocket | PeerSocket): Socket => socket as unknown as Socket;

/**
 * An app thread's request and response, for the gateway adapters, which are typed with the engine's
 * classes. thread-exchange.ts checks at compile time that they have the classes' public members.
 */
export function engineExchange(req: ThreadRequest, res: ThreadResponse): [EngineRequest, EngineResponse] {
  return [req as unknown as EngineRequest, res as unknown as EngineResponse];
}

/**
 * A node app's `(req, res)` listener, for node's HTTP/2 compatibility API: there it gets an
 * Http2ServerRequest and Http2ServerResponse, which node made to be used like IncomingMessage and
 * ServerResponse (the listener is the same one HTTP/1.1 calls).
 */
export const compatListener = (listener: NodeListener): CompatListener => listener as CompatListener;
