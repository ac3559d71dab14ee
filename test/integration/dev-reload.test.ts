import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BIN, runGserve, startGserve, tempDir } from '../helpers/gserve.js';
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

  it('stays up when the app cannot load at start, and serves once a change fixes it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => {\n');
    const g = await startGserve(['--reload', '-w', '2', 'app.mjs:app'], { cwd: dir, workers: 0 });
    await g.waitForLog(/^Reload: watching/);
    const [line] = await g.waitForLog(/^No worker can load the app; --reload starts them again when a file changes/);
    expect(line!.msg).toMatch(/app\.mjs: SyntaxError/);
    writeFileSync(join(dir, 'app.mjs'), appSource('fixed'));
    await g.waitForWorkers(2);
    expect((await get(g.url)).body).toBe('fixed');
    // Told once for the two workers that failed alike.
    expect(g.lines.filter((l) => l.msg.startsWith('No worker can load the app')).length).toBe(1);
  });

  it('survives a symlink loop, and follows a folder removed and made again', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'app.mjs'), appSource('v1'));
    const g = await startGserve(['--reload', 'app.mjs:app'], { cwd: dir });
    await g.waitForLog(/^Reload: watching 2 folder/);
    // The master stats each new entry: a symlink loop (ELOOP) ended it.
    symlinkSync('loop', join(dir, 'loop'));
    writeFileSync(join(dir, 'app.mjs'), appSource('v2'));
    await pollUntil(async () => (await get(g.url)).body === 'v2', 'the new code to serve');
    rmSync(join(dir, 'src'), { recursive: true });
    mkdirSync(join(dir, 'src'));
    // The folder made again is watched again; the folder it replaced held the watch before.
    await pollUntil(
      () => {
        writeFileSync(join(dir, 'src', 'util.mjs'), `export const x = ${Date.now()};\n`);
        return g.lines.some((l) => l.msg === 'Reload: src/util.mjs changed; reloading the workers');
      },
      'a change in the folder made again to be seen',
      { everyMs: 1000 }, // past the debounce, or each write would put the reload off again
    );
    expect(g.exitCode).toBeUndefined();
  });

  it('refuses a --reload-dir that is missing or not a folder, naming it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), appSource('v1'));
    const missing = await runGserve(['--reload', '--reload-dir', 'nope', 'app.mjs:app'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--reload-dir \S*nope does not exist: give a folder that does/);
    const file = await runGserve(['--reload', '--reload-dir', 'app.mjs', 'app.mjs:app'], { cwd: dir });
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/--reload-dir \S*app\.mjs is not a folder: give the folder that holds it/);
    expect(`${missing.stderr}${file.stderr}`).not.toMatch(/\n\s+at /); // no stack trace
  });
});
