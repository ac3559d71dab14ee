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

// Node's builtins loaded with require(), not `import`: an ES module import of a builtin makes its
// ES facade, which reads every export, and some exports are lazy getters that load much more. On
// Node 24, `import { STATUS_CODES } from 'node:http'` loads undici for http's WebSocket getter:
// 90 ms for a script that does only that, against 45 ms for one that requires it; node:fs's stream
// classes cost 3.5 ms the same way. A master and a worker each paid them on the way to their first
// fork and first accept. node:module stays imported: it gives createRequire. Every form rolldown
// writes is handled; lazy-imports.test.ts checks that no process imports a builtin but node:module.
const BUILTIN_IMPORT =
  /^import (?:(?:\*\s+as\s+)?([\w$]+)(?:,\s*)?)?(?:\{([^}]*)\})? from "(node:(?!module")[\w/]+)";$/gm;
const REQUIRE =
  'import { createRequire as __gserveCreateRequire } from "node:module";\nconst __gserveRequire = __gserveCreateRequire(import.meta.url);\n';

function requireBuiltins(code) {
  return code
    .replace(BUILTIN_IMPORT, (_, whole, names, id) => {
      const required = `__gserveRequire("${id}")`;
      const destructured = names ? `{${names.replaceAll(/\s+as\s+/g, ': ')}}` : null;
      if (whole && destructured) return `const ${whole} = ${required};\nconst ${destructured} = ${whole};`;
      return `const ${whole ?? destructured} = ${required};`;
    })
    .replace(/^import "node:(?!module")[\w/]+";\n/gm, ''); // left by tree-shaking: a builtin has no side effects to keep
}

for (const folder of ['cli', 'worker']) {
  for (const name of readdirSync(join('dist/bundle', folder)).filter((f) => f.endsWith('.js'))) {
    const file = join('dist/bundle', folder, name);
    const code = readFileSync(file, 'utf8');
    const rewritten = requireBuiltins(code);
    if (rewritten !== code) writeFileSync(file, REQUIRE + rewritten);
  }
}
