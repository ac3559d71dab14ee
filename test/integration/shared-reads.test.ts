import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { parseResponse, rawExchange } from '../helpers/raw.js';

/**
 * The own engine reads every plain connection of a worker into one shared buffer
 * (src/http/shared-reads.ts), so what a request keeps of a read (body bytes its app has not read
 * yet, the bytes after a WebSocket upgrade's head) must be copied before the next read, of any
 * connection, overwrites it. Each case holds such bytes unread while another connection's
 * requests are read, then checks them.
 */
const APP = join(FIXTURES, 'apps', 'held-reads.js');
const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * Other connections' requests, long enough to overwrite every byte the held request was read with;
 * the first waits until the held request is waiting.
 */
async function releaseAfterOtherReads(port: number): Promise<void> {
  for (const [path, answer] of [
    ['/held', 'held'],
    ['/release', 'released'],
  ]) {
    const head = `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(6000)}\r\nConnection: close\r\n\r\n`;
    expect(parseResponse(await rawExchange(port, head)).body).toBe(answer);
  }
}

describe('reads into the shared buffer', () => {
  it.each([
    ['fetch', 'fetchApp'],
    ['asgi', 'asgiApp'],
  ])('keep the unread body of a waiting %s request intact', async (_name, name) => {
    const g = await startGserve([`${APP}:${name}`, '-w', '1']);
    // Whole in one write, so the head and body arrive in one read, and the body waits unread.
    const body = randomBytes(3000);
    const head = `POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const answer = rawExchange(g.port, Buffer.concat([Buffer.from(head, 'latin1'), body]));
    await releaseAfterOtherReads(g.port);
    const response = parseResponse(await answer);
    expect(response.status).toBe(200);
    expect(sha(Buffer.from(response.body, 'latin1'))).toBe(sha(body));
  });

  it('keep the bytes sent right behind a WebSocket upgrade for the WebSocket', async () => {
    const g = await startGserve([`${APP}:asgiApp`, '-w', '1']);
    const text = 'sent with the upgrade, read after other connections';
    // A masked text frame (RFC 6455 §5.2), in the same write as the upgrade request.
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from(text).map((byte, i) => byte ^ mask[i % 4]!);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload]);
    const upgrade =
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const socket = connect(g.port, '127.0.0.1');
    let all = Buffer.alloc(0);
    // The answer's head, then the server's first frame (unmasked, a one-byte length), or the close.
    const answered = new Promise<void>((resolve) => {
      const done = () => {
        socket.destroy();
        resolve();
      };
      socket.on('data', (chunk) => {
        all = Buffer.concat([all, chunk]);
        const frameAt = all.indexOf('\r\n\r\n') + 4;
        if (frameAt > 3 && all.length >= frameAt + 2 && all.length >= frameAt + 2 + all[frameAt + 1]!) done();
      });
      socket.on('close', done);
    });
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from(upgrade, 'latin1'), frame])));
    await releaseAfterOtherReads(g.port);
    await answered;
    const headEnd = all.indexOf('\r\n\r\n');
    expect(all.subarray(0, headEnd).toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const reply = all.subarray(headEnd + 4);
    expect(reply[0]).toBe(0x81);
    expect(reply.subarray(2, 2 + reply[1]!).toString()).toBe(text);
  });
});
