import type { Socket } from 'node:net';
import { httpDate, reasonPhrase } from './status.js';

export type RejectStatus = 400 | 408 | 413 | 414 | 417 | 431;

/**
 * Why a request is refused before the app sees it (or, for a body, before the app reads past the
 * problem). `reason` is one short sentence naming the rule or the limit; it becomes the response body
 * and the log line.
 */
export class Rejection extends Error {
  constructor(
    readonly status: RejectStatus,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'Rejection';
  }
}

export const badRequest = (reason: string) => new Rejection(400, reason);

/**
 * The whole refusal: a short plain-text body and `Connection: close`, since after a framing error
 * nothing later on the connection can be trusted.
 */
export function rejectionResponse(r: Rejection): Buffer {
  // Reasons may quote the client's bytes: shown in printable ASCII, whatever they were.
  const reason = r.reason.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const body = `${reasonPhrase(r.status)}: ${reason}\n`;
  return Buffer.from(
    `HTTP/1.1 ${r.status} ${reasonPhrase(r.status)}\r\n` +
      'content-type: text/plain; charset=utf-8\r\n' +
      `content-length: ${body.length}\r\n` +
      `date: ${httpDate()}\r\n` +
      'connection: close\r\n\r\n' +
      body,
    'latin1',
  );
}

/** After a refusal, how long the client may take to read it and close before the socket is destroyed. */
export const REFUSAL_LINGER_MS = 2_000;

/**
 * Sends the refusal and closes, on either HTTP path: the client gets the answer, then our FIN; what
 * it still sends meanwhile is read and dropped (a close with unread data would reset the connection
 * and could destroy the answer in flight); after the linger the socket is destroyed whatever the
 * client does.
 */
export function refuseAndClose(socket: Socket, r: Rejection): void {
  if (socket.destroyed || socket.writableEnded) return;
  socket.resume();
  socket.end(rejectionResponse(r));
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

/** Fields for the info log line that records a refusal. */
export function rejectionLogFields(
  r: Rejection,
  peer: { remoteAddress?: string; remotePort?: number },
): Record<string, unknown> {
  return {
    status: r.status,
    reason: r.reason,
    remote: peer.remoteAddress ? `${peer.remoteAddress}:${peer.remotePort}` : undefined,
  };
}
