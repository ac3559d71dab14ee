import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const KINDS = ['fetch', 'hono', 'asgi', 'wsgi', 'node', 'node-plain'];

/** bench/in-process.js runs on the built dist/ and reports every interface it is asked for (small batches here). */
describe('bench: in-process per-request cost', () => {
  it('serves each interface on an in-memory socket and prints its µs per request', () => {
    const script = join(import.meta.dirname, '../../bench/in-process.js');
    const out = execFileSync(process.execPath, [script, ...KINDS], {
      env: { ...process.env, GSERVE_IN_PROCESS_BATCH: '300' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    for (const kind of KINDS) {
      const line = out.split('\n').find((l) => l.startsWith(`${kind} `));
      const figures = /fastest (\d+\.\d+)\s+median (\d+\.\d+)/.exec(line ?? '');
      expect(figures, `${kind} in:\n${out}`).not.toBeNull();
      expect(Number(figures![1])).toBeGreaterThan(0);
      expect(Number(figures![1])).toBeLessThanOrEqual(Number(figures![2]));
    }
  });
});
