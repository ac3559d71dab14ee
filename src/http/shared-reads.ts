import { Socket } from 'node:net';
import { userBufferReads } from './node-internals.js';

/**
 * Reads plain connections into one buffer that the whole worker reuses, instead of a new Buffer
 * per read. Each of those is an off-heap ArrayBuffer, which costs about a microsecond to make and
 * free on the machines measured: near a tenth of what a keep-alive hello costs the own engine
 * (bench/, hello-keepalive). The engine parses each read at once and copies only what it keeps
 * (body bytes, the bytes after an upgrade's head), so one buffer serves every connection: reads
 * reach JavaScript one at a time.
 */
const READ_SIZE = 64 * 1024;
let shared: Buffer | null = null;

/** A connection read into the shared buffer. */
export interface SharedReads {
  /**
   * Gives the socket's later reads to whoever takes the socket next (a WebSocket): from now on each
   * read is copied and pushed into the socket's own stream, as node would have.
   */
  handOver(): void;
}

/**
 * Reads `socket` into the shared buffer; `onRead` gets each read as a view that is valid only during
 * the call. Null where that is not possible (a TLS socket, a socket with bytes already in its
 * stream, a Node without the hooks): read its 'data' events then.
 */
export function readShared(socket: Socket, onRead: (view: Buffer) => void): SharedReads | null {
  if (socket.constructor !== Socket || socket.readableLength > 0 || socket.listenerCount('data') > 0) return null;
  const useBuffer = userBufferReads(socket);
  if (!useBuffer) return null;
  shared ??= Buffer.allocUnsafe(READ_SIZE);
  let handedOver = false;
  useBuffer(shared, (bytes, buffer) => {
    // Returning false stops reading, as a full stream does: the new owner's stream is full.
    if (handedOver) return socket.push(Buffer.from(buffer.subarray(0, bytes)));
    onRead(buffer.subarray(0, bytes));
    return true;
  });
  return {
    handOver() {
      handedOver = true;
    },
  };
}
