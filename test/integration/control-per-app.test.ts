import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, FIXTURES, type Gserve, isAlive, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/** Runs `gserve <args>` in `cwd` to completion. */
function cli(
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const full: NodeJS.ProcessEnv = { ...process.env, PORT: '', ...env };
    delete full.PORT;
    execFile(process.execPath, [BIN, ...args], { cwd, env: full, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** A folder holding an app, like a user's project. */
function project(): string {
  const dir = tempDir();
  copyFileSync(join(FIXTURES, 'apps', 'node-pid.js'), join(dir, 'app.js'));
  return dir;
}

/** The control socket a master logged at its start. */
const controlSocketOf = (g: Gserve): string =>
  g.lines.find((l) => l.msg.startsWith('Control socket at: '))!.msg.slice('Control socket at: '.length);

/** Two masters started in one project folder (two binds), with default control sockets. */
async function twoMastersInOneFolder() {
  const env = { XDG_RUNTIME_DIR: tempDir() };
  const dir = project();
  const first = await startGserve(['-b', '127.0.0.1:0', 'app.js'], { cwd: dir, env });
  const second = await startGserve(['-b', `unix:${join(dir, 'app.sock')}`, 'app.js'], { cwd: dir, env });
  return { env, dir, first, second };
}

describe('one control socket per app', () => {
  it('two apps in two folders with default settings: gserve stop in one leaves the other serving', async () => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const [a, b] = [project(), project()];
    const ga = await startGserve(['app.js'], { cwd: a, env });
    const gb = await startGserve(['app.js'], { cwd: b, env });
    const paths = [ga, gb].map(controlSocketOf);
    expect(paths[0]).not.toBe(paths[1]);
    for (const p of paths) expect(statSync(p).isSocket()).toBe(true);
    expect(statSync(join(runtime, 'gserve')).mode & 0o777).toBe(0o700);

    const statusB = await cli(['status', '--json'], b, env);
    expect(statusB.code).toBe(0);
    expect(JSON.parse(statusB.stdout).master.pid).toBe(gb.pid);

    const stopped = await cli(['stop'], a, env);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`Stopped master ${ga.pid}`);
    expect((await ga.exited).code).toBe(0);
    expect(isAlive(gb.pid)).toBe(true);
    expect((await get(`${gb.url}/`)).status).toBe(200);
    expect(JSON.parse((await cli(['status', '--json'], b, env)).stdout).master.pid).toBe(gb.pid);

    // Nothing runs in a's folder any more: a clear line, not b's master.
    const none = await cli(['status'], a, env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^gserve: error: no gserve master started in .* answers/);
  });

  it('--chdir DIR finds the master started in DIR from another folder; a DIR that is no folder is refused', async () => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const dir = project();
    const g = await startGserve(['app.js'], { cwd: dir, env });
    const elsewhere = tempDir();
    const status = await cli(['status', '--json', '--chdir', dir], elsewhere, env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).master.pid).toBe(g.pid);
    // Without it, nothing was started in that other folder.
    expect((await cli(['status'], elsewhere, env)).code).toBe(1);
    const missing = await cli(['stop', '--chdir', join(dir, 'nope')], elsewhere, env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--chdir .*nope is not a folder/);
    expect(isAlive(g.pid)).toBe(true);
    const stopped = await cli(['stop', '--chdir', dir], elsewhere, env);
    expect(stopped.stdout).toContain(`Stopped master ${g.pid}`);
    expect((await g.exited).code).toBe(0);
  });

  it('started in a `current` symlink: gserve status there finds the master after a deploy switched the link', async () => {
    const runtime = tempDir();
    const root = tempDir();
    for (const release of ['1', '2']) mkdirSync(join(root, release));
    copyFileSync(join(FIXTURES, 'apps', 'node-pid.js'), join(root, '1', 'app.js'));
    const current = join(root, 'current');
    symlinkSync(join(root, '1'), current);
    // A shell started in the link: $PWD names it, the kernel's working folder is releases/1.
    const env = { XDG_RUNTIME_DIR: runtime, PWD: current };
    const g = await startGserve(['app.js'], { cwd: current, env });
    rmSync(current);
    symlinkSync(join(root, '2'), current);
    const status = await cli(['status', '--json'], current, env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).master.pid).toBe(g.pid);
    // The master is known by the link's name: from the release folder itself, it is not found.
    const real = await cli(['status', '--json'], join(root, '1'), { XDG_RUNTIME_DIR: runtime, PWD: join(root, '1') });
    expect(real.code, real.stderr).toBe(1);
  });

  it('a config file broken while the master runs does not keep gserve status and stop from it', async () => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const dir = project();
    writeFileSync(join(dir, 'gserve.config.json'), '{"workers": 1}');
    const g = await startGserve(['app.js'], { cwd: dir, env });
    writeFileSync(join(dir, 'gserve.config.json'), '{"workers": 1,}'); // an operator's typo
    const status = await cli(['status', '--json'], dir, env);
    expect(status.stderr).toMatch(
      /^gserve: warning: Could not read config file .*gserve\.config\.json: .*without the config file\.$/m,
    );
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).master.pid).toBe(g.pid);
    writeFileSync(join(dir, 'vault.config.mjs'), 'export default () => { throw new Error("vault sealed"); };');
    const stopped = await cli(['stop', '-c', join(dir, 'vault.config.mjs')], dir, env);
    expect(stopped.stderr).toMatch(/gserve: warning: .*vault sealed/);
    expect(stopped.code).toBe(0);
    expect((await g.exited).code).toBe(0);
  });

  it('two masters started in one folder: the command lists both and exits 2 instead of guessing', async () => {
    const { env, dir, first, second } = await twoMastersInOneFolder();
    const r = await cli(['stop'], dir, env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/2 gserve masters were started in .*; say which with --control-socket/);
    expect(r.stderr).toContain(`master ${first.pid}, bind ${first.url}`);
    expect(r.stderr).toContain(`master ${second.pid}, bind unix:${join(dir, 'app.sock')}`);
    expect(isAlive(first.pid) && isAlive(second.pid)).toBe(true);
  });

  it('a control socket removed (a /tmp cleaner) comes back: on USR1 at once, else within seconds', async () => {
    const { env, dir, first, second } = await twoMastersInOneFolder();
    const path = controlSocketOf(first);
    rmSync(path);
    // Without it, a bare `gserve stop` here would find only the second master, and stop it.
    first.signal('SIGUSR1');
    await first.waitForLog(/^Control socket at: /, { count: 2 });
    expect(first.lines.some((l) => l.msg === `Control socket ${path} was removed; listening there again`)).toBe(true);
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const both = await cli(['stop'], dir, env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/2 gserve masters were started in /);
    // No signal: the master's own check puts it back.
    rmSync(path);
    await first.waitForLog(/^Control socket at: /, { count: 3 });
    const status = await cli(['status', '--json', '--control-socket', path], dir, env);
    expect(JSON.parse(status.stdout).master.pid).toBe(first.pid);
    expect(isAlive(first.pid) && isAlive(second.pid)).toBe(true);
  });
});
