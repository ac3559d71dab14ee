import type { Socket } from 'node:net';

/** A 503 with Retry-After: 1 that closes the connection, saying why in its body. */
const unavailable = (why: string): string => {
  const body = `Service Unavailable: ${why}\n`;
  return (
    'HTTP/1.1 503 Service Unavailable\r\n' +
    'retry-after: 1\r\n' +
    'content-type: text/plain\r\n' +
    `content-length: ${body.length}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
};
const OVERLOADED = unavailable('too many connections, retry shortly');
const SHUTTING_DOWN = unavailable('the server is shutting down; the request was not run, retry it');
/** How long a refused client may take to close its side before the socket is destroyed. */
const LINGER_MS = 2_000;

/**
 * Refuses a connection at once with `503` and `Retry-After: 1`, without reading the request: a
 * fast, explicit answer beats a connection that hangs in a full worker. What the client sends is
 * read and dropped, so that closing does not turn into a reset that could eat the response.
 */
export function refuseOverloaded(socket: Socket, tls = false): void {
  refuse(socket, OVERLOADED, tls);
}

/**
 * Refuses a connection whose request arrived but was never handed to a worker, because the server
 * began to stop (-k sync's waiting line): a 503 that says the request did not run is something a
 * client or a proxy can act on (retry it, even a POST); a bare close is not.
 */
export function refuseShuttingDown(socket: Socket, tls = false): void {
  refuse(socket, SHUTTING_DOWN, tls);
}

/** `tls`: the listener speaks TLS, so the refusal is a close: a plain-text 503 written into a handshake only breaks it. */
function refuse(socket: Socket, response: string, tls: boolean): void {
  if (tls) return void socket.destroy();
  socket.on('error', () => socket.destroy());
  socket.resume();
  socket.end(response, 'latin1');
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
