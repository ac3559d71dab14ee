import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

const fixture = (name: string) => `${join(FIXTURES, 'apps', name)}`;

function open(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

const CASES = [
  ['node (websocket handlers)', 'ws-node.js:app'],
  ['node (upgrade export)', 'ws-node-upgrade.js:app'],
  ['fetch (Bun convention)', 'ws-fetch.js'],
  ['asgi', 'ws-asgi.js:app'],
] as const;

describe('WebSocket', () => {
  it.each(CASES)('echoes text and binary through %s, and still serves HTTP', async (_name, app) => {
    const g = await startGserve([fixture(app)]);
    expect((await get(g.url + '/')).body).toBe('http');
    const ws = await open(`ws://127.0.0.1:${g.port}/chat`);
    ws.send('héllo ✓');
    const text = await nextMessage(ws);
    expect(text).toEqual({ data: Buffer.from('héllo ✓'), isBinary: false });
    ws.send(Buffer.from([0, 1, 2, 255]));
    const binary = await nextMessage(ws);
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([0, 1, 2, 255]);
    ws.close(1000);
    expect((await closed(ws)).code).toBe(1000);
  });

  it('answers an ASGI close before accept with HTTP 403, and echoes the chosen subprotocol', async () => {
    const g = await startGserve([fixture('ws-asgi.js:app')]);
    await expect(open(`ws://127.0.0.1:${g.port}/deny`)).rejects.toThrow('HTTP 403');
    const ws = await open(`ws://127.0.0.1:${g.port}/`, {}, ['chat.v2', 'chat.v1']);
    expect(ws.protocol).toBe('chat.v2');
    ws.terminate();
  });

  it('refuses WebSocket with 501 under a worker class that cannot hold sockets', async () => {
    const g = await startGserve([fixture('ws-asgi.js:app'), '-k', 'sync']);
    await expect(open(`ws://127.0.0.1:${g.port}/`)).rejects.toThrow('HTTP 501');
    expect((await get(g.url + '/')).body).toBe('http');
  });

  it('closes a message over --ws-max-size with 1009', async () => {
    const g = await startGserve([fixture('ws-fetch.js'), '--ws-max-size', '1024']);
    const ws = await open(`ws://127.0.0.1:${g.port}/`);
    ws.send('small');
    await nextMessage(ws);
    const done = closed(ws);
    ws.send('x'.repeat(2000));
    expect((await done).code).toBe(1009);
  });

  it('drops a peer that does not answer pings', async () => {
    const g = await startGserve([fixture('ws-node.js:app'), '--ws-ping-interval', '0.2', '--ws-ping-timeout', '0.3']);
    // autoPong off: this client never answers, like a peer that vanished without closing.
    const dead = await open(`ws://127.0.0.1:${g.port}/`, { autoPong: false });
    const pinged = new Promise<void>((resolve) => dead.once('ping', () => resolve()));
    const done = closed(dead);
    await pinged;
    expect((await done).code).toBe(1006); // dropped without a close frame
  });

  it.each(['ws-asgi.js:app', 'ws-node.js:app'])(
    'closes open sockets with 1001 at a graceful stop (%s)',
    async (app) => {
      const g = await startGserve([fixture(app)]);
      const ws = await open(`ws://127.0.0.1:${g.port}/`);
      ws.send('ping');
      await nextMessage(ws);
      const done = closed(ws);
      g.signal('SIGTERM');
      expect((await done).code).toBe(1001);
      const exit = await g.exited;
      expect(exit.code).toBe(0);
    },
  );
});
