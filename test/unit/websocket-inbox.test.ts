import { describe, expect, it } from 'vitest';
import { WebSocketInbox } from '../../src/interfaces/asgi.js';

/** A socket that records what the inbox asked of it. */
function recorder() {
  const calls: string[] = [];
  return { calls, socket: { pause: () => void calls.push('pause'), resume: () => void calls.push('resume') } };
}

const message = (bytes: number) => ({ type: 'websocket.receive', bytes: new Uint8Array(bytes) });

describe("an ASGI WebSocket's inbox", () => {
  it('stops its socket reading at 32 unread messages, and reads again once the app has taken half', async () => {
    const { calls, socket } = recorder();
    const inbox = new WebSocketInbox();
    inbox.socket = socket;
    for (let i = 0; i < 40; i++) inbox.push(message(10));
    expect(calls).toEqual(['pause']);
    for (let i = 0; i < 23; i++) await inbox.next();
    expect(calls).toEqual(['pause']); // 17 left
    await inbox.next();
    expect(calls).toEqual(['pause', 'resume']); // 16 left
  });

  it('stops at 4 MiB unread, however few the messages', async () => {
    const { calls, socket } = recorder();
    const inbox = new WebSocketInbox();
    inbox.socket = socket;
    inbox.push(message(3 * 1024 * 1024));
    expect(calls).toEqual([]);
    inbox.push(message(1024 * 1024));
    expect(calls).toEqual(['pause']);
    await inbox.next();
    expect(calls).toEqual(['pause', 'resume']);
  });

  it('hands a message straight to an app already waiting, without counting it', async () => {
    const { calls, socket } = recorder();
    const inbox = new WebSocketInbox();
    inbox.socket = socket;
    const waiting = inbox.next();
    inbox.push(message(8 * 1024 * 1024));
    expect((await waiting).type).toBe('websocket.receive');
    expect(calls).toEqual([]);
  });

  it('answers every receive() after the disconnect with the disconnect, and takes nothing after it', async () => {
    const inbox = new WebSocketInbox();
    inbox.push(message(1));
    inbox.push({ type: 'websocket.disconnect', code: 1009, reason: '' });
    inbox.push(message(1));
    expect((await inbox.next()).type).toBe('websocket.receive');
    for (let i = 0; i < 3; i++)
      expect(await inbox.next()).toEqual({ type: 'websocket.disconnect', code: 1009, reason: '' });
  });
});
