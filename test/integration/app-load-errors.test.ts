import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGserve, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/** An app folder (an ES module package) holding `files`. */
function project(files: Record<string, string>): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const HELLO = 'export const app = (req, res) => res.end("hi");\n';

describe('an app that fails to load points at the line', () => {
  it('a syntax error in an imported ES module: file:line:column and the line with a caret, like node', async () => {
    const dir = project({
      'app.js': 'import { helper } from "./lib/helper.js";\nexport const app = (req, res) => res.end(helper());\n',
      'lib/helper.js': 'export function helper() {\n  return String((1 + 2);\n}\n',
    });
    const { code, stderr } = await runGserve(['--check-config', 'app:app'], { cwd: dir });
    expect(code).toBe(4);
    const helper = join(dir, 'lib/helper.js');
    expect(stderr).toContain(`SyntaxError: missing ) after argument list at ${helper}:2:`);
    expect(stderr).toContain('[GSERVE_E_APP_IMPORT]');
    // The offending line, then a caret under the column that the first line names.
    const m = new RegExp(`${helper}:2:(\\d+)\\n  return String\\(\\(1 \\+ 2\\);\\n( *)\\^`).exec(stderr);
    expect(m, stderr).not.toBeNull();
    expect(m![2]!.length + 1).toBe(Number(m![1]));
    expect(stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(stderr).not.toContain('..');
  });

  it('a syntax error in an ES module of a project that names no "type" names its line too (Node 20 as 24)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.js'), 'const x = 1;\nexport const app = (req, res) => { res.end(x; };\n');
    const { code, stderr } = await runGserve(['--check-config', 'app:app'], { cwd: dir });
    expect(code).toBe(4);
    expect(stderr).toContain(`SyntaxError: missing ) after argument list at ${join(dir, 'app.js')}:2:`);
    expect(stderr).toContain('export const app = (req, res) => { res.end(x; };');
  });

  it('an ES module in a "type": "commonjs" package (npm init -y) is told to set the type or rename it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"name":"x","type":"commonjs"}');
    writeFileSync(join(dir, 'app.js'), `import http from "node:http";\n${HELLO}`);
    const { code, stderr } = await runGserve(['--check-config', 'app:app'], { cwd: dir });
    expect(code).toBe(4);
    expect(stderr).toContain(
      'It uses import/export, but its package.json makes it CommonJS (no "type": "module"; `npm init -y` writes ' +
        `"type": "commonjs"). Set "type": "module" in package.json, or rename it to ${join(dir, 'app.mjs')}.`,
    );
    expect(stderr).not.toContain('Fix the error in the app module');
  });

  it('a module without the export named, or exporting nothing, is told a fix that names what it has', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'only-default.cjs'), 'module.exports = (req, res) => res.end("hi");\n');
    writeFileSync(join(dir, 'nothing.cjs'), 'const app = (req, res) => res.end("hi");\n');
    const onlyDefault = await runGserve(['--check-config', 'only-default.cjs:app'], { cwd: dir });
    expect(onlyDefault.code).toBe(4);
    expect(onlyDefault.stderr).toContain(
      'it exports: default. Serve its default export: only-default.cjs (without a colon).',
    );
    const nothing = await runGserve(['--check-config', 'nothing.cjs'], { cwd: dir });
    expect(nothing.code).toBe(4);
    expect(nothing.stderr).toContain(
      'it exports: (nothing). Export the app: module.exports = app, export default app, or export const app.',
    );
  });

  it('a syntax error in a CommonJS app names its line too', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.cjs'), 'const x = 1;\nexports.app = (req, res) => { res.end(x; };\n');
    const { code, stderr } = await runGserve(['--check-config', 'app.cjs:app'], { cwd: dir });
    expect(code).toBe(4);
    expect(stderr).toContain(`${join(dir, 'app.cjs')}:2:`);
    expect(stderr).toContain('exports.app = (req, res) => { res.end(x; };');
  });

  it('a throw while importing names the module and the line that threw, not only the entry module', async () => {
    const dir = project({
      'app.js': 'import "./db.js";\n' + HELLO,
      'db.js': 'const url = process.env.NOPE;\nif (!url) throw new Error("DATABASE_URL is not set.");\n',
    });
    const { code, stderr } = await runGserve(['--check-config', 'app:app'], { cwd: dir });
    expect(code).toBe(4);
    expect(stderr).toContain(
      `Failed to load app module ${join(dir, 'app.js')}: DATABASE_URL is not set (thrown at ${join(dir, 'db.js')}:2:`,
    );
    expect(stderr).toContain('if (!url) throw new Error("DATABASE_URL is not set.");');
    expect(stderr).toContain('Fix the error in the app module.');
    expect(stderr).not.toContain('..'); // the app's own period is not doubled
  });

  it('an app that calls process.exit() while loading stops gserve with exit 4 and says where, on every path', async () => {
    const dir = project({
      // The common guard: print why, then exit, here with 0.
      'app.js': 'if (!process.env.NOPE) { console.error("NOPE is not set"); process.exit(0); }\n' + HELLO,
      // From a timer while a top-level await holds the load.
      'later.js': 'setTimeout(() => process.exit(1), 10);\nawait new Promise((r) => setTimeout(r, 60_000));\n' + HELLO,
    });
    const said = (app: string, code: number, line: number) =>
      `The app ${app}:app called process.exit(${code}) while loading (at ${join(dir, `${app}.js`)}:${line}); ` +
      'its own output, if any, is above.';
    for (const flags of [['--check-config'], ['--preload', '-b', '127.0.0.1:0']]) {
      const { code, stderr } = await runGserve([...flags, 'app:app'], { cwd: dir });
      expect(code).toBe(4);
      expect(stderr).toContain('NOPE is not set');
      expect(stderr).toContain(said('app', 0, 1));
      expect(stderr).not.toContain('Config OK');
    }
    const later = await runGserve(['--check-config', 'later:app'], { cwd: dir });
    expect(later.code).toBe(4);
    expect(later.stderr).toContain(said('later', 1, 1));
    // Booted by the master: the worker's exit halts gserve instead of being booted again and again.
    for (const workerClass of ['async', 'thread']) {
      const g = await startGserve(['-k', workerClass, 'app:app'], { cwd: dir, workers: 0 });
      expect((await g.exited).code).toBe(4);
      expect(g.lines.map((l) => l.msg)).toContain('Shutting down: Master (reason: the app failed to load)');
      expect(g.lines.some((l) => l.level === 50 && l.msg.startsWith(said('app', 0, 1)))).toBe(true);
    }
  });

  it('an app that keeps or wraps process.exit while loading exits with it later, and stops promptly', async () => {
    const dir = project({
      // An APM agent's flush before exit, and a reference taken at import: both outlive the load.
      'app.js':
        'const original = process.exit;\n' +
        'process.exit = (code) => { console.error(`flushing before exit ${code}`); return original.call(process, code); };\n' +
        'const { exit } = process;\n' +
        'export const app = (req, res) => { res.end("bye"); setTimeout(() => exit(5), 10); };\n',
    });
    // A worker that hung in its stop would hold the TERM below for the whole graceful timeout.
    const g = await startGserve(['-w', '1', '--graceful-timeout', '600', 'app:app'], { cwd: dir });
    const first = [...g.workerPids][0]!;
    expect((await get(g.url)).body).toBe('bye');
    await g.waitForLog(new RegExp(`^Worker \\(pid: ${first}\\) exited with code 5$`));
    await g.waitForWorkers(2);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  }, 60_000);

  it('the workers report the same location when the master boots them', async () => {
    const dir = project({ 'app.js': 'export const app = (req, res) => {\n  res.end("x"\n};\n' });
    const g = await startGserve(['app:app'], { cwd: dir, workers: 0 });
    const { code } = await g.exited;
    expect(code).toBe(4);
    await new Promise((r) => (g.child.stderr!.readableEnded ? r(null) : g.child.stderr!.once('end', r)));
    // The master's last words: one line with the location.
    const last = g.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(
      new RegExp(
        `^gserve: error: Failed to load app module .*SyntaxError: ` +
          `missing \\) after argument list at ${join(dir, 'app.js')}:2:\\d+\\. ` +
          `Fix the error in the app module\\.$`,
      ),
    );
    // The worker's log line shows the source line and the caret under it.
    const shown = g.lines.find((l) => l.level === 50 && l.msg.includes('  res.end("x"\n'));
    expect(shown?.msg).toMatch(/app\.js:2:\d+\n {2}res\.end\("x"\n +\^$/);
    expect(g.lines.map((l) => l.msg)).toContain('Shutting down: Master (reason: the app failed to load)');
  });
});

