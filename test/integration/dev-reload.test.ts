import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BIN, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

const appSource = (text: string) => `export const app = (req, res) => res.end(${JSON.stringify(text)});\n`;

describe('--reload', () => {
  it('reloads on a change, ignores node_modules, and keeps the old code serving through a syntax error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), appSource('v1'));
    mkdirSync(join(dir, 'node_modules', 'dep'), { recursive: true });
    const g = await startGserve(['--reload', '--control-socket', join(dir, 'c.sock'), 'app.mjs:app'], { cwd: dir });
    await g.waitForLog(/^Reload: watching/);
    expect((await get(g.url)).body).toBe('v1');

    writeFileSync(join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    writeFileSync(join(dir, 'notes.txt'), 'not source\n');
    writeFileSync(join(dir, 'app.mjs'), appSource('v2'));
    const [first] = await g.waitForLog(/^Reload: .* changed; reloading the workers$/);
    expect(first!.msg).toBe('Reload: app.mjs changed; reloading the workers'); // neither node_modules nor notes.txt
    await pollUntil(async () => (await get(g.url)).body === 'v2', 'the new code to serve');

    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => {\n  res.end("broken"\n');
    const [failure] = await g.waitForLog(/Reload failed/);
    expect(failure!.msg).toMatch(/SyntaxError|Unexpected|missing/i);
    expect((await get(g.url)).body).toBe('v2'); // the old workers still serve
    expect(g.exitCode).toBeUndefined();
    // gserve reload says so too, with the reason.
    const reload = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'reload', '--control-socket', join(dir, 'c.sock')], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(reload.code).toBe(1);
    expect(reload.stderr).toMatch(
      new RegExp(
        String.raw`^gserve: error: reload failed, the old workers keep serving \(0 of 1 new workers ready\): ` +
          String.raw`Failed to load app module .*app\.mjs: SyntaxError`,
      ),
    );
    expect((await get(g.url)).body).toBe('v2');

    writeFileSync(join(dir, 'app.mjs'), appSource('v3'));
    await pollUntil(async () => (await get(g.url)).body === 'v3', 'the fixed code to serve');
  });

  it('watches --reload-dir folders only, with --reload-include and --reload-exclude globs', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'src', 'app.mjs'), appSource('a1'));
    writeFileSync(join(dir, 'outside.mjs'), '');
    const g = await startGserve(
      ['--reload', '--reload-dir', 'src', '--reload-include', '*.mjs', '--reload-exclude', 'skip*', 'src/app.mjs:app'],
      { cwd: dir },
    );
    await g.waitForLog(/^Reload: watching 2 folder/);
    writeFileSync(join(dir, 'outside.mjs'), '// changed\n');
    writeFileSync(join(dir, 'src', 'skip-me.mjs'), '// excluded\n');
    writeFileSync(join(dir, 'src', 'deep', 'data.json'), '{}\n');
    writeFileSync(join(dir, 'src', 'deep', 'util.mjs'), 'export const x = 1;\n');
    const [line] = await g.waitForLog(/^Reload: .* changed/);
    expect(line!.msg).toBe('Reload: deep/util.mjs changed; reloading the workers');
  });
});
