import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join, posix } from 'node:path';
import { OWN_VARIABLES } from './own-variables.js';

/**
 * How many CPUs this process may really use, for `--workers auto`. In a container the host's core
 * count is the wrong answer: Kubernetes turns a CPU limit into a cgroup quota (`cpu.max` in cgroup
 * v2, `cpu.cfs_quota_us` in v1), and a cpuset or `taskset` narrows the CPU affinity. Workers above
 * the quota only fight each other for the same time slices, and get throttled.
 */

/** Where the cgroup file systems are mounted; GSERVE_CGROUP_ROOT replaces it (tests fake one). */
export const CGROUP_ROOT_ENV = OWN_VARIABLES.cgroupRoot;

export interface CpuLimit {
  /** Whole CPUs to use: at least 1. */
  cpus: number;
  /** CPUs in the affinity mask (what the scheduler lets this process run on). */
  affinity: number;
  /** CPUs granted by the cgroup quota (may be fractional), or null when there is none. */
  quota: number | null;
  /** The file the quota came from, for the log. */
  quotaFile: string | null;
}

/** Parses cgroup v2 `cpu.max`: "QUOTA PERIOD" in microseconds, QUOTA being `max` for none. */
export function parseCpuMax(text: string): number | null {
  const [quota, period = '100000'] = text.trim().split(/\s+/);
  if (!quota || quota === 'max') return null;
  return quotaRatio(Number(quota), Number(period));
}

/** cgroup v1: `cpu.cfs_quota_us` (-1 for none) over `cpu.cfs_period_us`. */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  return quotaRatio(Number(quotaText.trim()), Number(periodText.trim()));
}

function quotaRatio(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return quota / period;
}

/**
 * The cgroup paths of this process from `/proc/self/cgroup`: the v2 path (line `0::PATH`) and the
 * v1 path of the `cpu` controller (a line like `4:cpu,cpuacct:PATH`).
 */
export function parseProcCgroup(text: string): { v2: string | null; v1cpu: { mount: string; path: string } | null } {
  let v2: string | null = null;
  let v1cpu: { mount: string; path: string } | null = null;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers = '', path = ''] = m;
    if (id === '0' && controllers === '') v2 = path;
    else if (controllers.split(',').includes('cpu')) v1cpu = { mount: controllers, path };
  }
  return { v2, v1cpu };
}

const readText = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

/** The directories from `root/path` up to `root`: a parent's limit binds its children too. */
function ancestors(root: string, path: string): string[] {
  const dirs: string[] = [];
  let p = posix.normalize('/' + path);
  for (;;) {
    dirs.push(join(root, p));
    if (p === '/') return dirs;
    p = posix.dirname(p);
  }
}

/** The tightest quota between this process's cgroup and the root, v2 first, then v1. */
export function cgroupQuota(root: string, procCgroup: string): { quota: number; file: string } | null {
  const { v2, v1cpu } = parseProcCgroup(procCgroup);
  let best: { quota: number; file: string } | null = null;
  const consider = (quota: number | null, file: string) => {
    if (quota !== null && (best === null || quota < best.quota)) best = { quota, file };
  };
  // On a hybrid host the v2 hierarchy sits under `unified`. Without a v2 line the root is still
  // read: a pure v1 host has no cpu.max there, and a faked root (tests) may.
  for (const base of [root, join(root, 'unified')]) {
    for (const dir of ancestors(base, v2 ?? '/')) {
      const text = readText(join(dir, 'cpu.max'));
      if (text !== null) consider(parseCpuMax(text), join(dir, 'cpu.max'));
    }
  }
  if (best === null && v1cpu) {
    // Docker mounts the v1 controller at cpu or at cpu,cpuacct; a cgroup namespace may hide the
    // path prefix, so the mount's own root is read too (it is among the ancestors).
    for (const mount of new Set([v1cpu.mount, 'cpu', 'cpu,cpuacct'])) {
      for (const dir of ancestors(join(root, mount), v1cpu.path)) {
        const quota = readText(join(dir, 'cpu.cfs_quota_us'));
        const period = readText(join(dir, 'cpu.cfs_period_us'));
        if (quota !== null && period !== null) consider(parseCfsQuota(quota, period), join(dir, 'cpu.cfs_quota_us'));
      }
    }
  }
  return best;
}

/** CPUs in this process's affinity mask; os.availableParallelism (Node >= 18.14) honours it. */
export function affinityCpus(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/**
 * Whole CPUs for `--workers auto`: the affinity count, lowered to the cgroup quota. A fractional
 * quota rounds down (1.5 CPUs give 1 worker, which then never gets throttled), but never below 1.
 */
export function combineLimits(affinity: number, quota: number | null): number {
  const byQuota = quota === null ? Infinity : Math.floor(quota + 1e-9);
  return Math.max(1, Math.min(affinity, byQuota));
}

export function cpuLimit(env: NodeJS.ProcessEnv = process.env): CpuLimit {
  const affinity = affinityCpus();
  let found: { quota: number; file: string } | null = null;
  if (process.platform === 'linux' || env[CGROUP_ROOT_ENV]) {
    const procCgroup = readText('/proc/self/cgroup') ?? '0::/\n';
    found = cgroupQuota(env[CGROUP_ROOT_ENV] || '/sys/fs/cgroup', procCgroup);
  }
  return {
    cpus: combineLimits(affinity, found?.quota ?? null),
    affinity,
    quota: found?.quota ?? null,
    quotaFile: found?.file ?? null,
  };
}
