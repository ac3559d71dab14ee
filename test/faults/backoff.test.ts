import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir, type LogLine } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/** Crash backoff is per slot: only the slot whose workers keep dying early waits. */
const apps = join(import.meta.dirname, 'apps');
const time = (l: LogLine) => Number(l.time);
const delayOf = (l: LogLine) => Number(/next respawn in (\d+) ms/.exec(l.msg)?.[1] ?? 0);

describe('per-slot crash backoff', () => {
  it('a healthy worker recycled while another slot backs off is replaced at once, not after the backoff', async () => {
    const g = await startGserve(['-w', '2', '--max-requests', '5', '--timeout', '0', join(apps, 'crash-one-slot.js')], {
      workers: 0,
      env: { LOCK_DIR: tempDir() },
    });
    // The crashing slot now waits 3.2 s or more before its next worker.
    const waiting = await g.until(
      () => g.lines.find((l) => delayOf(l) >= 3200),
      'a backoff of 3.2 s in the crashing slot',
      60_000,
    );
    const from = g.lines.indexOf(waiting);
    for (let i = 0; i < 5; i++) expect((await get(g.url)).body).toBe('healthy\n');
    const [recycled] = await g.until(() => {
      const hit = g.lines.slice(from).filter((l) => /^Recycling worker/.test(l.msg));
      return hit.length ? hit : undefined;
    }, 'the healthy worker recycled');
    const at = g.lines.indexOf(recycled!);
    const booted = await g.until(
      () => g.lines.slice(at).find((l) => /^Booting worker with pid: \d+$/.test(l.msg)),
      'a worker booted after the recycle',
    );
    // At once: the same turn of the master's loop, not when the other slot's timer fires.
    expect(time(booted) - time(recycled!)).toBeLessThan(1000);
  }, 120_000);

  it('workers that served and then exit are replaced at once: no backoff builds up', async () => {
    const g = await startGserve(['-w', '1', join(apps, 'exit-third.js')]);
    let failed = 0;
    for (let i = 0; i < 12; i++) {
      // Every third request kills its worker (the app's choice); the rest must be answered.
      const r = await get(g.url).catch(() => null);
      if (r === null) failed++;
      else expect(r.status).toBe(200);
    }
    expect(failed).toBe(4);
    await g.waitForLog(/^Worker \(pid: \d+\) exited with code 0/, { count: 4 });
    await g.waitForLog(/^Booting worker with pid/, { count: 5 });
    expect(g.lines.filter((l) => /dying soon after boot/.test(l.msg))).toEqual([]);
  }, 120_000);

  it('a crash loop in every slot: forks are bounded (delays double per slot), never a fork storm', async () => {
    const g = await startGserve(['-w', '2', join(FIXTURES, 'apps', 'crash-soon.js')], { workers: 0 });
    // Run the loop until a slot waits 3.2 s: 6 strikes in that slot.
    const last = await g.until(() => g.lines.find((l) => delayOf(l) >= 3200), 'a 3.2 s backoff', 60_000);
    const forks = g.lines.filter((l) => /^Booting worker/.test(l.msg));
    const minutes = (time(last) - time(forks[0]!)) / 60_000;
    // Two slots, each with 0 + 200 + 400 + 800 + 1600 ms of waits at least between its forks.
    expect(forks.length).toBeLessThanOrEqual(2 * 7);
    expect(forks.length / minutes).toBeLessThan(240);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  }, 120_000);
});
