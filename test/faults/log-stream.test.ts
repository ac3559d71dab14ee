import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';
import { descendants } from './proc.js';

const app = join(FIXTURES, 'apps/node-pid.js');

const pidIn = (body: string) => Number(/^pid (\d+)$/m.exec(body)?.[1]);

describe('the error log on a stderr whose reader went away', () => {
  // `gserve app | head -1`, or a log shipper that died: every line written after is an EPIPE. The
  // lines are lost; the server is not.
  it('serves, reloads on HUP and stops cleanly on TERM, writing nothing it cannot', async () => {
    const g = await startGserve(['-w', '1', '--log-level', 'debug', app]);
    const url = g.url;
    const [first] = [...g.workerPids];
    g.child.stderr!.destroy();

    const before = await get(url);
    expect(before.status).toBe(200);
    expect(pidIn(before.body)).toBe(first);

    // A reload logs a dozen lines in the master and the new worker, each one now an EPIPE.
    g.signal('SIGHUP');
    const replaced = await pollUntil(async () => {
      const res = await get(url).catch(() => null);
      return res?.status === 200 && pidIn(res.body) !== first && pidIn(res.body);
    }, 'a new worker to answer after the HUP');
    expect(descendants(g.pid).map((p) => p.pid)).toContain(replaced);

    g.signal('SIGTERM');
    expect(await g.exited).toEqual({ code: 0, signal: null });
  });
});
