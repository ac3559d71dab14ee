import { connect, createServer, type Socket } from 'node:net';

/** Sends raw bytes on a new connection and collects everything until the server closes it. */
export function rawExchange(target: { port: number; host?: string } | { path: string }, bytes: Buffer | string, onOpen?: (s: Socket) => void): Promise<string> {
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
 * write as the client's first bytes (the hardest case for the server: the header and the TLS
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
      const socket = connect((relay.address() as { port: number }).port, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    });
  });
}
