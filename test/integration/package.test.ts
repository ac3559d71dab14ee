import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.js';
import { Gserve, ROOT, tempDir } from '../helpers/gserve.js';

/**
 * The package the way a user gets it: `npm pack`, installed from the tarball into an empty project, then
 * the README's first run, a config file typed with defineConfig, and start() from code, all through
 * the installed copy (nothing from this checkout but the tarball).
 */

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

let project = '';
let installLog = '';
const started: Gserve[] = [];

beforeAll(async () => {
  const dir = tempDir();
  // --ignore-scripts: `prepare` (tsc) rewrites dist/ under the other test files' feet; the suite's
  // build already made it, and the tarball is checked for it below.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 1 << 24,
  });
  const packs: Array<{ filename: string; files: Array<{ path: string }> }> = JSON.parse(packed.stdout);
  const { filename, files } = packs[0]!;
  const paths = new Set(files.map((f) => f.path));
  for (const needed of [
    'bin/gserve',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'dist/bundle/cli/main.js',
    'dist/bundle/worker/main.js',
    'dist/bundle/worker/thread-runner.js',
    'config/gserve.schema.json',
    'README.md',
  ]) {
    if (!paths.has(needed)) throw new Error(`the tarball lacks ${needed}`);
  }
  project = join(dir, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'first-run', private: true, type: 'module' }));
  // The dependencies come from npm's cache when they are there (no network needed then).
  const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename)], {
    cwd: project,
    maxBuffer: 1 << 24,
  });
  installLog = installed.stdout + installed.stderr;
}, 240_000);

afterAll(async () => {
  for (const g of started) await g.stop();
});

