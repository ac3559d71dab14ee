import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';

/**
 * Node's module compile cache (src/compile-cache.ts): on in the master and its workers where Node
 * has it (≥ 22.8 tells a process its folder), without gserve's own variables reaching the app.
 */
const APP = `${join(FIXTURES, 'apps', 'compile-cache.js')}:app`;
const nodeHasIt = typeof (module as { getCompileCacheDir?: unknown }).getCompileCacheDir === 'function';

interface Seen {
  folder: string | null;
  variable: string | null;
  handedOn: string | null;
}

async function startSeeing(env: Record<string, string | undefined>, flags: string[] = []) {
  const g = await startGserve(['-w', '1', ...flags, APP], { env });
  const seen = (await (await fetch(`http://127.0.0.1:${g.port}/`)).json()) as Seen;
  return { g, seen };
}

describe('the module compile cache', () => {
  it("is on in a worker, in os.tmpdir() by default, and the app's environment holds none of it", async () => {
    const tmp = tempDir();
    // The suite names a folder of its own (test/global-setup.ts): taken away here, as an operator has none.
    const { g, seen } = await startSeeing({ NODE_COMPILE_CACHE: undefined, TMPDIR: tmp });
    expect(seen.variable).toBeNull();
    expect(seen.handedOn).toBeNull();
    if (!nodeHasIt) {
      console.log(`Node ${process.version} has no module compile cache: only the environment is checked`);
      return expect(seen.folder).toBeNull();
    }
    // Node keeps each version's code (and each set of V8 flags') in a subfolder of its own.
    const folder = join(tmp, 'node-compile-cache');
    expect(seen.folder).toMatch(new RegExp(`^${folder}/v\\d`));
    await g.stop();
    // What the master and the worker compiled is on disk by the time they have exited.
    expect(readdirSync(folder, { recursive: true }).length).toBeGreaterThan(1);
  });

  // Node reads V8 code from its default folder without asking who wrote it: a folder another local
  // user made first in a shared /tmp would have their code run in gserve's master and workers.
  it.skipIf(!nodeHasIt)('is off, with a warning, where others can write to the default folder', async () => {
    const tmp = tempDir();
    const folder = join(tmp, 'node-compile-cache');
    mkdirSync(folder);
    chmodSync(folder, 0o777);
    const { g, seen } = await startSeeing({ NODE_COMPILE_CACHE: undefined, TMPDIR: tmp });
    expect(seen).toEqual({ folder: null, variable: null, handedOn: null });
    expect(g.stderr).toContain(`the module compile cache is off: ${folder} can be written to by other users`);
    await g.stop();
    expect(readdirSync(folder)).toEqual([]);
  });

  it.skipIf(!nodeHasIt || process.getuid?.() !== 0)('is off where the default folder is another user’s', async () => {
    const tmp = tempDir();
    const folder = join(tmp, 'node-compile-cache');
    mkdirSync(folder, { mode: 0o755 });
    chownSync(folder, 65534, 65534);
    const { g, seen } = await startSeeing({ NODE_COMPILE_CACHE: undefined, TMPDIR: tmp });
    expect(seen.folder).toBeNull();
    expect(g.stderr).toContain(`${folder} belongs to another user (uid 65534)`);
    await g.stop();
    expect(readdirSync(folder)).toEqual([]);
  });

  it('is on in an app thread (-k thread) too, whose environment holds none of it either', async () => {
    const tmp = tempDir();
    const { seen } = await startSeeing({ NODE_COMPILE_CACHE: undefined, TMPDIR: tmp }, ['-k', 'thread']);
    expect(seen.variable).toBeNull();
    expect(seen.handedOn).toBeNull();
    if (nodeHasIt) expect(seen.folder).toMatch(new RegExp(`^${join(tmp, 'node-compile-cache')}/v\\d`));
    else expect(seen.folder).toBeNull();
  });

  it('NODE_DISABLE_COMPILE_CACHE=1 turns it off', async () => {
    const { seen } = await startSeeing({ NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(seen).toEqual({ folder: null, variable: null, handedOn: null });
  });

  it("a folder the operator names is used, and stays in the app's environment", async () => {
    const folder = tempDir();
    const { seen } = await startSeeing({ NODE_COMPILE_CACHE: folder });
    expect(seen.variable).toBe(folder);
    expect(seen.handedOn).toBeNull();
    if (nodeHasIt) expect(seen.folder).toMatch(new RegExp(`^${folder}/v\\d`));
    else expect(seen.folder).toBeNull();
  });
});
