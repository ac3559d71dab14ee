import { existsSync, readFileSync } from 'node:fs';
import type { Gserve } from './gserve.js';
import { pollUntil } from './poll.js';

/** Sends USR2 and waits for the new master's worker; returns the new master's pid. */
export async function usr2(g: Gserve, pidfile: string): Promise<number> {
  g.signal('SIGUSR2');
  const started = await g.waitForLog(/^Starting gserve/, { count: 2 });
  const pid = started[1]!.pid;
  await g.until(() => g.lines.some((l) => l.pid === pid && /^Worker ready/.test(l.msg)), "the new master's workers");
  await pollUntil(
    () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim() === String(pid),
    "the new master's pidfile",
  );
  return pid;
}

export function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
