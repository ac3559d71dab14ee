import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { connectError } from './socket-path.js';

/** A socket younger than this may belong to a master between its bind and its listen. */
const MIN_AGE_MS = 10_000;

/**
 * Removes the control sockets that masters killed with -9 (or by the OOM killer) left in the
 * default folder, which all of a user's masters share: left alone, they pile up there for good.
 * Only a socket that refuses connections is removed: nobody listens on it. A live master, even a
 * stopped one, still takes connections into its backlog, so its socket stays. Resolves to how
 * many were removed; never rejects.
 */
export async function sweepDeadControlSockets(dir: string, own: string, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.ctl'));
  } catch {
    return 0;
  }
  const removed = await Promise.all(names.map((name) => removeIfDead(join(dir, name), own, now)));
  return removed.filter(Boolean).length;
}

async function removeIfDead(path: string, own: string, now: number): Promise<boolean> {
  if (path === own) return false;
  try {
    const before = lstatSync(path);
    if (!before.isSocket() || now - before.mtimeMs < MIN_AGE_MS) return false;
    if ((await connectError(path)) !== 'ECONNREFUSED') return false;
    // A master that started meanwhile replaced the file with its own live socket: keep that one.
    if (lstatSync(path).ino !== before.ino) return false;
    unlinkSync(path);
    return true;
  } catch {
    return false; // gone meanwhile, or not this user's to remove
  }
}
