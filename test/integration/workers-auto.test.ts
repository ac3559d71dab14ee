import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { affinityCpus } from '../../src/config/cpus.js';
import { deployApp } from '../helpers/deploy.js';
import { ROOT, startGserve, tempDir } from '../helpers/gserve.js';
import { missing } from '../helpers/needs.js';

/** A cgroup root with only cpu.max, the way a container with a CPU limit sees it. */
function fakeCgroup(cpuMax: string): string {
  const root = tempDir();
  writeFileSync(join(root, 'cpu.max'), cpuMax);
  return root;
}

async function bootedWorkers(args: string[], env: Record<string, string>, expected: number): Promise<number> {
  const g = await startGserve([...args, deployApp('node')], { env, workers: expected });
  // The master forks every worker in one go, so all "Booting" lines precede the first "ready".
  return g.lines.filter((l) => /^Booting worker/.test(l.msg)).length;
}

describe('--workers auto', () => {
  it('runs as many workers as the faked cgroup quota allows, not one per core', async () => {
    const root = fakeCgroup('100000 100000\n');
    expect(await bootedWorkers(['--workers', 'auto'], { GSERVE_CGROUP_ROOT: root }, 1)).toBe(1);
  });

  it('runs one worker per CPU of the affinity mask when there is no quota (also from WEB_CONCURRENCY)', async () => {
    const root = fakeCgroup('max 100000\n');
    const n = affinityCpus();
    expect(await bootedWorkers([], { GSERVE_CGROUP_ROOT: root, WEB_CONCURRENCY: 'auto' }, n)).toBe(n);
  });

  it.skipIf(missing('taskset'))('follows a narrowed CPU affinity (taskset)', async () => {
    const root = fakeCgroup('800000 100000\n');
    const r = spawnSync('taskset', ['-c', '0', process.execPath, 'bin/gserve', '--workers', 'auto', '--print-config'], {
      cwd: ROOT,
      env: { ...process.env, GSERVE_CGROUP_ROOT: root, WEB_CONCURRENCY: '' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^workers\s+= 1 {2}# command line --workers$/m);
  });
});
