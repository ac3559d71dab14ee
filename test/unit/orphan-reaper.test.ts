import { describe, expect, it } from 'vitest';
import { OrphanReaper } from '../../src/master/orphan-reaper.js';

/**
 * The master starts the reaper after forking its first workers, so those boot counting on it: a
 * reaper that cannot start must say so (the arbiter then tells every worker to watch by itself).
 */
describe('OrphanReaper.start', () => {
  it('a shell that cannot be spawned is reported as lost, with why', async () => {
    const why = await new Promise<string>((resolve) => {
      OrphanReaper.start('/nowhere/worker.js', resolve, '/nonexistent/sh');
    });
    expect(why).toBe('the orphan reaper could not start');
  });

  it('a running reaper reports its exit once stopped by someone else, and not when stop() ends it', async () => {
    const lost: string[] = [];
    const reaper = OrphanReaper.start('/nowhere/worker.js', (why) => lost.push(why));
    expect(reaper).not.toBeNull();
    const child = (reaper as unknown as { child: import('node:child_process').ChildProcess }).child;
    await new Promise((resolve) => child.once('spawn', resolve));
    reaper!.stop();
    // stop() takes the reaper's own exit listener away; this one comes after it.
    await new Promise((resolve) => child.once('exit', resolve));
    expect(lost).toEqual([]);

    const other = OrphanReaper.start('/nowhere/worker.js', (why) => lost.push(why))!;
    const otherChild = (other as unknown as { child: import('node:child_process').ChildProcess }).child;
    await new Promise((resolve) => otherChild.once('spawn', resolve));
    const gone = new Promise((resolve) => otherChild.once('exit', resolve));
    process.kill(otherChild.pid!, 'SIGKILL');
    await gone;
    expect(lost).toEqual(['the orphan reaper exited']);
  });
});
