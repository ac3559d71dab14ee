import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every gserve the suite starts keeps its compiled code (src/compile-cache.ts) in one folder of the
 * suite's own, removed at the end, rather than in os.tmpdir()/node-compile-cache, which would
 * outlive the run. The test processes and the servers they start inherit the variable.
 */
export default function setup(): () => void {
  const folder = mkdtempSync(join(tmpdir(), 'gserve-test-compile-cache-'));
  process.env.NODE_COMPILE_CACHE = folder;
  return () => rmSync(folder, { recursive: true, force: true });
}