describe('TypeScript apps', () => {
  it('load where Node strips types; elsewhere one line says what to do', async () => {
    const dir = project({
      'app.ts': 'export const app = (req: unknown, res: { end(s: string): void }): void => res.end("typed");\n',
    });
    const { code, stdout, stderr } = await runGserve(['--check-config', 'app.ts:app'], { cwd: dir });
    if ((process.features as { typescript?: unknown }).typescript) {
      expect(code, stderr).toBe(0);
      expect(stdout).toContain('loads as a node app');
    } else {
      expect(code).toBe(4);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(
        /cannot load TypeScript .*app\.ts.*Node 22\.18\+.*--import tsx.*\[GSERVE_E_APP_TYPESCRIPT\]/,
      );
    }
  });

  it.runIf((process.features as { typescript?: unknown }).typescript === 'strip')(
    'an enum, which stripping types cannot run, is told the flag that transforms them',
    async () => {
      const dir = project({
        'app.ts':
          'enum Greeting { Hi = "hi" }\nexport const app = (req: unknown, res: { end(s: string): void }) => res.end(Greeting.Hi);\n',
      });
      const { code, stderr } = await runGserve(['--check-config', 'app.ts:app'], { cwd: dir });
      expect(code).toBe(4);
      expect(stderr).toMatch(
        /TypeScript enum is not supported in strip-only mode.*NODE_OPTIONS=--experimental-transform-types/,
      );
    },
  );
});
