import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitForEvent } from '../helpers/events.js';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponse, rawExchange } from '../helpers/raw.js';

const app = join(FIXTURES, 'apps', 'gateway-faults.js');
const ask = (port: number, path: string) =>
  rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe.each(['async', 'sync', 'thread'])('gateway faults on -k %s', (workerClass) => {
  it('sends a WSGI body returned as a bare string as one chunk, not one chunk per character', async () => {
    const g = await startGserve([`${app}:wsgi`, '-k', workerClass]);
    const text = await ask(g.port, '/string?100000');
    const { status, head, body } = parseResponse(text);
    expect(status).toBe(200);
    expect(head).toMatch(/\r\ncontent-length: 100000(\r\n|$)/i);
    expect(body).toBe('x'.repeat(100000));
    // Framed per character, the same body took six times the bytes.
    expect(text.length).toBeLessThan(100000 + 1000);
  });

  it('re-raises a WSGI excInfo once a chunk was yielded: no error page under the chunk of another status', async () => {
    const g = await startGserve([`${app}:wsgi`, '-k', workerClass]);
    const { status, body } = parseResponse(await ask(g.port, '/exc-info-late'));
    // The first chunk was held back (one chunk of look-ahead), so a clean 500 is still possible;
    // before the fix the body was "the start of the page;an error page" under the 500.
    expect(status).toBe(500);
    expect(body).toBe('Internal Server Error\n');
    await g.waitForLog(/^Error handling request GET \/exc-info-late/);
  });

  it('cancels a fetch response stream whose sending fails part-way', async () => {
    const events = join(tempDir(), 'events');
    const g = await startGserve([app, '-k', workerClass], { env: { EVENTS_FILE: events } });
    for (const path of ['/too-long', '/not-bytes']) await ask(g.port, path);
    await waitForEvent(events, /^\/too-long cancelled: the response body is longer than its Content-Length/);
    await waitForEvent(events, /^\/not-bytes cancelled: the response's body stream gave number/);
    // The worker is still serving.
    expect((await get(`${g.url}/other`)).status).toBe(404);
  });
});
