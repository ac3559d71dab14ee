import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';
import { ROOT, runGserve, startGserve, tempDir } from '../helpers/gserve.js';

/** A folder holding `files` (no package.json unless given: a CommonJS project). */
function folder(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const CJS_APP = 'exports.app = (req, res) => res.end("from " + __filename);\n';

describe('config files in every kind of project', () => {
  it('the README\'s `export default` config works in a CommonJS project (no "type" field)', async () => {
    const dir = folder({
      'package.json': '{"name":"legacy","version":"1.0.0"}',
      'gserve.config.js': "export default {\n  app: 'server:app',\n  workers: 2,\n  timeout: 45,\n};\n",
      'server.js': CJS_APP,
    });
    const { code, stdout, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(stderr).not.toContain('Unexpected token');
    expect(stderr).not.toContain('__esModule');
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^workers +=\s+2 +# config file .*gserve\.config\.js/m);
    expect(stdout).toMatch(/^timeout +=\s+45 /m);
  });

  it('a compiled config (exports.__esModule and exports.default) is read as its default export', async () => {
    const dir = folder({
      'gserve.config.js':
        '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\n' +
        'exports.default = { workers: 3 };\n',
    });
    const { code, stdout, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^workers +=\s+3 /m);
  });

  it('an `export default` config with top-level await works in a CommonJS project (require(esm) refuses it)', async () => {
    const dir = folder({
      'package.json': '{"name":"legacy"}',
      'gserve.config.js': 'const workers = await Promise.resolve(3);\nexport default { workers };\n',
    });
    const { code, stdout, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^workers +=\s+3 +# config file /m);
    expect(stderr).not.toMatch(/Warning|require\(\)/);
  });

  it('where Node cannot require() an ES module it is imported instead, without warnings', async () => {
    const dir = folder({ 'package.json': '{"name":"legacy"}', 'gserve.config.js': 'export default { workers: 2 };\n' });
    // Node before 20.19 / 22.12 has no require(esm): this flag gives today's Node the same behaviour.
    const { code, stdout, stderr } = await runGserve(['--print-config'], {
      cwd: dir,
      env: { NODE_OPTIONS: '--no-experimental-require-module' },
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^workers +=\s+2 /m);
    expect(stderr).not.toMatch(/Warning/);
  });

  it('where Node can neither require() nor detect an ES module, one line says to rename the file to .mjs', async () => {
    const dir = folder({ 'package.json': '{"name":"legacy"}', 'gserve.config.js': 'export default { workers: 2 };\n' });
    const { code, stderr } = await runGserve(['--print-config'], {
      cwd: dir,
      env: { NODE_OPTIONS: '--no-experimental-require-module --no-experimental-detect-module' },
    });
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(
      new RegExp(
        String.raw`^gserve: error: Config file .*gserve\.config\.js uses export/import, ` +
          String.raw`but its package.json has no "type": "module".* Rename it to .*gserve\.config\.mjs, ` +
          String.raw`or write module\.exports = \{ \.\.\. \}\. \[GSERVE_E_CONFIG_FILE\]$`,
      ),
    );
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('"$schema" in a JSON config is taken as the editor\'s pointer, not as an unknown setting', async () => {
    const dir = folder({
      'gserve.config.json': JSON.stringify({
        $schema: './node_modules/gserve-server/config/gserve.schema.json',
        workers: 2,
      }),
    });
    const { code, stdout, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^workers +=\s+2 /m);
    expect(stdout).not.toContain('$schema');
  });

  it('gserve.config.ts is found, not skipped: loaded where Node strips types, else a one-line hint', async () => {
    const dir = folder({
      'package.json': '{"type":"module"}',
      'gserve.config.ts': 'const workers: number = 3;\nexport default { workers };\n',
    });
    for (const args of [['--print-config'], ['-c', 'gserve.config.ts', '--print-config']]) {
      const { code, stdout, stderr } = await runGserve(args, { cwd: dir });
      if ((process.features as { typescript?: unknown }).typescript) {
        expect(code, stderr).toBe(0);
        expect(stdout).toMatch(/^workers +=\s+3 /m);
      } else {
        expect(code).toBe(2);
        expect(stderr.trim().split('\n')).toHaveLength(1);
        expect(stderr).toMatch(/cannot load TypeScript \(.*gserve\.config\.ts\).*--import tsx/);
        expect(stderr).not.toContain('typescript package');
      }
    }
  });

  it('with a TypeScript loader (NODE_OPTIONS="--import tsx"), gserve.config.ts and app.ts load and serve', async () => {
    // A stand-in for tsx: these .ts files hold no types, so the hook only has to say "ES module".
    const dir = folder({
      'ts-loader/register.mjs': "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
      'ts-loader/hooks.mjs':
        "import { readFileSync } from 'node:fs';\nimport { fileURLToPath } from 'node:url';\n" +
        "export async function load(url, context, next) {\n  if (!url.split('?')[0].endsWith('.ts')) return " +
        'next(url, context);\n' +
        "  return { format: 'module', source: readFileSync(fileURLToPath(url.split('?')[0]), 'utf8'), " +
        'shortCircuit: true };\n}\n',
      'gserve.config.ts': "export default { app: 'server.ts:app', workers: 2 };\n",
      'server.ts': 'export const app = (req, res) => res.end("typed " + process.pid);\n',
    });
    const g = await startGserve([], {
      cwd: dir,
      workers: 2,
      env: { NODE_OPTIONS: `--import ${join(dir, 'ts-loader/register.mjs')}` },
    });
    const res = await get(g.url + '/');
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^typed \d+$/);
  });

  it("a config in a parent folder resolves the app from the config file's folder, not the current one", async () => {
    const dir = folder({
      'gserve.config.cjs': "module.exports = { app: 'src/server:app' };\n",
      'src/server.js': CJS_APP,
      'deep/er/.keep': '',
    });
    const g = await startGserve([], { cwd: join(dir, 'deep/er') });
    const res = await get(g.url + '/');
    expect(res.status).toBe(200);
    expect(res.body).toBe('from ' + join(dir, 'src/server.js'));
  });

  it('package.json\'s "gserve" key is found from a subfolder; the search stops at the project\'s own package.json', async () => {
    const dir = folder({
      'package.json': '{"name":"p","gserve":{"workers":3}}',
      'src/.keep': '',
      'inner/package.json': '{"name":"inner"}',
    });
    const found = await runGserve(['--print-config'], { cwd: join(dir, 'src') });
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toMatch(/^workers +=\s+3 +# config file .*package\.json/m);
    // inner/ is a project of its own without a "gserve" key: the parent's config is not its config.
    const inner = await runGserve(['--print-config'], { cwd: join(dir, 'inner') });
    expect(inner.code, inner.stderr).toBe(0);
    expect(inner.stdout).not.toMatch(/config file/);
  });

  it('a broken package.json is named in one line, exit 2', async () => {
    const dir = folder({ 'package.json': '{"name": "p", "gserve": {"workers": 3,}}' });
    const { code, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(code).toBe(2);
    // The parser's cause, without its code frame or a copy of the whole file.
    expect(stderr).toMatch(
      /Could not read config file .*package\.json: [^:]*JSON[^:]* \(at .*package\.json:\d+:\d+\)\. Fix the file's syntax, /,
    );
    expect(stderr).not.toMatch(/while parsing|internal error/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('-c naming a folder or a file of no config type says what to point it at, exit 2; .gserverc.json is found', async () => {
    const dir = folder({ 'settings.txt': 'workers: 3\n', '.gserverc.json': '{"workers": 3}' });
    const asFolder = await runGserve(['-c', '.', '--print-config'], { cwd: dir });
    expect(asFolder.code).toBe(2);
    expect(asFolder.stderr.trim()).toMatch(
      /^gserve: error: Config file \. is a folder\. Point -c at the config file in it/,
    );
    const asText = await runGserve(['-c', 'settings.txt', '--print-config'], { cwd: dir });
    expect(asText.code).toBe(2);
    expect(asText.stderr.trim()).toMatch(/Config file settings\.txt: gserve cannot read a "\.txt" file\. .* Rename it/);
    expect(asText.stderr).not.toMatch(/syntax/);
    // The name cosmiconfig users expect: .<name>rc.
    const found = await runGserve(['--print-config'], { cwd: dir });
    expect(found.stdout).toMatch(/^workers +=\s+3 +# config file .*\.gserverc\.json/m);
  });

  it('--check-config reads the TLS files as the start would: a missing one is exit 2, not "Config OK"', async () => {
    const dir = folder({ 'app.js': CJS_APP });
    const missing = await runGserve(['--check-config', '--certfile', 'nope.pem', 'app:app'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Cannot read --certfile nope\.pem: ENOENT/);
    const lone = await runGserve(['--check-config', '--keyfile', 'nope.pem', 'app:app'], { cwd: dir });
    expect(lone.code).toBe(2);
    expect(lone.stderr).toMatch(/--keyfile and --ca-certs need --certfile too/);
  });

  it('--check-config refuses a log file the start could not open, makes none, and warns of GSERVE_ typos', async () => {
    const dir = folder({ 'app.js': CJS_APP, 'a-file': '' });
    const refused = await runGserve(['--check-config', '--access-logfile', 'a-file/access.log', 'app:app'], {
      cwd: dir,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Cannot open --access-logfile a-file\/access\.log: ENOTDIR/);
    const folderAsLog = await runGserve(['--check-config', '--access-logfile', '.', 'app:app'], { cwd: dir });
    expect(folderAsLog.code).toBe(2);
    expect(folderAsLog.stderr).toMatch(/Cannot open --access-logfile \.: EISDIR/);
    const ok = await runGserve(['--check-config', '--error-logfile', 'logs/new/error.log', 'app:app'], {
      cwd: dir,
      env: { GSERVE_WORKRES: '2' },
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(readdirSync(dir)).not.toContain('logs');
    expect(ok.stderr).toMatch(/^gserve: warning: Environment variable GSERVE_WORKRES .* Did you mean GSERVE_WORKERS\?/);
  });

  it('a JS or JSON config that fails says where, and only a syntax error is called one', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("ok");\n');
    const cases: Array<[string, string, RegExp]> = [
      [
        'gserve.config.mjs',
        'export default { workers: 1 bind: ":0" };\n',
        /Could not read config file .*gserve\.config\.mjs: Unexpected identifier 'bind' \(at .*gserve\.config\.mjs:1:29\)\. Fix the file's syntax/,
      ],
      [
        'gserve.config.mjs',
        'const secrets = undefined;\nexport default { workers: secrets.workers };\n',
        /Config file .*gserve\.config\.mjs failed while loading: TypeError: .* \(at .*gserve\.config\.mjs:2:\d+\)\. Fix the code it runs or imports/,
      ],
      [
        'gserve.config.json',
        '{\n  // a comment\n  "workers": 1\n}\n',
        /gserve\.config\.json: .*JSON.* \(at .*gserve\.config\.json:2:3\)\. Fix the file's syntax \(JSON allows no comments/,
      ],
    ];
    for (const [name, text, said] of cases) {
      writeFileSync(join(dir, name), text);
      const { code, stderr } = await runGserve(['--check-config', 'app.mjs'], { cwd: dir });
      expect(code, text).toBe(2);
      expect(stderr, text).toMatch(said);
      expect(stderr.trim().split('\n'), text).toHaveLength(1);
      rmSync(join(dir, name));
    }
  });

  it('a YAML error names its cause and place; a config function that throws is one line, not a stack trace', async () => {
    const yaml = await runGserve(['--print-config'], {
      cwd: folder({ 'gserve.config.yaml': 'workers: 2\n  bind: [x\n' }),
    });
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(
      /gserve\.config\.yaml: bad indentation of a mapping entry \(2:\d+\)\. Fix the file's syntax/,
    );
    expect(yaml.stderr.trim().split('\n')).toHaveLength(1);
    for (const body of [
      '() => { throw new Error("vault unreachable"); }',
      'async () => { throw new Error("vault unreachable"); }',
    ]) {
      const dir = folder({ 'gserve.config.mjs': `export default ${body};\n` });
      const { code, stderr } = await runGserve(['--print-config'], { cwd: dir });
      expect(code).toBe(2);
      expect(stderr).toMatch(/gserve\.config\.mjs exports a function that failed: vault unreachable\./);
      expect(stderr).not.toMatch(/internal error|at default/);
    }
    const nothing = await runGserve(['--print-config'], {
      cwd: folder({ 'gserve.config.mjs': 'export default () => null;\n' }),
    });
    expect(nothing.stderr).toMatch(/must export an object of settings, got null\./);
  });

  // Node exits with code 0 and no word when nothing is left to run: a container would count that a success.
  it('a HUP to a config whose log file cannot be opened is refused as the start would be, and the workers stay', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("ok");\n');
    const config = join(dir, 'gserve.config.cjs');
    writeFileSync(config, 'module.exports = { accessLogfile: "access.log" };\n');
    const g = await startGserve(['app.mjs'], { cwd: dir });
    const before = [...g.workerPids];
    writeFileSync(join(dir, 'a-file'), '');
    writeFileSync(config, 'module.exports = { accessLogfile: "a-file/access.log" };\n');
    g.signal('SIGHUP');
    await g.waitForLog(
      /^Reload failed, keeping the running settings and workers: Cannot open --access-logfile a-file\/access\.log/,
    );
    expect((await get(g.url)).body).toBe('ok');
    expect([...g.workerPids]).toEqual(before);
  });

  it('a config that calls process.exit() while loading: the start is refused (exit 2), a HUP keeps the server', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end("ok");\n');
    const secret = join(dir, 'secret.txt');
    // The common guard: stop when a secret is missing.
    const config =
      'const fs = require("node:fs");\n' +
      `if (!fs.existsSync(${JSON.stringify(secret)})) { console.error("secret.txt missing"); process.exit(0); }\n` +
      'module.exports = { workers: 1 };\n';
    writeFileSync(join(dir, 'gserve.config.cjs'), config);
    const refused = await runGserve(['app.mjs', '--check-config'], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /gserve\.config\.cjs called process\.exit\(0\) while loading; .* Throw an Error instead/,
    );
    writeFileSync(secret, 'x');
    const g = await startGserve(['app.mjs'], { cwd: dir });
    const before = [...g.workerPids];
    rmSync(secret);
    g.signal('SIGHUP');
    await g.waitForLog(
      /^Reload failed, keeping the running settings and workers: .*called process\.exit\(0\) while loading/,
    );
    expect((await get(g.url)).body).toBe('ok');
    expect([...g.workerPids]).toEqual(before);
    // From a timer while the load awaits: no exit either (a throw there would crash the master).
    writeFileSync(
      join(dir, 'gserve.config.cjs'),
      'module.exports = async () => { setTimeout(() => process.exit(3), 10); ' +
        'await new Promise((r) => setTimeout(r, 200)); return { workers: 1 }; };\n',
    );
    g.signal('SIGHUP');
    await g.waitForLog(
      /^Reload failed, keeping the running settings and workers: .*called process\.exit\(3\) while loading/,
    );
    expect((await get(g.url)).body).toBe('ok');
    // Its own exits are gserve's: TERM still stops it, with code 0.
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  });

  it('a HUP after the config file was deleted or emptied keeps its settings instead of resetting them', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end(process.env.TAG ?? "none");\n');
    const config = join(dir, 'gserve.config.json');
    writeFileSync(config, JSON.stringify({ workers: 2, env: ['TAG=set'] }));
    const g = await startGserve(['app.mjs'], { cwd: dir });
    const before = [...g.workerPids];
    writeFileSync(config, '');
    g.signal('SIGHUP');
    await g.waitForLog(
      /^Reload failed, keeping the running settings and workers: The config file .*gserve\.config\.json is gone or empty; /,
    );
    rmSync(config);
    g.signal('SIGHUP');
    await g.waitForLog(
      /^Reload failed, keeping the running settings and workers: The config file .*gserve\.config\.json is gone or empty; .* Restore it/,
      { count: 2 },
    );
    expect((await get(g.url)).body).toBe('set');
    expect([...g.workerPids]).toEqual(before);
  });

  it("a HUP sees the edits of the project's CommonJS files that the config requires", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.mjs'), 'export const app = (req, res) => res.end(process.env.TAG ?? "none");\n');
    writeFileSync(join(dir, 'base.cjs'), 'module.exports = { tag: "one" };\n');
    writeFileSync(
      join(dir, 'gserve.config.cjs'),
      'const base = require("./base.cjs");\nmodule.exports = { env: ["TAG=" + base.tag] };\n',
    );
    const g = await startGserve(['app.mjs'], { cwd: dir });
    expect((await get(g.url)).body).toBe('one');
    writeFileSync(join(dir, 'base.cjs'), 'module.exports = { tag: "two" };\n');
    g.signal('SIGHUP');
    await g.waitForLog(/^Reloaded: generation/);
    // The old worker may take a last connection while it stops: the new one answers from then on.
    await pollUntil(async () => (await get(g.url)).body === 'two', 'the reloaded config to be served');
  });

  it('odd configs get one line naming the problem: a throwing getter, a thrown non-Error, NaN; a JSON BOM loads', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        'export default { get workers() { throw new Error("vault down"); } };',
        /failed while its settings were read: Error: vault down\. Fix the getter/,
      ],
      ['throw undefined;', /failed while loading: it threw undefined\. Fix the code/],
      ['export default { workers: NaN };', /expected an integer .*, got NaN\./],
    ];
    for (const [text, message] of cases) {
      const { code, stderr } = await runGserve(['--print-config'], { cwd: folder({ 'gserve.config.mjs': text }) });
      expect(code, text).toBe(2);
      expect(stderr, text).toMatch(message);
      expect(stderr.trim().split('\n'), text).toHaveLength(1);
    }
    const bom = await runGserve(['--print-config'], { cwd: folder({ 'gserve.config.json': '\uFEFF{"workers": 3}' }) });
    expect(bom.stdout).toMatch(/^workers +=\s+3 /m);
  });

  it('a config whose top-level await never settles ends the start with one line and exit 2, not a silent 0', async () => {
    const dir = folder({ 'gserve.config.mjs': 'await new Promise(() => {});\nexport default { workers: 1 };\n' });
    const { code, stderr } = await runGserve(['app:app'], { cwd: dir });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^gserve: error: Start-up stopped: the config file \(or a module it imports\) awaits a promise .* \[GSERVE_E_STALLED\]$/,
      ),
    ]);
  });

  it('so does an onStarting hook that never settles (exit 2), and an app loaded by --check-config (exit 4)', async () => {
    const hook = folder({ 'gserve.config.mjs': 'export default { onStarting: () => new Promise(() => {}) };\n' });
    const stalledHook = await runGserve(['app:app'], { cwd: hook });
    expect(stalledHook.code).toBe(2);
    expect(stalledHook.stderr).toMatch(/Start-up stopped: the config file's onStarting hook awaits/);
    const app = folder({ 'package.json': '{"type": "module"}', 'app.js': 'await new Promise(() => {});\n' });
    const stalledApp = await runGserve(['--check-config', 'app.js:app'], { cwd: app });
    expect(stalledApp.code).toBe(4);
    expect(stalledApp.stderr).toMatch(/Start-up stopped: the app app\.js:app \(loaded in the master by --preload/);
  });

  it('a misspelled hook gets a "did you mean"', async () => {
    const dir = folder({ 'gserve.config.mjs': 'export default { onStart() {} };\n' });
    const { code, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(code).toBe(2);
    expect(stderr).toMatch(/Unknown setting "onStart" in config file .*\. Did you mean "onStarting"\?/);
  });
});

describe("the command line's small things", () => {
  it('an unknown option carries the gserve: prefix, exit 2', async () => {
    const { code, stderr } = await runGserve(['--no-such-flag', 'app:app'], { cwd: ROOT });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^gserve: error: unknown option '--no-such-flag'/);
  });

  it('an option whose value is missing does not take the next flag for it (no server starts), exit 2', async () => {
    const dir = folder({});
    for (const args of [
      ['--access-logfile', '--check-config', 'app:app'],
      ['-b', '-w', '2', 'app:app'],
    ]) {
      const { code, stderr } = await runGserve(args, { cwd: dir });
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(
        new RegExp(`^gserve: error: option .* argument '${args[1]}' is invalid\\. ${args[1]} is a flag`),
      );
      expect(readdirSync(dir)).toEqual([]); // no access log named --check-config
    }
  });

  it('a log file or pidfile that cannot be written stops the start with one line, exit 2, and no worker', async () => {
    // A folder that is a file: root (these tests' user) may write anywhere else.
    const dir = folder({ 'plain-file': 'not a folder\n' });
    const cases: Array<[string[], RegExp]> = [
      [
        ['--error-logfile', join(dir, 'plain-file', 'error.log')],
        /Cannot open --error-logfile .*: ENOTDIR, a part of its path is a file, not a folder\. Choose another file/,
      ],
      [
        ['--access-logfile', join(dir, 'plain-file', 'access.log')],
        /Cannot open --access-logfile .*: ENOTDIR, a part of its path is a file, not a folder\. Choose another file/,
      ],
      [['--pid', join(dir, 'no-such-folder', 'gserve.pid')], /Cannot write the pidfile .*: ENOENT\./],
    ];
    for (const [flags, message] of cases) {
      const { code, stderr, g } = await runGserve([...flags, 'examples/hello/app.js'], { cwd: ROOT });
      expect(code, stderr).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr).not.toMatch(/internal error|\n\s+at /);
      expect(g.workerPids.size).toBe(0);
    }
  });
});

describe('several config files in one folder', () => {
  it('says which one is read and which are ignored, and --print-config names the file in use', async () => {
    const dir = folder({
      'package.json': '{"name":"app","gserve":{"workers":3}}',
      'gserve.config.js': 'module.exports = { workers: 5 };\n',
      '.gserverc.yaml': 'workers: 4\n',
    });
    const { code, stdout, stderr } = await runGserve(['--print-config'], { cwd: dir });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^workers +=\s+3 +# config file .*package\.json/m);
    expect(stdout).toMatch(/^config +=\s+".*\/package\.json" +# found by the search/m);
    expect(stderr).toContain(
      `gserve: warning: Several config files in one folder: using ${join(dir, 'package.json')} (its "gserve" key), ` +
        `and ignoring ${join(dir, 'gserve.config.js')}, ${join(dir, '.gserverc.yaml')}. Keep one, or name it with -c.`,
    );

    // Named with -c, the choice is the user's: no warning.
    const named = await runGserve(['-c', 'gserve.config.js', '--print-config'], { cwd: dir });
    expect(named.stdout).toMatch(/^workers +=\s+5 /m);
    expect(named.stderr).not.toContain('Several config files');
  });
});

describe('a config file that does not finish loading', () => {
  it('is named on stderr after 5 s, and still read once something writes it (a named pipe)', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'settings.json');
    execFileSync('mkfifo', [fifo]);
    const g = await startGserve(['-c', fifo, join(ROOT, 'test/fixtures/apps/node-pid.js')], { workers: 0 });
    await pollUntil(
      () => /config file .*settings\.json has not finished loading after 5 s: a named pipe/.test(g.stderr),
      'the warning on stderr',
    );
    expect(g.lines.some((l) => /^Booting worker/.test(l.msg))).toBe(false);
    await writeFile(fifo, JSON.stringify({ workers: 1 }));
    await g.waitForWorkers(1);
    expect((await get(`${g.url}/`)).status).toBe(200);
  });

  it('made a named pipe after start, refuses the HUP and lets the master stop (reading it would hold the master for ever)', async () => {
    const dir = tempDir();
    const file = join(dir, 'gserve.json');
    writeFileSync(file, JSON.stringify({ workers: 1 }));
    const g = await startGserve(['-c', file, join(ROOT, 'test/fixtures/apps/node-pid.js')]);
    rmSync(file);
    execFileSync('mkfifo', [file]);
    g.signal('SIGHUP');
    await g.waitForLog(/^Reload failed, keeping the running settings and workers: the config file .* is a named pipe/);
    expect((await get(`${g.url}/`)).status).toBe(200);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  });
});
