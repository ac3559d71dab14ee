// `node bundle.js` (npm run build, after tsc): the code that runs in the master, the workers and the
// app threads, bundled with rolldown: a master or a worker then loads a few files instead of about 75 ES modules each, which is
// most of its start-up time and several MB of its memory (docs/benchmarks.md, startup).
//
// Every chunk sits one folder deep under dist/bundle/ (cli/ or worker/), as every module does under
// dist/, so the paths the code finds from import.meta.url still hold: the master forks
// ../worker/main.js, the thread pool starts ./thread-runner.js.
import { build } from 'rolldown';

await build({
  input: {
    'cli/main': 'dist/cli/main.js',
    'worker/main': 'dist/worker/main.js',
    'worker/thread-runner': 'dist/worker/thread-runner.js',
  },
  platform: 'node',
  // Packages (and node: builtins) load from node_modules as they are.
  external: (id) => /^[^./]/.test(id),
  output: {
    dir: 'dist/bundle',
    format: 'esm',
    entryFileNames: '[name].js',
    // Named after the module each lazy import loads (worker/http2.js), no hash: the tests and a
    // profile can tell what a process loaded.
    chunkFileNames: 'worker/[name].js',
    // The last build's chunks must not linger beside this one's.
    cleanDir: true,
  },
});
