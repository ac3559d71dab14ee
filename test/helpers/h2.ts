import { readFileSync } from 'node:fs';
import {
  connect as http2Connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { TestCerts } from './certs.js';

/** An HTTP/2 session to a gserve TLS listener, trusting the test certificate. */
export function h2Session(port: number, certs: TestCerts): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://localhost:${port}`, { ca: readFileSync(certs.cert) });
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a session; resolves with the response, rejects on a stream error (RST_STREAM). */
export function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer | string,
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let out = '';
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.setEncoding('utf8').on('data', (c: string) => (out += c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: out }));
    stream.on('error', reject);
    stream.on('close', () => {
      if (head[':status'] === undefined)
        reject(new Error(`stream closed without a response (RST_STREAM code ${stream.rstCode})`));
    });
    if (body !== undefined) stream.end(body);
  });
}

/** A TLS connection with the given ALPN offer, resolved once the handshake is done. */
export function tlsOpen(port: number, certs: TestCerts, alpn: string[]): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(certs.cert), ALPNProtocols: alpn },
      () => resolve(socket),
    );
    socket.once('error', reject);
  });
}

// ---- raw HTTP/2 frames, for clients node's own would never be ----

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = Object.freeze({ DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, CONTINUATION: 9 });
export const FLAG = Object.freeze({ END_STREAM: 0x1, END_HEADERS: 0x4, ACK: 0x1 });

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/**
 * A GET / request head in HPACK without Huffman or the dynamic table: static-table entries for
 * :method GET (2), :scheme https (7), :path / (4), then :authority in a literal (name index 1).
 */
export function getHeaderBlock(authority = 'localhost'): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, authority.length]), Buffer.from(authority, 'latin1')]);
}

/** The frames a raw client reads: type, flags, stream and payload of each, as they complete. */
export function readFrames(
  socket: { on(event: 'data', listener: (chunk: Buffer) => void): unknown },
  onFrame: (f: { type: number; flags: number; streamId: number; payload: Buffer }) => void,
): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
      onFrame({ type: buffered[3]!, flags: buffered[4]!, streamId, payload: buffered.subarray(9, 9 + length) });
      buffered = buffered.subarray(9 + length);
    }
  });
}

/** RST_STREAM with CANCEL (8). */
export const rstStream = (streamId: number) => frame(FRAME.RST_STREAM, 0, streamId, Buffer.from([0, 0, 0, 8]));

/** Resident set size of a process, from /proc (Linux), in bytes. */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
