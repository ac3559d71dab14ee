import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { parseResponse, rawExchange } from '../helpers/raw.js';

/**
 * GSERVE_BENCH_UNHARDENED=1 turns gserve's own checks off on the node path, so the bench can show
 * what they cost against the same build (issue 14). It must say so loudly, and really be off.
 */
const APP = `${join(FIXTURES, 'apps', 'node-pid.js')}:app`;
// Six fields against --limit-request-fields 4: llhttp accepts it; gserve's checks refuse it with 431.
const MANY_FIELDS = 'GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nConnection: close\r\n\r\n';

describe('the benchmark-only switch that turns the node path hardening off', () => {
  it('hardened by default: a request over --limit-request-fields is refused', async () => {
    const g = await startGserve(['-w', '1', '--limit-request-fields', '4', APP]);
    expect(parseResponse(await rawExchange(g.port, MANY_FIELDS)).status).toBe(431);
  });

  it('GSERVE_BENCH_UNHARDENED=1: the app gets it, and the worker warns', async () => {
    const g = await startGserve(['-w', '1', '--limit-request-fields', '4', APP], {
      env: { GSERVE_BENCH_UNHARDENED: '1' },
    });
    await g.waitForLog(/GSERVE_BENCH_UNHARDENED=1: gserve's request checks are off/);
    expect(parseResponse(await rawExchange(g.port, MANY_FIELDS)).status).toBe(200);
  });
});
