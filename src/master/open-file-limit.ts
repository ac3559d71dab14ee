import { readFileSync } from 'node:fs';

/**
 * Descriptors a worker holds besides its clients' connections: the listeners, the IPC channel, log
 * files, and the app's own files and outbound connections (a database pool, upstream HTTP).
 */
export const WORKER_DESCRIPTOR_RESERVE = 64;

/**
 * The soft limit on open files that the workers inherit, from /proc (Linux); null where it cannot
 * be read or is "unlimited". Node has already raised it to the hard limit at start-up, so this is
 * the figure `ulimit -Hn` (or systemd's LimitNOFILE=, docker's --ulimit nofile=) set.
 */
export function openFileLimit(limits: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | null {
  let text: string;
  try {
    text = limits();
  } catch {
    return null;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : null;
}

/** The most connections the sync class's master holds while their requests arrive (Gunicorn's default backlog). */
export const SYNC_HOLD = 2048;

/**
 * How many connections the sync class's master may hold: SYNC_HOLD, or fewer where the open-file
 * limit would run out first. Past that many, a new connection takes the place of a silent one
 * (master/dispatch.ts); but past the limit it is libuv that fails the accept and drops new clients,
 * so under `ulimit -n 256` 400 silent connections shut everyone else out, the hold never full.
 * Besides the listeners, logs and control socket, the master keeps a channel or two per worker.
 */
export function syncHoldLimit(limit: number | null, workers: number): number {
  if (limit === null) return SYNC_HOLD;
  return Math.max(1, Math.min(SYNC_HOLD, limit - WORKER_DESCRIPTOR_RESERVE - 4 * workers));
}

/**
 * nginx's "worker_connections exceed open file resource limit", for gserve: a worker past its
 * descriptors fails to accept, and libuv then resets the clients waiting in the queue without
 * telling the worker, so nothing would be logged when it happens. Said once, at start.
 */
export function descriptorShortage(workerConnections: number, limit: number | null): string | null {
  const needed = workerConnections + WORKER_DESCRIPTOR_RESERVE;
  if (limit === null || needed <= limit) return null;
  const usable = limit - WORKER_DESCRIPTOR_RESERVE;
  // Below the reserve no count of connections is honest: it depends on what the app itself opens.
  const when =
    usable > 0
      ? `past about ${usable} connections its accepts fail`
      : 'it has few or no descriptors left for connections once its own are open (listeners, logs, ' +
        "the app's files and sockets), and then its accepts fail";
  return (
    `--worker-connections ${workerConnections} is more than the open-file limit (${limit}) leaves a worker: ` +
    `${when} and the clients waiting are reset. Raise the limit to at least ${needed} ` +
    '(`ulimit -n`, systemd LimitNOFILE=, docker run --ulimit nofile=) or lower --worker-connections.'
  );
}
