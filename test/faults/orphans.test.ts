import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGserve, tempDir, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { pollUntil } from '../helpers/poll.js';
import { commandLine, descendants, killAll, orphansAfter, survivors, type Proc } from './proc.js';

/**
 * kill -9 of the master: its workers stop as on a TERM, the requests in flight finishing, and every
 * worker (and every thread in it) must be gone by the end of its --graceful-timeout, even one whose
 * event loop is blocked forever and so never sees the IPC channel close. Orphans are counted from /proc.
 */
const apps = join(import.meta.dirname, 'apps');
/** The grace of the tests whose workers are blocked, so that they are reaped soon. */
const SHORT_GRACE = ['--graceful-timeout', '1'];
/** "Within a couple of seconds" of the end of that grace, with room for a loaded machine. */
const ORPHAN_DEADLINE_MS = 8_000;

let tree: Proc[] = [];
afterEach(() => killAll(tree)); // never leave one behind, even when the test failed

describe('no orphans after kill -9 of the master', () => {
  for (const klass of ['sync', 'async', 'thread']) {
    it(`-k ${klass}, under load: every worker exits`, async () => {
      const g = await startGserve(['-k', klass, '-w', '2', join(apps, 'crashes.js')]);
      tree = descendants(g.pid);
      expect(tree.length).toBeGreaterThanOrEqual(2);
      let killed!: () => void;
      const load = runLoad({
        url: g.url,
        total: 200,
        connections: 8,
        freshEvery: 5,
        until: new Promise<void>((r) => (killed = r)),
      });
      await g.waitForLog(/^Worker ready/, { count: 2 });
      g.child.kill('SIGKILL');
      await g.exited;
      killed();
      await load;
      expect((await orphansAfter(tree, ORPHAN_DEADLINE_MS)).map((p) => p.pid)).toEqual([]);
    });

    it(`-k ${klass}, a handler blocked forever (while (true) {}): its worker still exits`, async () => {
      const g = await startGserve(['-k', klass, '-w', '1', '--timeout', '0', ...SHORT_GRACE, join(apps, 'crashes.js')]);
      tree = descendants(g.pid);
      await blockThenKillMaster(g, tree, klass);
    });
  }

  for (const klass of ['sync', 'async', 'thread']) {
    it(`-k ${klass}: the request in flight is answered, nothing new is accepted, and the worker exits after it`, async () => {
      const release = join(tempDir(), 'release');
      const g = await startGserve(['-k', klass, '-w', '1', join(apps, 'holds.js')], { env: { RELEASE_FILE: release } });
      tree = descendants(g.pid);
      const worker = tree.find((p) => g.workerPids.has(p.pid))!;
      const held = get(`${g.url}/hold`);
      await g.until(() => g.stdout.includes('held /hold'), 'the request with the app');
      const url = g.url;
      g.child.kill('SIGKILL');
      await g.exited;
      // The worker's log still reaches the pipe it inherited.
      await pollUntil(() => g.lines.some((l) => /^Worker exiting/.test(l.msg)), 'the worker to stop');
      expect(g.lines.some((l) => l.pid === worker.pid && /^The master is gone: stopping gracefully/.test(l.msg))).toBe(
        true,
      );
      expect(survivors([worker])).toEqual([worker]);
      // Its listeners are closed: a new client is refused, never queued for a worker that is leaving.
      await expect(get(`${url}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      writeFileSync(release, '');
      expect(await held).toMatchObject({ status: 200, body: 'released\n' });
      expect((await orphansAfter(tree, ORPHAN_DEADLINE_MS)).map((p) => p.pid)).toEqual([]);
    });
  }

  it('the master runs one reaper shell for its workers, not a watchdog thread in each', async () => {
    const g = await startGserve(['-w', '2', join(apps, 'crashes.js')]);
    tree = descendants(g.pid);
    const shells = tree.filter((p) => commandLine(p.pid).startsWith('/bin/sh -c'));
    expect(shells).toHaveLength(1);
    // The reaper knows the workers by the entry script the master forks.
    expect(commandLine(shells[0]!.pid)).toContain('dist/bundle/worker/main.js');
  });

  it("a worker stuck in its app's import (while (true) {} at the top level) is reaped too: the reaper, started after the fork, knows it", async () => {
    const g = await startGserve(['-w', '1', '--timeout', '0', ...SHORT_GRACE, join(apps, 'spins-at-load.js')], {
      workers: 0,
    });
    await g.waitForLog(/^Booting worker/);
    await pollUntil(
      () => descendants(g.pid).some((p) => commandLine(p.pid).startsWith('/bin/sh -c')),
      'the orphan reaper',
    );
    tree = descendants(g.pid);
    await waitForBusyLoop(tree, 'async');
    g.child.kill('SIGKILL');
    await g.exited;
    expect((await orphansAfter(tree, ORPHAN_DEADLINE_MS)).map((p) => p.pid)).toEqual([]);
  });

  it('a killed reaper: the running worker watches by itself, and still exits with a blocked master gone', async () => {
    const g = await startGserve(['-k', 'async', '-w', '1', '--timeout', '0', ...SHORT_GRACE, join(apps, 'crashes.js')]);
    await g.waitForLog(/^Worker ready/);
    const reaper = descendants(g.pid).find((p) => commandLine(p.pid).startsWith('/bin/sh -c'))!;
    process.kill(reaper.pid, 'SIGKILL');
    await g.waitForLog(/^The orphan reaper exited/);
    // The worker forked before the reaper died starts its own watchdog thread when told.
    await g.waitForLog(/^Watching for the master's death with a thread of its own \(the orphan reaper exited\)/);
    tree = descendants(g.pid);
    await blockThenKillMaster(g, tree, 'async');
  });

  it('a killed reaper: a worker forked after it boots with its own watchdog thread', async () => {
    const g = await startGserve(['-k', 'async', '-w', '1', join(apps, 'crashes.js')]);
    await g.waitForLog(/^Worker ready/);
    const reaper = descendants(g.pid).find((p) => commandLine(p.pid).startsWith('/bin/sh -c'))!;
    process.kill(reaper.pid, 'SIGKILL');
    await g.waitForLog(/^The orphan reaper exited/);
    const [first] = [...g.workerPids];
    process.kill(first!, 'SIGKILL');
    await g.waitForLog(/^Watching for the master's death with a thread of its own \(no orphan reaper\)/);
  });

  it('GSERVE_NO_ORPHAN_REAPER=1: a blocked worker still exits, by its own watchdog thread', async () => {
    const g = await startGserve(
      ['-k', 'async', '-w', '1', '--timeout', '0', ...SHORT_GRACE, join(apps, 'crashes.js')],
      {
        env: { GSERVE_NO_ORPHAN_REAPER: '1' },
      },
    );
    tree = descendants(g.pid);
    expect(tree.filter((p) => commandLine(p.pid).startsWith('/bin/sh'))).toEqual([]);
    await blockThenKillMaster(g, tree, 'async');
  });
});

/**
 * Sends a request whose handler spins forever (while (true) {}), kills the master with -9 once it
 * spins, and expects every process of `procs` gone within the deadline and the request not answered 200.
 */
async function blockThenKillMaster(g: Gserve, procs: Proc[], klass: string): Promise<void> {
  const blocked = get(g.url + '/block').catch((err: Error) => err);
  // The handler is spinning once a process burns CPU steadily (for -k thread, in an app thread).
  await waitForBusyLoop(procs, klass);
  g.child.kill('SIGKILL');
  await g.exited;
  expect((await orphansAfter(procs, ORPHAN_DEADLINE_MS)).map((p) => p.pid)).toEqual([]);
  // The thread class's main thread still runs: at --graceful-timeout it ends the blocked app thread
  // and answers the request 500, as on any graceful stop. Elsewhere the SIGKILL cuts it.
  if (klass === 'thread') expect(await blocked).toMatchObject({ status: 500 });
  else expect(await blocked).toBeInstanceOf(Error);
}

/** Waits until a worker process spends CPU steadily (the blocked handler is running). */
async function waitForBusyLoop(procs: Proc[], klass: string): Promise<void> {
  const cpu = (pid: number) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return Number(x[11]) + Number(x[12]);
    } catch {
      return 0;
    }
  };
  const base = new Map(procs.map((p) => [p.pid, cpu(p.pid)]));
  // 50 clock ticks (0.5 s of CPU) past the start: that is the loop, not the boot.
  await pollUntil(() => procs.some((p) => cpu(p.pid) - base.get(p.pid)! >= 50), `a busy worker of -k ${klass}`, {
    timeoutMs: 20_000,
  });
}
