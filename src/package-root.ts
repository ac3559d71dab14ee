import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * gserve's own package.json, found by the package's name (Node resolves a package's name from inside
 * it through its "exports"): the same file whether this code runs from src/, dist/ or the bundle in
 * dist/bundle/, which sit at different depths.
 */
export const PACKAGE_JSON: string = createRequire(import.meta.url).resolve('gserve-server/package.json');
export const PACKAGE_ROOT: string = dirname(PACKAGE_JSON);
