import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { eventually } from '../helpers/files.js';

const appSource = (text: string) => `export const app = (req, res) => res.end(${JSON.stringify(text)});\n`;

describe('--reload', () => {
  it('reloads on a change, ignores node_modules, and keeps the old code serving through a syntax error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), appSource('v1'));
    mkdirSync(join(dir, 'node_modules', 'dep'), { recursive: true });
    const g = await startGserve(['--reload', 'app.mjs:app'], { cwd: dir });
    await g.waitForLog(/^Reload: watching/);
    expect((await get(g.url)).body).toBe('v1');

    writeFileSync(join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    writeFileSync(join(dir, 'notes.txt'), 'not source\n');
    writeFileSync(join(dir, 'app.mjs'), appSource('v2'));
    const [first] = await g.waitForLog(/^Reload: .* changed; reloading the workers$/);
    expect(first!.msg).toBe('Reload: app.mjs changed; reloading the workers'); // neither node_modules nor notes.txt
    await eventually(async () => (await get(g.url)).body === 'v2', 'the new code to serve');

    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => {\n  res.end("broken"\n');
    const [failure] = await g.waitForLog(/Reload failed/);
    expect(failure!.msg).toMatch(/SyntaxError|Unexpected|missing/i);
    expect((await get(g.url)).body).toBe('v2'); // the old workers still serve
    expect(g.exitCode).toBeUndefined();

    writeFileSync(join(dir, 'app.mjs'), appSource('v3'));
    await eventually(async () => (await get(g.url)).body === 'v3', 'the fixed code to serve');
  });

  it('watches --reload-dir folders only, with --reload-include and --reload-exclude globs', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'src', 'app.mjs'), appSource('a1'));
    writeFileSync(join(dir, 'outside.mjs'), '');
    const g = await startGserve(['--reload', '--reload-dir', 'src', '--reload-include', '*.mjs', '--reload-exclude', 'skip*', 'src/app.mjs:app'], { cwd: dir });
    await g.waitForLog(/^Reload: watching 2 folder/);
    writeFileSync(join(dir, 'outside.mjs'), '// changed\n');
    writeFileSync(join(dir, 'src', 'skip-me.mjs'), '// excluded\n');
    writeFileSync(join(dir, 'src', 'deep', 'data.json'), '{}\n');
    writeFileSync(join(dir, 'src', 'deep', 'util.mjs'), 'export const x = 1;\n');
    const [line] = await g.waitForLog(/^Reload: .* changed/);
    expect(line!.msg).toBe('Reload: deep/util.mjs changed; reloading the workers');
  });
});
