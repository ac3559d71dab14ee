import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { runLoad } from '../helpers/load.js';

/** Recycling under load: no request fails, and the memory ceiling holds within 1.25x. */
const apps = join(import.meta.dirname, 'apps');
const MB = 1_000_000;

describe('recycling under load', () => {
  it('--max-requests: workers recycle again and again, 0 failed requests', async () => {
    const g = await startGserve([
      '-w',
      '2',
      '--max-requests',
      '40',
      '--max-requests-jitter',
      '10',
      join(FIXTURES, 'apps', 'generation.js'),
    ]);
    const load = await runLoad({ url: g.url, total: 500, connections: 8, freshEvery: 4 });
    expect(load.errors).toEqual([]);
    expect([...load.statuses.keys()]).toEqual([200]);
    expect(g.lines.filter((l) => /^Recycling worker/.test(l.msg)).length).toBeGreaterThanOrEqual(4);
    expect(g.lines.filter((l) => /was killed|exited with code/.test(l.msg))).toEqual([]);
  }, 180_000);

  for (const klass of ['async', 'sync']) {
    it(`--max-worker-memory 120MB, -k ${klass}, a leaking app under load: the peak RSS stays within 1.25x, ` +
      `0 failed requests`, async () => {
      // Low, so that the ~50 MB a worker can grow per second on a busy 2-core machine is a large share of it.
      const ceiling = 120 * MB;
      const g = await startGserve(['-k', klass, '-w', '1', '--max-worker-memory', '120MB', join(apps, 'leak.js')], {
        env: { LEAK_KB: '1024' },
      });
      let peak = 0;
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      const errors: string[] = [];
      let served = 0;
      const one = () =>
        new Promise<void>((resolve) => {
          const req = request(g.url, { agent }, (res) => {
            peak = Math.max(peak, Number(res.headers['x-max-rss']));
            res.resume().on('end', () => {
              if (res.statusCode === 200) served++;
              else errors.push(`status ${res.statusCode}`);
              resolve();
            });
          });
          req.on('error', (err) => {
            errors.push((err as NodeJS.ErrnoException).code ?? err.message);
            resolve();
          });
          req.end();
        });
      // Until the worker has been recycled for memory twice: 1 MB a request on 4 keep-alive connections.
      const recycled = () => g.lines.filter((l) => /^Recycling worker \(pid: \d+\): memory/.test(l.msg)).length;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (recycled() < 2 && served + errors.length < 5000) await one();
        }),
      );
      agent.destroy();
      expect(errors).toEqual([]);
      expect(recycled()).toBeGreaterThanOrEqual(2);
      expect(peak).toBeGreaterThan(ceiling); // it did get there
      expect(peak / ceiling).toBeLessThanOrEqual(1.25);
      console.log(
        `-k ${klass}: peak RSS ${(peak / MB).toFixed(0)} MB against a 120 MB ceiling ` +
          `(${(peak / ceiling).toFixed(2)}x), ${served} requests`,
      );
    }, 180_000);
  }
});
