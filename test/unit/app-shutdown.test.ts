import { afterEach, describe, expect, it } from 'vitest';
import { AppShutdown } from '../../src/worker/app-shutdown.js';

const log = () => {
  const lines: string[] = [];
  return { lines, info: (m: string) => lines.push(`info ${m}`), error: (m: string) => lines.push(`error ${m}`) };
};

let shutdown: AppShutdown | null = null;
afterEach(() => {
  shutdown?.restore();
  shutdown = null;
});

describe('AppShutdown', () => {
  it("keeps the app's SIGTERM/SIGINT listeners off process; runs them once, in order, after the closers", async () => {
    const before = process.listenerCount('SIGTERM');
    shutdown = new AppShutdown();
    shutdown.holdSignalListeners();
    const calls: string[] = [];
    const both = (sig: string) => calls.push(`both ${sig}`);
    process.on('SIGTERM', both);
    process.on('SIGINT', both);
    process.once('SIGINT', (sig: string) => calls.push(`once ${sig}`));
    process.prependListener('SIGTERM', () => calls.push('first'));
    const removed = () => calls.push('removed');
    process.on('SIGTERM', removed);
    process.off('SIGTERM', removed);
    process.on('exit', () => {}); // other events are untouched
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const app = { fetch: () => new Response(''), close: async () => calls.push('app.close') };
    const module = { app, shutdown: () => calls.push('module.shutdown') };
    shutdown.addApp(app, module);
    const l = log();
    expect(shutdown.describe()).toEqual([
      'the app module.shutdown()',
      'the app.close()',
      '2 SIGTERM listener(s)',
      '2 SIGINT listener(s)',
    ]);
    await shutdown.run(5000, l);
    expect(calls).toEqual(['module.shutdown', 'app.close', 'first', 'both SIGTERM', 'once SIGINT']);
    await shutdown.run(5000, l); // once only
    expect(calls).toHaveLength(5);
  });

  it('an error in one step is logged and the next runs; a step past the deadline is cut off with a line', async () => {
    shutdown = new AppShutdown();
    const calls: string[] = [];
    shutdown.addApp(() => {}, {
      close: () => {
        throw new Error('pool already closed');
      },
      shutdown: () => new Promise(() => calls.push('hangs')),
    });
    const l = log();
    await shutdown.run(50, l);
    expect(calls).toEqual(['hangs']);
    expect(l.lines[1]).toMatch(/^error Error in the app module\.close\(\): Error: pool already closed/);
    expect(l.lines.at(-1)).toMatch(/^error The app's shutdown did not finish within --graceful-timeout/);
  });

  it("removeAllListeners('SIGTERM') from the app clears only the app's listeners", () => {
    const before = process.listenerCount('SIGTERM');
    const mine = () => {};
    process.on('SIGTERM', mine);
    shutdown = new AppShutdown();
    shutdown.holdSignalListeners();
    process.on('SIGTERM', () => {});
    process.removeAllListeners('SIGTERM');
    expect(shutdown.describe()).toEqual([]);
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    shutdown.restore();
    process.off('SIGTERM', mine);
  });
});
