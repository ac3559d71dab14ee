import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptProxyProtocol } from '../../src/http/proxy-protocol.js';
import { TrustedPeers } from '../../src/http/proxy.js';
import { portOf } from '../helpers/ports.js';

const LOCAL = new TrustedPeers(['127.0.0.1', '::1']);

interface Outcome {
  error?: string;
  remoteAddress?: string;
  remotePort?: number;
  rest?: string;
}

let server: Server | null = null;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(null)));
  server = null;
});

/** Runs one connection through the PROXY protocol reader on a real socket pair. */
async function through(bytes: Buffer | string, trusted = LOCAL): Promise<Outcome> {
  let report!: (o: Outcome) => void;
  const outcome = new Promise<Outcome>((resolve) => (report = resolve));
  server = createServer((socket) =>
    acceptProxyProtocol(
      socket,
      (s: Socket) => {
        let rest = '';
        s.setEncoding('latin1').on('data', (d: string) => {
          rest += d;
          if (rest.endsWith('END')) report({ remoteAddress: s.remoteAddress, remotePort: s.remotePort, rest });
        });
        s.resume();
      },
      (err) => report({ error: err.message }),
      trusted,
    ),
  );
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const client = connect(portOf(server), '127.0.0.1', () => client.end(bytes));
  client.on('error', () => {});
  client.resume();
  return outcome;
}

const v2 = (command: number, family: number, body: Buffer) =>
  Buffer.concat([
    Buffer.from('0d0a0d0a000d0a515549540a', 'hex'),
    Buffer.from([0x20 | command, family, body.length >> 8, body.length & 255]),
    body,
  ]);

describe('PROXY protocol reader', () => {
  it('applies a v1 TCP4 header and passes the rest on', async () => {
    expect(await through('PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nhello END')).toEqual({
      remoteAddress: '192.0.2.1',
      remotePort: 1000,
      rest: 'hello END',
    });
  });

  it('keeps the real peer for v1 UNKNOWN and v2 LOCAL, and for a connection without a header', async () => {
    expect(await through('PROXY UNKNOWN\r\nEND')).toMatchObject({ remoteAddress: '127.0.0.1', rest: 'END' });
    expect(await through(Buffer.concat([v2(0, 0, Buffer.alloc(0)), Buffer.from('END')]))).toMatchObject({
      remoteAddress: '127.0.0.1',
      rest: 'END',
    });
    expect(await through('POST / HTTP/1.1\r\nEND')).toMatchObject({
      remoteAddress: '127.0.0.1',
      rest: 'POST / HTTP/1.1\r\nEND',
    });
  });

  it('refuses malformed headers', async () => {
    expect((await through('PROXY TCP4 192.0.2.1 192.0.2.2 99999 80\r\nEND')).error).toMatch(/malformed/);
    expect((await through(`PROXY TCP4 ${'1'.repeat(120)}`)).error).toMatch(/longer than 107/);
    expect(
      (await through(Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x31, 0x11, 0, 0])])))
        .error,
    ).toMatch(/unknown version/);
    expect((await through('PROXY TCP4 192.0.2.1')).error).toMatch(/closed inside/);
  });

  it('does not read a header from an untrusted peer', async () => {
    const onlyOther = new TrustedPeers(['10.0.0.1']);
    expect(await through('PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nEND', onlyOther)).toMatchObject({
      remoteAddress: '127.0.0.1',
      rest: 'PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nEND',
    });
  });
});
