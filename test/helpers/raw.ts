import { connect, createServer, type Socket } from 'node:net';
import { portOf } from './ports.js';

/** Sends raw bytes on a new connection and collects everything until the server closes it. */
export function rawExchange(
  to: number | { port: number; host?: string } | { path: string },
  bytes: Buffer | string,
  onOpen?: (s: Socket) => void,
): Promise<string> {
  const target = typeof to === 'number' ? { port: to } : to;
  return new Promise((resolve, reject) => {
    const socket = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      onOpen?.(socket);
      socket.write(bytes);
    });
    socket.on('data', (d: string) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

/** The status code and JSON body of a single `Connection: close` response. */
export function parseResponse(text: string): { status: number; body: string; head: string } {
  const at = text.indexOf('\r\n\r\n');
  const head = text.slice(0, at);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  let body = text.slice(at + 4);
  if (/transfer-encoding: chunked/i.test(head)) {
    let decoded = '';
    for (let rest = body; ; ) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol), 16);
      if (!size) break;
      decoded += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 4 + size);
    }
    body = decoded;
  }
  return { status, body, head };
}

/**
 * A connection to `port` that behaves like one forwarded by HAProxy: `header` goes out in the same
 * write with the client's first bytes (the hardest case for the server: the header and the TLS
 * ClientHello arrive in one read). Returns the client's end, through a one-shot local relay.
 */
export function connectBehindProxy(port: number, header: Buffer | string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const relay = createServer((client) => {
      relay.close();
      const upstream = connect(port, '127.0.0.1');
      let first = true;
      client.on('data', (d: Buffer) => {
        upstream.write(first ? Buffer.concat([Buffer.from(header), d]) : d);
        first = false;
      });
      upstream.on('data', (d: Buffer) => client.write(d));
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    relay.listen(0, '127.0.0.1', () => {
      const socket = connect(portOf(relay), '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    });
  });
}

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
export function sendRaw(
  port: number,
  bytes: Buffer | string,
  opts: { halfClose?: boolean; deadlineMs?: number } = {},
): Promise<RawResult> {
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
        const size = lineEnd === -1 ? NaN : parseInt(text.slice(0, lineEnd), 16);
        if (Number.isNaN(size)) throw new Error('incomplete or malformed chunked body');
        text = text.slice(lineEnd + 2);
        if (size === 0) {
          if (!text.startsWith('\r\n')) throw new Error('incomplete chunked body');
          text = text.slice(2);
          break;
        }
        if (text.length < size + 2) throw new Error('incomplete chunked body');
        body += text.slice(0, size);
        text = text.slice(size + 2);
      }
    } else if (headers['content-length'] === undefined && !/^(1\d\d|204|304)$/.test(m[1]!)) {
      body = text; // delimited by the close
      text = '';
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (text.length < length) throw new Error('incomplete body');
      body = text.slice(0, length);
      text = text.slice(length);
    }
    out.push({ status: Number(m[1]), headers, body });
  }
  return out;
}

/** One keep-alive connection, for requests sent one after another. */
export class RawConnection {
  private data = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private taken = 0;
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d) => {
      this.data = Buffer.concat([this.data, d]);
      this.waiter?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.waiter?.();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends bytes and waits for the next whole response (or rejects if the connection closes first). */
  async request(bytes: Buffer | string): Promise<RawResponse> {
    this.socket.write(bytes);
    return this.nextResponse();
  }

  async nextResponse(): Promise<RawResponse> {
    for (;;) {
      let responses: RawResponse[] = [];
      try {
        responses = parseResponses(this.data);
      } catch {
        // incomplete: wait for more
      }
      if (responses.length > this.taken) return responses[this.taken++]!;
      if (this.isClosed) throw new Error('connection closed before a response');
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /**
   * 'closed' once the server closes the connection, or 'still open after N s' when `ms` pass first: a
   * deadline for a close that must come, without leaving a timer behind to hold the test run.
   */
  closedWithin(ms: number): Promise<string> {
    return Promise.race([
      this.closed.then(() => 'closed'),
      new Promise<string>((resolve) => setTimeout(() => resolve(`still open after ${ms / 1000} s`), ms).unref()),
    ]);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A connection left open after sending `bytes` (maybe none); what comes back is kept. */
export interface HeldConnection {
  socket: Socket;
  received(): string;
}

/** Opens `count` such connections and resolves once all are connected. */
export function holdConnections(port: number, count: number, bytes = ''): Promise<HeldConnection[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (d) => (received += d.toString('latin1')));
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      if (bytes) socket.write(bytes);
      return { socket, received: () => received };
    }),
  );
}
