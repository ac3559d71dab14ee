import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import type { Listener } from './listeners.js';

/** The listening fds a new master inherits on USR2, like Gunicorn's GUNICORN_FD: "3,4". */
export const FDS_ENV = 'GSERVE_FDS';
/** The old master's pid, so the new one can refuse its own USR2 while the old one still runs. */
export const OLD_MASTER_ENV = 'GSERVE_OLD_MASTER';
const FIRST_FD = 3;

/** How this master was started, so USR2 can start the same command again (with the new code). */
export interface LaunchContext {
  cwd: string;
  execPath: string;
  execArgv: string[];
  argv: string[];
}

export const currentLaunch = (): LaunchContext => ({ cwd: process.cwd(), execPath: process.execPath, execArgv: process.execArgv, argv: process.argv.slice(1) });

/** Reads (and removes from the environment) what an old master passed down, if this is a new one. */
export function takeInheritance(env: NodeJS.ProcessEnv): { fds: number[]; oldMaster: number | null } | null {
  const raw = env[FDS_ENV];
  const oldMaster = Number(env[OLD_MASTER_ENV]) || null;
  delete env[FDS_ENV];
  delete env[OLD_MASTER_ENV];
  if (!raw) return null;
  const fds = raw.split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 0);
  return fds.length ? { fds, oldMaster } : null;
}

/**
 * USR2: start a new master running the current code and binary with the same command line; it
 * inherits the listening sockets at fds 3, 4, … and adopts them instead of binding.
 */
export function spawnNewMaster(launch: LaunchContext, listeners: Listener[]): ChildProcess {
  const fds = listeners.map((_, i) => FIRST_FD + i).join(',');
  const child = spawn(launch.execPath, [...launch.execArgv, ...launch.argv], {
    cwd: launch.cwd,
    stdio: ['inherit', 'inherit', 'inherit', ...listeners.map((l) => l.fd)],
    env: { ...process.env, [FDS_ENV]: fds, [OLD_MASTER_ENV]: String(process.pid) },
  });
  child.on('error', () => {}); // reported through 'exit'
  child.unref();
  return child;
}

export const OLDBIN_SUFFIX = '.oldbin';

/** Renames the pidfile to PIDFILE.oldbin (and back, when the new master fails); false if absent. */
export function movePidfile(from: string, to: string): boolean {
  if (!existsSync(from)) return false;
  renameSync(from, to);
  return true;
}
