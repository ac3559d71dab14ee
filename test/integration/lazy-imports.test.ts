import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';

/**
 * A worker loads only what its app and settings use (issue 14: start-up and memory). `ws` alone is
 * about 15 MB of a worker's RSS; HTTP/2, the fetch bridge and the config-file loader a few more
 * each. The ES modules a worker loads are traced by module hooks (NODE_OPTIONS reaches the workers);
 * the CommonJS ones (`ws`, loaded with require) are read from the app's require cache.
 */
const REGISTER = pathToFileURL(join(FIXTURES, 'trace-imports', 'register.mjs')).href;
const APP = join(FIXTURES, 'apps', 'loaded-modules.js');

async function loadedBy(attr: string): Promise<{ esm: string[]; cjs: string[]; master: string[] }> {
  const trace = join(tempDir(), 'trace.txt');
  const g = await startGserve(['-w', '1', `${APP}:${attr}`], {
    env: { NODE_OPTIONS: `--import=${REGISTER}`, GSERVE_TRACE_FILE: trace },
  });
  const res = await fetch(`http://127.0.0.1:${g.port}/`);
  const body: unknown = await res.json();
  const cjs = Array.isArray(body) ? body.map(String) : [];
  const traced = (pid: number | undefined) =>
    readFileSync(trace, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith(`${pid} `))
      .map((line) => line.slice(line.indexOf(' ') + 1));
  return { esm: traced([...g.workerPids][0]), cjs, master: traced(g.pid) };
}

const matching = (list: string[], part: string) => list.filter((entry) => entry.includes(part));
/** The chunk of the bundle (bundle.js) that a lazily imported module starts, named after it. */
const bundled = (module: string) => `/dist/bundle/worker/${module}.js`;

describe('a worker loads only what its app uses', () => {
  it('a node app: no WebSocket, HTTP/2, fetch bridge, config-file loader, pino or node:crypto; no cosmiconfig, node:crypto or node:dns in the master', async () => {
    const { esm, cjs, master } = await loadedBy('app');
    // The trace works: the node path itself is in it.
    expect(matching(esm, bundled('node-server'))).toHaveLength(1);
    for (const lazy of [
      bundled('websocket'),
      bundled('http2'),
      bundled('fetch'),
      bundled('fetch-compat'),
      bundled('load-file'),
      '/node_modules/cosmiconfig/',
      '/node_modules/pino/',
      // About 15 ms of every worker's start-up; the connection board names its file without it.
      'node:crypto',
    ])
      expect(matching(esm, lazy), lazy).toEqual([]);
    expect(matching(cjs, '/node_modules/ws/')).toEqual([]);
    // pino would be required, not imported: the require cache (the app's own module in it shows
    // the list is real) does not hold it.
    expect(matching(cjs, 'loaded-modules-marker.cjs')).toHaveLength(1);
    expect(matching(cjs, '/node_modules/pino/')).toEqual([]);
    // The master (its trace works: the bundle's entry is in it) loads cosmiconfig only when a config
    // file can be found, and the checkout's package.json has no "gserve" key.
    expect(matching(master, '/dist/bundle/cli/main.js')).toHaveLength(1);
    expect(matching(master, '/node_modules/cosmiconfig/')).toEqual([]);
    // About 4 MB of the master's RSS on Node 24 and 1 MB: the control socket's name and a bind to an IP need neither.
    expect(matching(master, 'node:crypto')).toEqual([]);
    expect(matching(master, 'node:dns')).toEqual([]);
    // 2-4 ms of the master's way to its first fork (supervision/blocked-loop.ts).
    expect(matching(master, 'node:perf_hooks')).toEqual([]);
    // Builtins are required, not imported: an ES facade reads every export, and node:http's lazy
    // WebSocket getter alone loads undici (bundle.js says why). node:module gives createRequire.
    const builtins = (list: string[]) => list.filter((url) => url.startsWith('node:') && url !== 'node:module');
    expect(builtins(master)).toEqual([]);
    expect(builtins(esm)).toEqual([]);
  });

  it('a fetch app without WebSocket handlers: no ws', async () => {
    const { esm, cjs } = await loadedBy('fetchApp');
    expect(matching(esm, bundled('fetch'))).toHaveLength(1);
    expect(matching(esm, bundled('http2'))).toEqual([]);
    expect(matching(cjs, '/node_modules/ws/')).toEqual([]);
  });
});
