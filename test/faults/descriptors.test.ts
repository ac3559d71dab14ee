import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { holdConnections } from '../helpers/raw.js';
import { workerProcesses } from './proc.js';

/**
 * Descriptors run out during load (`ulimit -n` in a child shell, for the master and its workers):
 * connections past the limit fail, but nothing else does. Afterwards the server serves again with
 * exactly -w workers, all with pids, and TERM stops it.
 */
const apps = join(import.meta.dirname, 'apps');
const ulimit = (n: number) => ['sh', '-c', `ulimit -n ${n} && exec "$@"`, 'sh'];

describe('descriptor exhaustion during load', () => {
  for (const klass of ['async', 'sync']) {
    it(`-k ${klass} under ulimit -n 100 with 150 concurrent connections: the server survives, recovers`, async () => {
      const g = await startGserve(['-k', klass, '-w', '2', '--graceful-timeout', '2', join(apps, 'crashes.js')], {
        wrapper: ulimit(100),
      });
      const workers = workerProcesses(g.pid)
        .map((p) => p.pid)
        .sort();
      expect(workers).toHaveLength(2);
      // Said at start, as nginx does: the default --worker-connections (1000) cannot fit in 100 descriptors.
      // The sync class holds one connection per worker, so it has nothing to say.
      const shortage = g.lines.filter((l) => l.msg.includes('open-file limit (100)'));
      expect(shortage.map((l) => l.level)).toEqual(klass === 'sync' ? [] : [40]);
      const load = await runLoad({ url: g.url, total: 600, connections: 150, freshEvery: 3 });
      // Some connections were refused or cut while descriptors were out: expected. The rest were answered.
      expect(load.statuses.get(200) ?? 0).toBeGreaterThan(0);
      expect([...load.statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);
      for (let i = 0; i < 10; i++) expect((await get(g.url)).status).toBe(200);
      expect(g.lines.some((l) => /pid: (undefined|NaN)/.test(l.msg))).toBe(false);
      // Nobody died from it: the same two workers serve.
      const exits = g.lines
        .filter((l) => /^Worker .*(exited|was killed|crashed)|WORKER TIMEOUT/.test(l.msg))
        .map((l) => l.msg);
      expect(exits).toEqual([]);
      expect(
        workerProcesses(g.pid)
          .map((p) => p.pid)
          .sort(),
      ).toEqual(workers);
      g.signal('SIGTERM');
      const r = await Promise.race([g.exited, new Promise<null>((res) => setTimeout(() => res(null), 20_000))]);
      expect(r?.code).toBe(0);
      console.log(
        `-k ${klass}: ${load.statuses.get(200) ?? 0} answered, ${load.errors.length} refused or cut of ${load.total}`,
      );
    }, 120_000);
  }

  it('says nothing of the limit when --worker-connections fits under it', async () => {
    const g = await startGserve(['--worker-connections', '20', join(apps, 'crashes.js')], { wrapper: ulimit(100) });
    expect((await get(g.url)).status).toBe(200);
    expect(g.lines.filter((l) => l.msg.includes('open-file limit'))).toEqual([]);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  }, 60_000);

  it('-k sync under ulimit -n 256: 400 silent connections shut no one out, the master holding what its descriptors allow', async () => {
    const g = await startGserve(['-k', 'sync', '-w', '1', '--header-timeout', '120', join(apps, 'crashes.js')], {
      wrapper: ulimit(256),
    });
    // Before, the hold (2048) was never full: libuv failed the accepts past the limit and dropped
    // every new client, this request too, for as long as the silent ones stayed.
    const silent = await holdConnections(g.port, 400);
    try {
      await g.waitForLog(/^Holding \d+ connections: closing the oldest that has sent nothing/);
      expect((await get(g.url)).status).toBe(200);
    } finally {
      for (const h of silent) h.socket.destroy();
    }
  }, 60_000);
});
