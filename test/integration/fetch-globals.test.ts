import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

const APP = join(FIXTURES, 'apps', 'fetch-globals.js');

describe('--override-global-objects', () => {
  it('replaces Request and Response with the fast stand-ins by default', async () => {
    const g = await startGserve([APP]);
    const seen = JSON.parse((await get(`${g.url}/a`)).body);
    expect(seen.response).toBe('FastResponse');
    expect(seen.request).not.toBe('Request');
    expect(seen).toMatchObject({ copied: `http://127.0.0.1:${g.port}/a`, ip: '127.0.0.1' });
  });

  it('--no-override-global-objects keeps node’s own classes, and the app gets a real Request', async () => {
    const g = await startGserve(['--no-override-global-objects', APP]);
    const seen = JSON.parse((await get(`${g.url}/a`)).body);
    expect(seen).toEqual({
      response: 'Response',
      request: 'Request',
      copied: `http://127.0.0.1:${g.port}/a`,
      ip: '127.0.0.1',
    });
  });
});

describe('the fast Response answers as node’s own', () => {
  it('for inits of every shape: a Map of headers, a status string, a body with 205, padded values', async () => {
    const app = join(FIXTURES, 'apps', 'fetch-init-shapes.js');
    const [fast, native] = [await startGserve([app]), await startGserve(['--no-override-global-objects', app])];
    for (const path of ['/map', '/status-string', '/205-body', '/padded']) {
      const [a, b] = [await get(fast.url + path), await get(native.url + path)];
      expect({ status: a.status, map: a.headers['x-from-map'], padded: a.headers['x-a'] }, path).toEqual({
        status: b.status,
        map: b.headers['x-from-map'],
        padded: b.headers['x-a'],
      });
    }
    expect((await get(`${fast.url}/map`)).headers['x-from-map']).toBe('1');
    expect((await get(`${fast.url}/status-string`)).status).toBe(201);
    expect((await get(`${fast.url}/205-body`)).status).toBe(500); // the native Response refuses a body with 205
  });
});
