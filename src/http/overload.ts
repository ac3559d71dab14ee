import type { Socket } from 'node:net';

const BODY = 'Service Unavailable: too many connections, retry shortly\n';
const RESPONSE =
  'HTTP/1.1 503 Service Unavailable\r\n' +
  'retry-after: 1\r\n' +
  'content-type: text/plain\r\n' +
  `content-length: ${BODY.length}\r\n` +
  'connection: close\r\n\r\n' +
  BODY;
/** How long a refused client may take to close its side before the socket is destroyed. */
const LINGER_MS = 2_000;

/**
 * Refuses a connection at once with `503` and `Retry-After: 1`, without reading the request: a
 * fast, explicit answer beats a connection that hangs in a full worker. What the client sends is
 * read and dropped, so that closing does not turn into a reset that could eat the response.
 */
export function refuseOverloaded(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  socket.resume();
  socket.end(RESPONSE, 'latin1');
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
