import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { workerCount } from '../../src/config/workers-auto.js';
import {
  affinityCpus,
  cgroupQuota,
  combineLimits,
  cpuLimit,
  parseCfsQuota,
  parseCpuMax,
  parseProcCgroup,
} from '../../src/config/cpus.js';

const roots: string[] = [];
/** A fake cgroup file system: relative path -> content. */
function fakeCgroup(files: Record<string, string>): string {
  const root = mkdtempSync(join(os.tmpdir(), 'gserve-cgroup-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

describe('cgroup quota parsing', () => {
  it('reads cgroup v2 cpu.max', () => {
    expect(parseCpuMax('max 100000\n')).toBeNull();
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('50000 100000')).toBe(0.5);
    expect(parseCpuMax('150000 100000')).toBe(1.5);
    expect(parseCpuMax('400000')).toBe(4); // the period defaults to 100 ms
    expect(parseCpuMax('')).toBeNull();
    expect(parseCpuMax('garbage 100000')).toBeNull();
    expect(parseCpuMax('100000 0')).toBeNull();
  });

  it('reads cgroup v1 cfs quota and period', () => {
    expect(parseCfsQuota('-1\n', '100000\n')).toBeNull();
    expect(parseCfsQuota('300000\n', '100000\n')).toBe(3);
    expect(parseCfsQuota('25000', '50000')).toBe(0.5);
  });

  it('finds the v2 path and the v1 cpu controller in /proc/self/cgroup', () => {
    expect(parseProcCgroup('0::/kubepods.slice/pod1/cri-abc\n')).toEqual({
      v2: '/kubepods.slice/pod1/cri-abc',
      v1cpu: null,
    });
    expect(parseProcCgroup('12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n0::/\n')).toEqual({
      v2: '/',
      v1cpu: { mount: 'cpu,cpuacct', path: '/docker/x' },
    });
    expect(parseProcCgroup('')).toEqual({ v2: null, v1cpu: null });
  });
});

describe('the quota that binds', () => {
  it('takes the tightest cpu.max between the process cgroup and the root', () => {
    const root = fakeCgroup({
      'kubepods.slice/cpu.max': '400000 100000\n',
      'kubepods.slice/pod1/cpu.max': '200000 100000\n',
      'kubepods.slice/pod1/ctr/cpu.max': 'max 100000\n',
    });
    const found = cgroupQuota(root, '0::/kubepods.slice/pod1/ctr\n');
    expect(found).toEqual({ quota: 2, file: join(root, 'kubepods.slice/pod1/cpu.max') });
  });

  it('reads the root when the process path is hidden by a cgroup namespace', () => {
    const root = fakeCgroup({ 'cpu.max': '100000 100000\n' });
    expect(cgroupQuota(root, '0::/not/mounted/here\n')?.quota).toBe(1);
  });

  it('falls back to the v1 cpu controller', () => {
    const root = fakeCgroup({
      'cpu,cpuacct/docker/x/cpu.cfs_quota_us': '150000\n',
      'cpu,cpuacct/docker/x/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupQuota(root, '4:cpu,cpuacct:/docker/x\n0::/\n')?.quota).toBe(1.5);
  });

  it('finds no quota when there is none', () => {
    const root = fakeCgroup({
      'cpu.max': 'max 100000\n',
      'cpu/cpu.cfs_quota_us': '-1\n',
      'cpu/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupQuota(root, '0::/\n4:cpu:/\n')).toBeNull();
    expect(cgroupQuota(fakeCgroup({}), '0::/\n')).toBeNull();
  });
});

describe('workers auto', () => {
  it('is the affinity, lowered to the quota, rounded down, at least 1', () => {
    expect(combineLimits(8, null)).toBe(8);
    expect(combineLimits(8, 2)).toBe(2);
    expect(combineLimits(8, 2.5)).toBe(2);
    expect(combineLimits(8, 0.5)).toBe(1);
    expect(combineLimits(2, 16)).toBe(2);
  });

  it('uses the affinity mask, not the host core count, without a quota', () => {
    const root = fakeCgroup({ 'cpu.max': 'max 100000\n' });
    const limit = cpuLimit({ GSERVE_CGROUP_ROOT: root });
    expect(limit).toEqual({ cpus: affinityCpus(), affinity: affinityCpus(), quota: null, quotaFile: null });
  });

  it('honours a faked cpu.max through GSERVE_CGROUP_ROOT', () => {
    const root = fakeCgroup({ 'cpu.max': '100000 100000\n' });
    expect(cpuLimit({ GSERVE_CGROUP_ROOT: root })).toMatchObject({
      cpus: 1,
      quota: 1,
      quotaFile: join(root, 'cpu.max'),
    });
  });

  it('accepts auto or an integer as the workers setting, and names both in errors', () => {
    const t = workerCount({ min: 1, max: 1024 });
    expect(t.parse('auto')).toBe(cpuLimit().cpus);
    expect(t.parse(' AUTO ')).toBe(cpuLimit().cpus);
    expect(t.parse('3')).toBe(3);
    expect(t.parse(5)).toBe(5);
    expect(() => t.parse('0')).toThrow(/from 1 to 1024, or auto .*got "0"/);
    expect(() => t.parse('many')).toThrow(/or auto/);
  });
});
