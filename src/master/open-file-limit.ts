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
