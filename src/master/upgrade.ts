import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, renameSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { OWN_VARIABLES } from '../config/own-variables.js';
import type { Listener } from './listeners.js';
import type { InheritedSockets } from './observability.js';

/** The listening fds a new master inherits on USR2, like Gunicorn's GUNICORN_FD: "3,4". */
export const FDS_ENV = OWN_VARIABLES.fds;
/** What the sockets are, by the --bind values they were made from (JSON), for the new master's log. */
export const BINDS_ENV = OWN_VARIABLES.binds;
/** The old master's pid, so the new one can refuse its own USR2 while the old one still runs. */
export const OLD_MASTER_ENV = OWN_VARIABLES.oldMaster;
/** The control socket's and the metrics listener's fds, passed on like the HTTP listeners. */
export const CONTROL_FD_ENV = OWN_VARIABLES.controlFd;
export const METRICS_FD_ENV = OWN_VARIABLES.metricsFd;
const FIRST_FD = 3;

/** How this master was started, so USR2 can start the same command again (with the new code). */
export interface LaunchContext {
  cwd: string;
  /**
   * The same folder as the operator named it (namedFolder): workers and a USR2 master start there,
   * so a `current` symlink moved to a new release is followed by HUP and USR2, as with Gunicorn.
   */
  namedCwd: string;
  execPath: string;
  execArgv: string[];
  argv: string[];
}

/**
 * The working folder by the name the shell gave it: $PWD when it is the very folder the process is
 * in (a shell keeps symlinks in $PWD; the kernel resolves them away), else the real path. Gunicorn's
 * getcwd() does the same.
 */
export function namedFolder(real = process.cwd(), pwd = process.env.PWD): string {
  if (!pwd || !isAbsolute(pwd)) return real;
  try {
    const [a, b] = [statSync(pwd), statSync(real)];
    return a.ino === b.ino && a.dev === b.dev ? pwd : real;
  } catch {
    return real;
  }
}

export const currentLaunch = (): LaunchContext => ({
  cwd: process.cwd(),
  namedCwd: namedFolder(),
  execPath: process.execPath,
  execArgv: process.execArgv,
  argv: process.argv.slice(1),
});

/** Reads (and removes from the environment) what an old master passed down, if this is a new one. */
export function takeInheritance(
  env: NodeJS.ProcessEnv,
): { fds: number[]; binds: string[] | null; oldMaster: number | null; sockets: InheritedSockets } | null {
  const raw = env[FDS_ENV];
  const binds = parseBinds(env[BINDS_ENV]);
  delete env[BINDS_ENV];
  const oldMaster = Number(env[OLD_MASTER_ENV]) || null;
  const fdIn = (name: string) => {
    const n = env[name] === undefined || env[name] === '' ? NaN : Number(env[name]);
    delete env[name];
    return Number.isInteger(n) && n >= 0 ? n : null;
  };
  const sockets = { control: fdIn(CONTROL_FD_ENV), metrics: fdIn(METRICS_FD_ENV) };
  delete env[FDS_ENV];
  delete env[OLD_MASTER_ENV];
  if (!raw) return null;
  const fds = raw
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 0);
  return fds.length ? { fds, binds: binds?.length === fds.length ? binds : null, oldMaster, sockets } : null;
}

function parseBinds(raw: string | undefined): string[] | null {
  try {
    const value: unknown = raw ? JSON.parse(raw) : null;
    return Array.isArray(value) && value.every((b) => typeof b === 'string') ? value : null;
  } catch {
    return null;
  }
}

/**
 * USR2: start a new master running the current code and binary with the same command line; it
 * inherits the listening sockets at fds 3, 4, … and adopts them instead of binding.
 */
export function spawnNewMaster(
  launch: LaunchContext,
  listeners: Listener[],
  sockets: InheritedSockets = {},
): ChildProcess {
  const fds = listeners.map((_, i) => FIRST_FD + i).join(',');
  const passed = listeners.map((l) => l.fd);
  const extra: Record<string, string> = {};
  const named: Array<[variable: string, fd: number | null | undefined]> = [
    [CONTROL_FD_ENV, sockets.control],
    [METRICS_FD_ENV, sockets.metrics],
  ];
  for (const [name, fd] of named) {
    if (typeof fd !== 'number') continue;
    extra[name] = String(FIRST_FD + passed.length);
    passed.push(fd);
  }
  const binds = listeners.map((l) => l.bind);
  if (binds.every((b) => b !== undefined)) extra[BINDS_ENV] = JSON.stringify(binds);
  const child = spawn(launch.execPath, [...launch.execArgv, ...launch.argv], {
    cwd: launch.namedCwd,
    stdio: ['inherit', 'inherit', 'inherit', ...passed],
    env: { ...process.env, [FDS_ENV]: fds, [OLD_MASTER_ENV]: String(process.pid), ...extra },
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
