// `node bundle.js` (npm run build, after tsc): the code that runs in the master, the workers and the
// app threads, bundled with rolldown: a master or a worker then loads a few files instead of about 75 ES modules each, which is
// most of its start-up time and several MB of its memory (docs/benchmarks.md, startup).
//
// Each of the three entries is bundled on its own, into one file holding everything it imports
// statically: a master and a worker each load their entry and the one or two lazy chunks they use,
// never chunks shared with the others' code: each file costs Node 20's ES module loader time on the
// way to a server's first answer. No object crosses from one entry's code to another's (they run in
// other processes or threads), so the copies of a module in two bundles never meet.
//
// Every chunk sits one folder deep under dist/bundle/ (cli/ or worker/), as every module does under
// dist/, so the paths the code finds from import.meta.url still hold: the master forks
// ../worker/main.js, the thread pool starts ./thread-runner.js.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'rolldown';

// The last build's chunks must not linger beside this one's.
rmSync('dist/bundle', { recursive: true, force: true });

const ENTRIES = [
  // Named after the module each lazy import loads (worker/http2.js), no hash: the tests and a
  // profile can tell what a process loaded. The app threads' chunks bear their entry's name.
  { entry: 'cli/main', chunks: 'cli/[name].js' },
  { entry: 'worker/main', chunks: 'worker/[name].js' },
  { entry: 'worker/thread-runner', chunks: 'worker/thread-runner-[name].js' },
];

for (const { entry, chunks } of ENTRIES) {
  await build({
    input: { [entry]: `dist/${entry}.js` },
    platform: 'node',
    // Packages (and node: builtins) load from node_modules as they are.
    external: (id) => /^[^./]/.test(id),
    // The entry itself may export what its lazy chunks import from it: no separate chunk for that.
    preserveEntrySignatures: 'allow-extension',
    // The master loads the config-file module at start anyway; an app's loader imports it lazily,
    // which matters in the worker's bundle only.
    checks: { ineffectiveDynamicImport: false },
    output: { dir: 'dist/bundle', format: 'esm', entryFileNames: '[name].js', chunkFileNames: chunks },
  });
}

// node:fs loaded with require(), not `import`: an ES module import of a builtin makes its ES facade,
// which reads every export, and node:fs's stream classes are lazy getters that then load node's
// stream modules. That cost each master and worker about 3.5 ms of their start on Node 24, before
// the first fork and before the first accept (measured on an entry that imports readFileSync alone:
// 37.5 ms against 34.0 ms for the same entry requiring it). Only named imports are written here.
const FS_IMPORT = /^import \{([^}]*)\} from "node:fs";$/gm;
const REQUIRE =
  'import { createRequire as __gserveCreateRequire } from "node:module";\nconst __gserveRequire = __gserveCreateRequire(import.meta.url);\n';
for (const folder of ['cli', 'worker']) {
  for (const name of readdirSync(join('dist/bundle', folder)).filter((f) => f.endsWith('.js'))) {
    const file = join('dist/bundle', folder, name);
    const code = readFileSync(file, 'utf8');
    const rewritten = code
      .replace(FS_IMPORT, (_, names) => `const {${names.replaceAll(' as ', ': ')}} = __gserveRequire("node:fs");`)
      .replace(/^import "node:fs";\n/gm, ''); // left by tree-shaking; a builtin has no side effects to keep
    if (rewritten !== code) writeFileSync(file, REQUIRE + rewritten);
  }
}
