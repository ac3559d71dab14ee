import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * gserve's own package.json: the nearest one above this module, the file Node itself takes as the
 * module's package scope. The same file whether this code runs from src/, dist/ or the bundle in
 * dist/bundle/, which sit at different depths. Walking up costs a few stat calls; resolving the
 * package's name through its "exports" cost each master and worker 3 ms of its start (Node 20).
 */
function nearestPackageJson(from: string): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`gserve's package.json is missing above ${from}: reinstall gserve`);
  }
}

export const PACKAGE_JSON: string = nearestPackageJson(fileURLToPath(import.meta.url));
export const PACKAGE_ROOT: string = dirname(PACKAGE_JSON);
