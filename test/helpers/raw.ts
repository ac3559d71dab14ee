import { connect } from 'node:net';

export interface RawResult {
  /** Everything the server sent. */
  data: Buffer;
  /** The server closed the connection (or reset it) before the deadline. */
  closed: boolean;
}

/**
 * Sends raw bytes on a new connection and collects what comes back until the server closes it,
 * or until `deadlineMs` (a generous bound, never an assertion about time).
 */
export function sendRaw(port: number, bytes: Buffer | string, opts: { halfClose?: boolean; deadlineMs?: number } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (opts.halfClose) socket.end();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, opts.deadlineMs ?? 20_000);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies). */
export function parseResponses(data: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let text = data.toString('latin1');
  while (text.length > 0) {
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd === -1) throw new Error(`incomplete response head: ${JSON.stringify(text.slice(0, 200))}`);
    const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine!);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    text = text.slice(headEnd + 4);
    let body = '';
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const lineEnd = text.indexOf('\r\n');
        const size = parseInt(text.slice(0, lineEnd), 16);
        text = text.slice(lineEnd + 2);
        if (size === 0) {
          text = text.slice(text.indexOf('\r\n') + 2);
          break;
        }
        body += text.slice(0, size);
        text = text.slice(size + 2);
      }
    } else {
      const length = Number(headers['content-length'] ?? 0);
      body = text.slice(0, length);
      text = text.slice(length);
    }
    out.push({ status: Number(m[1]), headers, body });
  }
  return out;
}
