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
