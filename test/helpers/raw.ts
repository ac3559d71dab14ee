import { connect, type Socket } from 'node:net';

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
