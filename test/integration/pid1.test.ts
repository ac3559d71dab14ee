import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { deployApp, heldRequest } from '../helpers/deploy.js';
import { BIN, Gserve, isAlive, ROOT, waitForExit } from '../helpers/gserve.js';
import { missing, UNSHARE_PID } from '../helpers/needs.js';

/**
 * gserve in PID 1 of a new PID namespace, like in a container without an init: the kernel gives
 * PID 1 no default signal actions, so TERM and INT do nothing unless gserve handles them itself.
 */

interface Namespaced {
  g: Gserve;
  /** gserve's PID seen from here (it is 1 inside its namespace). */
  hostPid: number;
  /** Every process in the namespace, by host PID. */
  members(): number[];
}

const started: Namespaced[] = [];
afterEach(async () => {
  for (const { g, hostPid } of started.splice(0)) {
    // Killing PID 1 of a namespace kills everything in it; the namespace PIDs in the log mean
    // nothing out here, so the helper must not kill by them.
    g.workerPids.clear();
    if (isAlive(hostPid)) process.kill(hostPid, 'SIGKILL');
    if (g.exitCode === undefined) g.child.kill('SIGKILL');
    await g.exited;
  }
});

const pidNamespace = (pid: number): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
};

async function startAsPid1(args: string[], workers: number): Promise<Namespaced> {
  const child = spawn(
    'unshare',
    [...UNSHARE_PID, process.execPath, BIN, '-b', '127.0.0.1:0', '--log-level', 'debug', ...args],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const g = new Gserve(child);
  const entry: Namespaced = { g, hostPid: 0, members: () => [] };
  started.push(entry);
  await g.waitForWorkers(workers);
  entry.hostPid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  const ns = pidNamespace(entry.hostPid);
  entry.members = () =>
    readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((pid) => pidNamespace(pid) === ns);
  return entry;
}

describe.skipIf(missing('unshare --pid'))('gserve as PID 1 (unshare --pid)', () => {
  it('stops gracefully on TERM: the in-flight request completes, every worker exits, exit code 0', async () => {
    const { g, hostPid, members } = await startAsPid1(['-w', '2', '--graceful-timeout', '120', deployApp('node')], 2);
    expect(g.lines.find((l) => /^Starting gserve/.test(l.msg))?.pid).toBe(1);
    expect(members().sort()).toHaveLength(3);
    const held = await heldRequest(g.url);

    process.kill(hostPid, 'SIGTERM');
    await g.waitForLog(/^Worker exiting/, { count: 2 });
    held.release();
    expect(await held.done).toMatchObject({ status: 200, body: 'held done 4\n' });

    const { code } = await g.exited;
    expect(code).toBe(0);
    const master = g.lines.find((l) => l.msg === 'Shutting down: Master');
    expect(master?.pid).toBe(1);
    // The master says goodbye only after reaping its workers; and nothing is left in the namespace.
    const exiting = new Set(g.lines.filter((l) => /^Worker exiting/.test(l.msg)).map((l) => l.pid));
    expect(exiting.size).toBe(2);
    await waitForExit(hostPid);
    expect(members()).toEqual([]);
  });

  it('stops fast on INT with exit code 0, leaving no process behind', async () => {
    const { g, hostPid, members } = await startAsPid1(['-w', '2', deployApp('fetch')], 2);
    const before = members();
    expect(before).toHaveLength(3);
    process.kill(hostPid, 'SIGINT');
    expect((await g.exited).code).toBe(0);
    expect(g.lines.some((l) => l.msg === 'Handling signal: int' && l.pid === 1)).toBe(true);
    expect(members()).toEqual([]);
    for (const pid of before) expect(isAlive(pid)).toBe(false);
  });
});
