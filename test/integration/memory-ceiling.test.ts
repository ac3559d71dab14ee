import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/** --max-worker-memory stays a ceiling: for an app that leaks while it drains, and for one born past it. */
const HOG = join(FIXTURES, 'apps', 'memory-hog.js');

describe('--max-worker-memory', () => {
  it('a worker that goes on growing while it drains is stopped at 1.5x the ceiling, not at --graceful-timeout', async () => {
    const g = await startGserve(['-w', '1', '--max-worker-memory', '96MiB', '--graceful-timeout', '60', HOG]);
    await g.waitForWorkers(1);
    // A request that leaks 160 MB a second for as long as it is open: the worker passes the ceiling,
    // is asked to drain, and the request it drains is the leak. It used to grow for 60 s (gigabytes).
    const leak = request(`${g.url}/leak`);
    leak.on('response', (res) => res.resume());
    leak.on('error', () => {});
    leak.end();
    try {
      const [recycled] = await g.waitForLog(/^Recycling worker \(pid: \d+\): memory/);
      const pid = Number(/pid: (\d+)/.exec(recycled!.msg)![1]);
      const [stopped] = await g.waitForLog(
        /^Stopping worker \(pid: \d+\) at once: memory .* passed 1\.5× the ceiling/,
        {
          timeoutMs: 15_000,
        },
      );
      expect(stopped!.msg).toContain(`pid: ${pid}`);
      await g.waitForLog(new RegExp(`^Worker exited \\(pid: ${pid}\\)`), { timeoutMs: 15_000 });
      // Its replacement serves.
      expect((await get(g.url)).status).toBe(200);
    } finally {
      leak.destroy();
    }
  }, 60_000);

  it('an app larger than the ceiling at boot: replacements back off instead of a fork loop, and the workers serve on', async () => {
    // About 50 to 60 MB of Node plus 80 MB held: past a 100 MiB (104.9 MB) ceiling at once, well under 1.5x of it.
    const g = await startGserve(['-w', '2', '--max-worker-memory', '100MiB', HOG], { env: { HOLD_MB: '80' } });
    await g.waitForLog(/^Workers pass --max-worker-memory as soon as they boot \(4 in a row in this slot\)/, {
      timeoutMs: 30_000,
    });
    const boots = () => g.lines.filter((l) => /^Booting worker/.test(l.msg)).length;
    // Two slots, four strikes each, is 8 boots; each replaced at once it was dozens a second.
    expect(boots()).toBeLessThanOrEqual(10);
    for (let i = 0; i < 4; i++) expect((await get(g.url)).status).toBe(200);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  }, 60_000);

  it('a worker that dies while its slot backs off for the ceiling: the same boot is not struck twice', async () => {
    const g = await startGserve(['-w', '1', '--max-worker-memory', '100MiB', HOG], { env: { HOLD_MB: '80' } });
    // The slot's second strike is the first with a delay: its worker serves on, to be recycled after it.
    const strikes = /^Workers pass --max-worker-memory as soon as they boot \((\d+) in a row/;
    const [struck] = await g.waitForLog(/^Workers pass --max-worker-memory as soon as they boot \(2 in a row/);
    const pid = Number(/pid: (\d+)/.exec(struck!.msg)![1]);
    process.kill(pid, 'SIGKILL');
    await g.waitForLog(new RegExp(`^Worker \\(pid: ${pid}\\) was killed by SIGKILL`));
    // Its replacement, once what was left of that delay is over, passes the ceiling too: the third
    // strike, not the fourth (the death itself was struck again).
    const [next] = await g.waitForLog(/^Workers pass --max-worker-memory as soon as they boot \([3-9] in a row/);
    expect(strikes.exec(next!.msg)![1]).toBe('3');
    expect(g.lines.filter((l) => /^Workers are dying soon after boot/.test(l.msg))).toEqual([]);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  }, 60_000);
});
