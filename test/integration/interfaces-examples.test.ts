import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ROOT, startGserve, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/** Starts an example with the one command its README gives (`npx gserve ...`), on an ephemeral port. */
async function startExample(name: string, env: Record<string, string> = {}): Promise<Gserve> {
  const readme = readFileSync(join(ROOT, 'examples', name, 'README.md'), 'utf8');
  const command = /```sh\n(npx gserve .*)\n```/.exec(readme)?.[1];
  if (!command) throw new Error(`examples/${name}/README.md has no npx gserve command`);
  const args = command
    .slice('npx gserve '.length)
    .match(/'[^']*'|\S+/g)!
    .map((a) => a.replace(/^'(.*)'$/, '$1'));
  const w = args.indexOf('-w');
  if (w >= 0) args.splice(w, 2); // one worker is enough to test; the command's count is for people
  return startGserve(args, { env });
}

function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const nextText = (ws: WebSocket) => new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('examples', () => {
  it('express', async () => {
    const g = await startExample('express');
    expect((await get(g.url + '/')).body).toMatch(/^Hello from Express!/);
    const echo = await get(g.url + '/echo', {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(echo.body)).toEqual({ received: { a: 1 } });
  });

  it('koa', async () => {
    const g = await startExample('koa');
    expect((await get(g.url + '/')).body).toMatch(/^Hello from Koa!/);
    const r = await get(g.url + '/headers', { headers: { 'user-agent': 'test-agent' } });
    expect(r.headers['x-powered-by']).toBe('koa');
    expect(JSON.parse(r.body)).toEqual({ userAgent: 'test-agent' });
  });

  it('fastify, mounted through a factory and fastify.routing', async () => {
    const g = await startExample('fastify');
    expect(JSON.parse((await get(g.url + '/')).body)).toMatchObject({ hello: 'fastify' });
    const echo = await get(g.url + '/echo', {
      method: 'POST',
      body: '{"b":2}',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(echo.body)).toEqual({ received: { b: 2 } });
  });

  it('hono', async () => {
    const g = await startExample('hono');
    expect((await get(g.url + '/')).body).toMatch(/^Hello from Hono!/);
    expect(JSON.parse((await get(g.url + '/users/7?q=x')).body)).toEqual({ id: '7', q: 'x' });
    const echo = await get(g.url + '/echo', {
      method: 'POST',
      body: '{"c":3}',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(echo.body)).toEqual({ received: { c: 3 } });
  });

  it('wsgi-files: synchronous reads and writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gserve-wsgi-files-'));
    dirs.push(dir);
    const g = await startExample('wsgi-files', { FILES_DIR: dir });
    const put = await get(g.url + '/files/note.txt', { method: 'PUT', body: 'written synchronously\n' });
    expect(put.status).toBe(201);
    expect(readFileSync(join(dir, 'note.txt'), 'utf8')).toBe('written synchronously\n');
    expect((await get(g.url + '/files/note.txt')).body).toBe('written synchronously\n');
    expect((await get(g.url + '/')).body).toBe('note.txt\n');
    expect((await get(g.url + '/files/missing')).status).toBe(404);
  });

  it('asgi-lifespan: state from startup, and a WebSocket echo', async () => {
    const g = await startExample('asgi-lifespan');
    expect(JSON.parse((await get(g.url + '/x')).body)).toMatchObject({ greeting: 'Hello from ASGI!', path: '/x' });
    const ws = await openWs(`ws://127.0.0.1:${g.port}/`);
    ws.send('hi');
    expect(await nextText(ws)).toBe('echo: hi');
    ws.close();
  });

  it('ws-chat: messages reach every member of the room', async () => {
    const g = await startExample('ws-chat');
    expect((await get(g.url + '/')).headers['content-type']).toMatch(/text\/html/);
    const alice = await openWs(`ws://127.0.0.1:${g.port}/chat?name=alice`);
    const joined = nextText(alice);
    const bob = await openWs(`ws://127.0.0.1:${g.port}/chat?name=bob`);
    expect(await joined).toBe('bob joined');
    const atAlice = nextText(alice);
    const atBob = nextText(bob);
    bob.send('hello');
    expect(await atAlice).toBe('bob: hello');
    expect(await atBob).toBe('bob: hello');
    alice.close();
    bob.close();
  });
});
