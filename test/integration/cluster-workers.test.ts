import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, waitForExit, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

const app = join(FIXTURES, 'apps', 'cluster-info.js');

interface Info {
  pid: number;
  isWorker: boolean;
  isPrimary: boolean;
  id: number | null;
  index: string;
  pm2: string;
}

/** Asks until every one of `n` worker pids (and no other) has answered; returns them by pid. */
async function everyWorker(g: Gserve, n: number, exclude: Set<number> = new Set()): Promise<Map<number, Info>> {
  const seen = new Map<number, Info>();
  return pollUntil(
    async () => {
      const info: Info = JSON.parse((await get(`${g.url}/`)).body);
      if (!exclude.has(info.pid)) seen.set(info.pid, info);
      return seen.size >= n && seen;
    },
    () => `${n} workers to answer; only these did: ${JSON.stringify([...seen.values()])}`,
    { everyMs: 0 },
  );
}

describe('workers are node:cluster workers', () => {
  it('the app sees cluster.isWorker, a cluster.worker.id and an index 0..N-1 (also as NODE_APP_INSTANCE)', async () => {
    const g = await startGserve(['-w', '3', app]);
    const infos = [...(await everyWorker(g, 3)).values()];
    for (const info of infos) {
      expect(info.isWorker).toBe(true);
      expect(info.isPrimary).toBe(false);
      expect(info.id).toBeGreaterThan(0);
      expect(info.pm2).toBe(info.index);
    }
    expect(infos.map((i) => i.index).sort()).toEqual(['0', '1', '2']);
    expect(new Set(infos.map((i) => i.id)).size).toBe(3);
  });

  it('a worker killed with kill -9 is replaced by one with the same index and a new cluster id', async () => {
    const g = await startGserve(['-w', '3', app]);
    const before = await everyWorker(g, 3);
    const victim = [...before.values()].find((i) => i.index === '1')!;
    process.kill(victim.pid, 'SIGKILL');
    await waitForExit(victim.pid);
    await g.waitForWorkers(4);
    const survivors = new Set([...before.keys()].filter((p) => p !== victim.pid));
    const replacement = [...(await everyWorker(g, 1, survivors)).values()][0]!;
    expect(replacement.pid).not.toBe(victim.pid);
    expect(replacement.index).toBe('1');
    expect(replacement.id).toBeGreaterThan(Math.max(...[...before.values()].map((i) => i.id!)));
  });

  it('TTIN adds the next index, TTOU removes the highest', async () => {
    const g = await startGserve(['-w', '2', app]);
    await everyWorker(g, 2);
    g.signal('SIGTTIN');
    await g.waitForWorkers(3);
    const three = await everyWorker(g, 3);
    expect([...three.values()].map((i) => i.index).sort()).toEqual(['0', '1', '2']);
    const highest = [...three.values()].find((i) => i.index === '2')!;
    g.signal('SIGTTOU');
    await waitForExit(highest.pid);
    for (const [pid, info] of three) if (info.index !== '2') expect(() => process.kill(pid, 0)).not.toThrow();
  });
});
