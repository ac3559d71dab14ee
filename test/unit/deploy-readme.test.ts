import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'examples/deploy');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('examples/deploy/README.md', () => {
  it('says what every file there is for and how to try it', () => {
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
    const listed = files(DEPLOY).filter((f) => !f.endsWith('README.md'));
    expect(listed.length).toBeGreaterThan(0);
    for (const file of listed) {
      const rel = relative(DEPLOY, file);
      const row = readme.split('\n').find((l) => l.startsWith(`| [\`${rel}\`](${rel})`));
      expect(row, rel).toBeDefined();
      const cells = row!.split(' | ');
      expect(cells.length, rel).toBe(3);
      expect(cells[1]!.trim().length, `${rel}: what it is for`).toBeGreaterThan(20);
      expect(cells[2]!.trim().length, `${rel}: how to try it`).toBeGreaterThan(20);
    }
  });
});