function startInstalled(args: string[], cwd = project): Gserve {
  const bin = join(project, 'node_modules/.bin/gserve');
  const g = new Gserve(
    spawn(bin, ['-b', '127.0.0.1:0', '--log-level', 'debug', '--control-socket', join(cwd, 'gserve.ctl'), ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  started.push(g);
  return g;
}

describe('the published package', () => {
  it('has a name of its own on npm and keeps the gserve command', () => {
    expect(pkg.name).not.toBe('gserve'); // taken on the registry by an unrelated package
    expect(pkg.bin).toEqual({ gserve: 'bin/gserve' });
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(readme).toContain(`npm install -g ${pkg.name}`);
    expect(readme).toContain(`npx -p ${pkg.name} gserve`);
    expect(readme).toContain(`npm install ${pkg.name}`);
  });

  it('installs from the tarball without an engine warning, with the gserve command linked', () => {
    expect(installLog).not.toMatch(/EBADENGINE|npm (error|ERR)/);
    const linked = JSON.parse(readFileSync(join(project, 'node_modules', pkg.name, 'package.json'), 'utf8'));
    expect(linked.version).toBe(pkg.version);
  });

  it("serves the README's first-run app through the installed gserve", async () => {
    const section = readme.slice(readme.indexOf('## First run'), readme.indexOf('## From code'));
    const appCode = /```js\n([\s\S]*?)```/.exec(section)![1]!;
    const command = /^npx gserve (.*)$/m.exec(section)![1]!;
    writeFileSync(join(project, 'app.mjs'), appCode);
    const g = startInstalled(command.split(/\s+/));
    await g.waitForWorkers(2);
    const res = await get(g.url + '/');
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^Hello, world! \(worker \d+\)\n$/);
    // The installed copy runs, not this checkout: look at what a worker process executes.
    const [worker] = [...g.workerPids];
    expect(readFileSync(`/proc/${worker}/cmdline`, 'utf8')).toContain(
      join(project, 'node_modules', pkg.name, 'dist/bundle/worker/main.js'),
    );
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  });

  it('is importable: defineConfig types a config file, and a wrong setting fails to compile', async () => {
    const entry = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as g from '${pkg.name}'; console.log(JSON.stringify(Object.keys(g).sort()))`,
      ],
      { cwd: project },
    );
    expect(JSON.parse(entry.stdout)).toEqual(
      expect.arrayContaining(['defineConfig', 'start', 'GserveError', 'ExitCode']),
    );
    writeFileSync(
      join(project, 'good.ts'),
      `import { defineConfig, type FetchApp, type NodeApp } from '${pkg.name}';\n` +
        `export const app: NodeApp = (req, res) => { res.end(req.url); };\n` +
        `export const fetchApp: FetchApp = { fetch: (request) => new Response(request.url) };\n` +
        `export default defineConfig({ $schema: './x.json', app: 'app:app', workers: 4, ` +
        `bind: ['0.0.0.0:8000'], logLevel: 'warning',\n` +
        `  whenReady: (server) => server.log.info('ready %d', server.numWorkers), ` +
        `preFork: (server, worker) => void worker.generation });\n`,
    );
    const mistakes = {
      'bad-workers.ts': "workers: 'four'",
      'bad-level.ts': "logLevel: 'loud'",
      'bad-hook.ts': 'onStart() {}',
    };
    for (const [file, entry] of Object.entries(mistakes))
      writeFileSync(
        join(project, file),
        `import { defineConfig } from '${pkg.name}';\nexport default defineConfig({ ${entry} });\n`,
      );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const flags = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2023,dom',
      '--skipLibCheck',
      '--typeRoots',
      join(ROOT, 'node_modules/@types'),
      '--types',
      'node',
    ];
    const good = await run(process.execPath, [tsc, ...flags, 'good.ts'], { cwd: project }).catch((e) => e);
    expect(good.stdout ?? '', 'good.ts must compile').toBe('');
    const bad = await run(process.execPath, [tsc, ...flags, ...Object.keys(mistakes)], { cwd: project }).catch(
      (e) => e,
    );
    expect(bad.code).not.toBe(0);
    for (const file of Object.keys(mistakes)) expect(bad.stdout).toContain(`${file}(2,`);
    expect(bad.stdout).toMatch(/'onStart' does not exist/);
  });

  it('a config file that imports defineConfig from the package runs, hooks and all', async () => {
    const dir = join(project, 'configured');
    mkdirSync(dir);
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("configured");\n');
    writeFileSync(
      join(dir, 'gserve.config.mjs'),
      `import { defineConfig } from '${pkg.name}';\n` +
        `export default defineConfig({ app: 'app:app', workers: 1, whenReady: ` +
        `(server) => server.log.info('whenReady from a typed config: %d', server.numWorkers) });\n`,
    );
    const g = startInstalled([], dir);
    await g.waitForLog(/^whenReady from a typed config: 1$/);
    expect((await get(g.url + '/')).body).toBe('configured');
  });

  it('start() from the installed package serves the app and stops it', async () => {
    writeFileSync(join(project, 'hello.mjs'), 'export const app = (req, res) => res.end("from start()");\n');
    writeFileSync(
      join(project, 'script.mjs'),
      `import { start } from '${pkg.name}';\n` +
        `const server = await start({ app: 'hello:app', settings: { bind: ['127.0.0.1:0'], workers: 2 }, ` +
        `output: 'ignore' });\n` +
        `const body = await (await fetch(server.url)).text();\n` +
        `const code = await server.stop();\n` +
        `console.log(JSON.stringify({ body, code, pid: server.pid, urls: server.urls }));\n`,
    );
    const out = await run(process.execPath, ['script.mjs'], { cwd: project, timeout: 60_000 });
    const result = JSON.parse(out.stdout);
    expect(result).toMatchObject({ body: 'from start()', code: 0 });
    expect(result.urls[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(() => process.kill(result.pid, 0)).toThrow(); // the master is gone
  });

  it('start() rejects with the reason gserve gives when the app cannot load', async () => {
    writeFileSync(
      join(project, 'fails.mjs'),
      `import { start } from '${pkg.name}';\n` +
        `try { await start({ app: 'missing:app', settings: { bind: ['127.0.0.1:0'] }, output: 'ignore' }); ` +
        `console.log('started?'); }\n` +
        `catch (err) { console.log(JSON.stringify({ ` +
        `code: err.code, exitCode: err.exitCode, message: err.message })); }\n`,
    );
    const out = await run(process.execPath, ['fails.mjs'], { cwd: project, timeout: 60_000 });
    const result = JSON.parse(out.stdout);
    expect(result).toMatchObject({ code: 'GSERVE_E_START', exitCode: 4 });
    expect(result.message).toMatch(/gserve exited with code 4 before serving: Cannot find app module "missing"/);
  });
});
