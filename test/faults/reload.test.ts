import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, FIXTURES, ROOT, startGserve, tempDir, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { pollUntil } from '../helpers/poll.js';
import { workerProcesses } from './proc.js';

/**
 * HUP under faults: a config that cannot load keeps the running settings and workers; a load that
 * never finishes is bounded; TERM/INT/QUIT pre-empt a reload or a hook that never returns.
 */
const generation = join(FIXTURES, 'apps', 'generation.js');

function configDir(content: string): { dir: string; config: string } {
  const dir = tempDir();
  const config = join(dir, 'gserve.config.mjs');
  writeFileSync(config, content);
  return { dir, config };
}

/** The generation that answered, from the fixture's `x-served-by: MASTER/GENERATION`. */
async function servedGeneration(g: Gserve): Promise<string> {
  return String((await get(g.url)).headers['x-served-by']).split('/')[1]!;
}

async function exitWithin(g: Gserve, ms: number): Promise<number | null | 'hung'> {
  const r = await Promise.race([g.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms))]);
  return r === 'hung' ? r : r.code;
}

describe('config errors on HUP', () => {
  it('a syntax error, an invalid value, a throw and a never-settling await: each is logged, ' +
    'the old config and workers stay', async () => {
    const { config } = configDir('export default { workers: 2 };\n');
    const g = await startGserve(['-c', config, '--timeout', '10', generation], { workers: 2 });
    const bad = [
      [
        'a syntax error',
        'export default { workers: 2\n',
        /Reload failed, keeping the running settings and workers: .*gserve\.config\.mjs/,
      ],
      [
        'an invalid value',
        "export default { workers: 'many' };\n",
        /Reload failed, keeping the running settings and workers: .*workers/,
      ],
      [
        'a throw',
        "throw new Error('config exploded');\nexport default {};\n",
        /Reload failed, keeping the running settings and workers: .*config exploded/,
      ],
      [
        'a never-settling await',
        'await new Promise(() => {});\nexport default { workers: 2 };\n',
        /^Reload failed: loading the config did not finish within 10 s; keeping the running settings and workers$/,
      ],
    ] as const;
    for (const [i, [what, content, expected]] of bad.entries()) {
      writeFileSync(config, content);
      g.signal('SIGHUP');
      const lines = await g.waitForLog(/^Reload failed/, { count: i + 1 });
      expect(lines[i]!.msg, what).toMatch(expected);
      expect(await servedGeneration(g), what).toBe('0');
    }
    expect(workerProcesses(g.pid)).toHaveLength(2);
    // A good config after all that still reloads.
    writeFileSync(config, 'export default { workers: 2 };\n');
    g.signal('SIGHUP');
    await g.waitForLog(/^Reloaded: generation 1 is serving/);
    g.signal('SIGTERM');
    expect(await exitWithin(g, 30_000)).toBe(0);
  }, 180_000);
});

describe('stops pre-empt whatever the master is doing', () => {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
    it(`${sig} during a HUP whose config load never settles`, async () => {
      const { config } = configDir('export default { workers: 1 };\n');
      const g = await startGserve(['-c', config, generation]);
      writeFileSync(config, 'await new Promise(() => {});\nexport default {};\n');
      g.signal('SIGHUP');
      await g.waitForLog(/^Handling signal: hup/);
      g.signal(sig);
      // The bound on the load is --timeout (30 s here): the stop must not wait for it.
      expect(await exitWithin(g, 20_000)).toBe(0);
    });
  }

  it('gserve stop --fast during a HUP whose onReload hook never returns', async () => {
    const { dir, config } = configDir('export default { workers: 1, onReload: () => new Promise(() => {}) };\n');
    const sock = join(dir, 'ctl.sock');
    const g = await startGserve(['-c', config, '--control-socket', sock, generation]);
    g.signal('SIGHUP');
    await g.waitForLog(/^Handling signal: hup/);
    const stop = await new Promise<number>((resolve) =>
      execFile(
        process.execPath,
        [BIN, 'stop', '--fast', '--control-socket', sock],
        { cwd: ROOT, timeout: 60_000 },
        (err) => resolve(err ? 1 : 0),
      ),
    );
    expect(stop).toBe(0);
    expect(await exitWithin(g, 20_000)).toBe(0);
  });

  it('TERM with an onExit hook that never returns: the master exits anyway', async () => {
    const { config } = configDir(
      'export default { workers: 1, onExit: () => new Promise(() => setInterval(() => {}, 1000)) };\n',
    );
    const g = await startGserve(['-c', config, generation]);
    g.signal('SIGTERM');
    expect(await exitWithin(g, 20_000)).toBe(0);
    if (!g.child.stderr!.readableEnded) await new Promise((r) => g.child.stderr!.once('end', r));
    expect(g.stderr).toMatch(/"msg":"The onExit hook did not return within \d+ s; exiting anyway"/);
  });
});

describe('30 HUPs 100 ms apart under load', () => {
  it('keep-alive and Connection: close clients: 0 failed requests, and exactly -w workers at the end', async () => {
    const { config } = configDir('export default { workers: 2 };\n');
    const g = await startGserve(['-c', config, generation], { workers: 2 });
    const hups = (async () => {
      for (let i = 0; i < 30; i++) {
        g.signal('SIGHUP');
        await new Promise((r) => setTimeout(r, 100)); // the scenario's pace, not a wait for a result
      }
      // Every HUP was either handled (a reload) or coalesced into one still queued.
      await g.until(
        () => {
          const handled = g.lines.filter((l) => /^Handling signal: hup/.test(l.msg)).length;
          const coalesced = g.lines.filter((l) => /^HUP coalesced/.test(l.msg)).length;
          const done = g.lines.filter((l) => /^(Reloaded: generation|Reload failed)/.test(l.msg)).length;
          return handled + coalesced === 30 && done === handled;
        },
        'every HUP handled',
        120_000,
      );
    })();
    hups.catch(() => {}); // awaited below; never an unhandled rejection if the test ends first
    const load = await runLoad({ url: g.url, total: 500, connections: 8, freshEvery: 2, until: hups });
    await hups;
    expect(load.errors).toEqual([]);
    expect([...load.statuses.keys()]).toEqual([200]);
    expect(g.lines.filter((l) => /^Reload failed/.test(l.msg))).toEqual([]);
    // The old generations drain and exit; exactly 2 workers remain.
    await pollUntil(() => workerProcesses(g.pid).length === 2, 'exactly 2 workers');
    const last = g.lines.filter((l) => /^Reloaded: generation/.test(l.msg)).at(-1)!;
    const gen = /generation (\d+)/.exec(last.msg)![1];
    for (let i = 0; i < 10; i++) expect(await servedGeneration(g)).toBe(gen);
  }, 180_000);
});
