import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/** A worker's uncaught exception or unhandled rejection: one record, naming the worker, with the stack. */
const apps = join(import.meta.dirname, 'apps');

describe('worker crashes are legible', () => {
  it('an uncaught exception is logged once with the pid, message and stack; the worker is replaced', async () => {
    const g = await startGserve(['-w', '1', join(apps, 'crashes.js')]);
    const victim = [...g.workerPids][0]!;
    await get(g.url + '/throw').catch(() => null);
    const [line] = await g.waitForLog(/crashed: uncaught exception/);
    expect(line!.pid).toBe(victim);
    expect(line!.msg).toMatch(
      new RegExp(`^Worker \\(pid: ${victim}(, index: \\d+)?\\) crashed: uncaught exception: kaboom from a timer$`),
    );
    const err = line!.err as { type: string; message: string; stack: string };
    expect(err.type).toBe('TypeError');
    expect(err.message).toBe('kaboom from a timer');
    expect(err.stack).toMatch(/^TypeError: kaboom from a timer\n\s+at .*crashes\.js/);
    await g.waitForLog(new RegExp(`^Worker \\(pid: ${victim}\\) exited with code 1`));
    await g.waitForWorkers(2);
    // Once: no second record, and no raw stack printed by Node next to the JSON lines.
    expect(g.lines.filter((l) => JSON.stringify(l).includes('kaboom'))).toHaveLength(1);
    expect(g.stderr.split('\n').filter((t) => t.includes('kaboom') && !t.startsWith('{'))).toEqual([]);
  });

  it('an unhandled rejection is logged once with the worker pid and stack; the worker goes on serving', async () => {
    const g = await startGserve(['-w', '1', join(apps, 'crashes.js')]);
    const pid = [...g.workerPids][0]!;
    expect((await get(g.url + '/reject')).status).toBe(200);
    const [line] = await g.waitForLog(/unhandled promise rejection/);
    expect(line!.pid).toBe(pid);
    expect(line!.msg).toMatch(
      new RegExp(
        `^Worker \\(pid: ${pid}(, index: \\d+)?\\): unhandled promise rejection in the app: rejected and never caught$`,
      ),
    );
    expect((line!.err as { stack: string }).stack).toMatch(/^RangeError: rejected and never caught\n\s+at /);
    const after = await get(g.url);
    expect(after.headers['x-worker-pid']).toBe(String(pid));
    expect(g.lines.filter((l) => JSON.stringify(l).includes('never caught'))).toHaveLength(1);
  });
});
