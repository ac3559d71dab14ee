import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `engines` tells the truth: every Node version it admits satisfies every installed package's own
 * `engines` (so `npm install` never warns EBADENGINE there), and the README promises the same.
 */

const ROOT = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
// semver is npm's own range logic; it is in node_modules through the dev tools.
const semver = createRequire(join(ROOT, 'package.json'))('semver') as {
  satisfies(v: string, range: string): boolean;
  minVersion(range: string): { version: string };
};

/** The lowest version of each major line the range admits, and the current release lines. */
const admitted = ['20.19.0', '22.13.0', '24.0.0', '25.0.0'].filter((v) => semver.satisfies(v, pkg.engines.node));
/** Where the README says `npm install` of the checkout (dev dependencies too) is clean. */
const developed = admitted.filter((v) => semver.satisfies(v, '>=22.13.0'));

type LockEntry = { engines?: { node?: string } | string[]; dev?: boolean };

function refusals(which: (entry: LockEntry) => boolean, versions: string[]): string[] {
  const refused: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages as Record<string, LockEntry>)) {
    const range = entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
    if (!path || !range || !which(entry)) continue;
    for (const v of versions)
      if (!semver.satisfies(v, range))
        refused.push(`${path.replace(/^.*node_modules\//, '')} wants node ${range}, not ${v}`);
  }
  return refused;
}

describe('engines', () => {
  it("admits the Node lines the README names, and this machine's", () => {
    expect(admitted).toEqual(expect.arrayContaining(['20.19.0', '22.13.0', '24.0.0']));
    expect(semver.satisfies('20.18.0', pkg.engines.node)).toBe(false); // vite and vitest 4 need 20.19
    expect(semver.satisfies('22.12.0', pkg.engines.node)).toBe(false); // rolldown's wasm fallback needs 22.13
    expect(semver.satisfies(process.versions.node, pkg.engines.node)).toBe(true);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('Node 20.19+, 22.13+ or 24+');
    expect(readme).toContain('On Node 22.13+ or 24+, `npm install` of the checkout has no engine warning');
    expect(readme).not.toMatch(/Node 20 or newer/);
  });

  it('the runtime dependencies accept every Node version the engines field admits (what users install)', () => {
    expect(refusals((entry) => !entry.dev, admitted)).toEqual([]);
  });

  it('every locked package, dev ones too, accepts the versions the README promises for development', () => {
    expect(refusals(() => true, developed)).toEqual([]);
  });

  it('the lock file names the package as package.json does', () => {
    expect(lock.name).toBe(pkg.name);
    expect(lock.packages[''].engines.node).toBe(pkg.engines.node);
  });
});
