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
import { rmSync } from 'node:fs';
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
