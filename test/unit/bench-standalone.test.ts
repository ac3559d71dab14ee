import { describe, expect, it } from 'vitest';
// @ts-expect-error -- the bench is plain JavaScript, run by node without a build
import { runScenarios, runSettings } from '../../bench/lib/harness.js';
// @ts-expect-error -- same reason
import { adaptStandalone } from '../../bench/lib/standalone.js';
// @ts-expect-error -- same reason
import { markdown, environment } from '../../bench/lib/report.js';

/** A stand-in for bench/scenarios/head-of-line.js's runner (issue #3's script): its result shape, no servers. */
const fakeHeadOfLine = {
  calls: [] as unknown[],
  async run(options: unknown) {
    this.calls.push(options);
    return {
      servers: {
        'gserve sync': { fastP50: 1, fastP99: 10, slowP99: 60, rps: 200, errors: 0 },
        'node:cluster': { fastP50: 2, fastP99: 40, slowP99: 55, rps: 180, errors: 0 },
      },
    };
  },
};

describe('bench: standalone scenario scripts', () => {
  it('turns a script runner into rows with ratios and judged targets, and into the doc', async () => {
    const settings = runSettings({ quick: true });
    const scenario = adaptStandalone('head-of-line', fakeHeadOfLine);
    const [result] = await runScenarios([scenario], settings, { log: () => {} });
    // A quick run asks a script for one round (it restarts its servers every round).
    expect(fakeHeadOfLine.calls).toEqual([{ rounds: 1, duration: settings.durationMs }]);
    const sync = result.rows.find((r: { id: string }) => r.id === 'gserve sync');
    expect(sync.ratio.fastP99).toBe(0.25);
    expect(result.targets).toEqual([expect.objectContaining({ status: 'met', measured: 0.25 })]);
    const doc = markdown(
      [{ environment: environment(settings), results: [result] }],
      settings,
      'npm run bench -- --quick',
    );
    expect(doc).toContain('| gserve sync | 10 (0.25×) |');
  });

  it('runs gserve alone in a quick reload run, its target judged with PM2 skipped', async () => {
    const calls: Array<{ only: string[] | null }> = [];
    const fakeReload = {
      async reloadUnderLoad(options: { only: string[] | null }) {
        calls.push(options);
        return [
          { id: 'gserve', label: 'gserve', failed: 0, requests: 1000, p99Ms: 20, maxMs: 40, errors: {} },
          { id: 'pm2', label: 'pm2', skipped: 'not run: only gserve asked for' },
        ];
      },
    };
    const scenario = adaptStandalone('reload-under-load', fakeReload);
    const [quick] = await runScenarios([scenario], runSettings({ quick: true }), { log: () => {} });
    expect(calls[0]?.only).toEqual(['gserve']);
    expect(quick.targets).toEqual([expect.objectContaining({ status: 'met', measured: 0 })]);
    await runScenarios([scenario], runSettings({ quick: false }), { log: () => {} });
    expect(calls[1]?.only).toBeNull();
  });

  it('knows no adapter for an unknown script', () => {
    expect(adaptStandalone('no-such-scenario', {})).toBeNull();
  });
});
