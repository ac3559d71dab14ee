/**
 * The GSERVE_ variables that gserve sets for its own processes (workers, a USR2 master) or reads
 * for tests and benchmarks. They are not settings; the modules that use them name them from here,
 * so that any other GSERVE_ variable can be told to be a mistake.
 */
export const OWN_VARIABLES = {
  /** A worker's boot settings, from its master. */
  workerBoot: 'GSERVE_WORKER_BOOT',
  /** A worker's slot, for the app (worker-index.ts). */
  workerIndex: 'GSERVE_WORKER_INDEX',
  workerGeneration: 'GSERVE_WORKER_GENERATION',
  /** What a master started by USR2 inherits (upgrade.ts). */
  fds: 'GSERVE_FDS',
  /** The --bind value each of those sockets was made from, as JSON. */
  binds: 'GSERVE_BINDS',
  oldMaster: 'GSERVE_OLD_MASTER',
  controlFd: 'GSERVE_CONTROL_FD',
  metricsFd: 'GSERVE_METRICS_FD',
  noOrphanReaper: 'GSERVE_NO_ORPHAN_REAPER',
  /** Tests: where the cgroup files are read (cpus.ts). */
  cgroupRoot: 'GSERVE_CGROUP_ROOT',
  /** The master set the worker's NODE_COMPILE_CACHE (compile-cache.ts), which the worker takes out again. */
  compileCacheHandedOn: 'GSERVE_COMPILE_CACHE_HANDED_ON',
  /** bench/: the node path without its checks (node-server.ts). */
  benchUnhardened: 'GSERVE_BENCH_UNHARDENED',
} as const;
