// The peers from outside Node, each run as its users deploy it: Python servers from Debian's packages, and Bun (from
// the registry's `bun` package) as the ceiling for JavaScript. Each label says how the peer ran and which version;
// a peer that could not run in its best configuration says so in its label or is skipped with the reason.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSync, which } from '../lib/proc.js';
import { startServer } from './server.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const APPS = join(HERE, 'apps');
const ROOT = resolve(HERE, '../..');
const PYTHON = '/usr/bin/python3';

/** The Debian packages every Python peer needs; `npm run bench` installs them when it runs as root (bench/lib/setup.js). */
export const DEBIAN_PEERS = [
  'gunicorn',
  'uvicorn',
  'python3-uvloop',
  'python3-httptools',
  'uwsgi',
  'uwsgi-plugin-python3',
  'python3-hypercorn',
  'python3-waitress',
  'python3-cherrypy3',
];

const memo = new Map();
// Remembers answers, but not "not installed": `npm run bench` may install it a moment later (bench/lib/setup.js).
const once = (key, fn) => {
  if (memo.has(key)) return memo.get(key);
  const value = fn();
  if (value !== null) memo.set(key, value);
  return value;
};

/** The version dpkg has for a package, or null when it is not installed. */
export const debVersion = (pkg) =>
  once(`deb:${pkg}`, () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not a template
    const r = runSync('dpkg-query', ['-W', '-f=${Status} ${Version}', pkg]);
    const m = /install ok installed (\S+)/.exec(r.stdout);
    return m ? m[1].replace(/^\d+:/, '').replace(/-[^-]*$/, '') : null;
  });

/** Null when python3 imports every module, else the reason, naming the Debian packages to install. */
function pythonImports(modules, packages) {
  if (!existsSync(PYTHON)) return 'python3 is not installed';
  const r = runSync(PYTHON, ['-c', `import ${modules.join(', ')}`]);
  return r.code === 0 ? null : `python3 cannot import ${modules.join(', ')}: apt-get install ${packages.join(' ')}`;
}

const needsTool = (path, pkg) => (existsSync(path) ? null : `${path} is not installed: apt-get install ${pkg}`);
const first = (...reasons) => reasons.find((r) => r) ?? null;

// WORKERS processes (or threads) per server, as every other contender runs.
const WORKERS = 2;

function python({ id, label, cmd, args, procs, unavailable }) {
  return {
    id,
    get label() {
      return label();
    },
    unavailable,
    start: ({ port }) =>
      startServer({ label: label(), cmd, args: args(port, WORKERS), port, cwd: APPS, expectProcs: procs(WORKERS) }),
  };
}

// Uvicorn with `--loop uvloop --http httptools` refuses to start without them, so a row that runs is on the fast path.
const uvicornFast = python({
  id: 'uvicorn-fast',
  label: () => `Uvicorn ${debVersion('uvicorn')} --workers 2 --loop uvloop --http httptools`,
  cmd: '/usr/bin/uvicorn',
  args: (port, workers) => [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--workers',
    String(workers),
    '--loop',
    'uvloop',
    '--http',
    'httptools',
    '--no-access-log',
    '--log-level',
    'warning',
    'asgi_app:app',
  ],
  procs: (workers) => workers + 1,
  unavailable: () =>
    first(
      needsTool('/usr/bin/uvicorn', 'uvicorn'),
      pythonImports(['uvloop', 'httptools'], ['python3-uvloop', 'python3-httptools']),
    ),
});

// Gunicorn's process management with Uvicorn's worker; the worker picks uvloop and httptools when they import.
const gunicornUvicorn = python({
  id: 'gunicorn-uvicorn',
  label: () => `Gunicorn ${debVersion('gunicorn')} -k uvicorn.workers.UvicornWorker -w 2 (uvloop + httptools)`,
  cmd: '/usr/bin/gunicorn',
  args: (port, workers) => [
    '-b',
    `127.0.0.1:${port}`,
    '-w',
    String(workers),
    '-k',
    'uvicorn.workers.UvicornWorker',
    '--log-level',
    'warning',
    'asgi_app:app',
  ],
  procs: (workers) => workers + 1,
  unavailable: () =>
    first(
      needsTool('/usr/bin/gunicorn', 'gunicorn'),
      pythonImports(['uvicorn.workers', 'uvloop', 'httptools'], ['uvicorn', 'python3-uvloop', 'python3-httptools']),
    ),
});

// uWSGI's HTTP/1.1 socket (keep-alive), its python3 plugin, and its master process.
function uwsgi(id, how, extra) {
  return python({
    id,
    label: () => `uWSGI ${debVersion('uwsgi')} --http11-socket, --processes 2${how}`,
    cmd: '/usr/bin/uwsgi',
    args: (port, workers) => [
      ...['--plugin', 'python3', '--http11-socket', `127.0.0.1:${port}`, '--master', '--processes', String(workers)],
      ...[
        '--wsgi-file',
        'wsgi_app.py',
        '--callable',
        'app',
        '--disable-logging',
        '--die-on-term',
        '--need-app',
        '--listen',
        '1024',
        ...extra,
      ],
    ],
    procs: (workers) => workers + 1,
    unavailable: () =>
      first(
        needsTool('/usr/bin/uwsgi', 'uwsgi'),
        needsTool('/usr/lib/uwsgi/plugins/python3_plugin.so', 'uwsgi-plugin-python3'),
      ),
  });
}

const hypercorn = python({
  id: 'hypercorn',
  label: () => `Hypercorn ${debVersion('python3-hypercorn')} -w 2 -k uvloop`,
  cmd: PYTHON,
  args: (port, workers) => [
    '-m',
    'hypercorn',
    '-b',
    `127.0.0.1:${port}`,
    '-w',
    String(workers),
    '-k',
    'uvloop',
    'asgi_app:app',
  ],
  procs: (workers) => workers + 1,
  unavailable: () => pythonImports(['hypercorn', 'uvloop'], ['python3-hypercorn', 'python3-uvloop']),
});

// The thread-pool servers of the seed: one process each, by design, with as many threads as gserve's
// `-w 2 --threads 2` has app threads.
const THREADS = 4;
const waitress = python({
  id: 'waitress',
  label: () => `Waitress ${debVersion('python3-waitress')}, 1 process, ${THREADS} threads`,
  cmd: PYTHON,
  args: (port) => ['-m', 'waitress', `--listen=127.0.0.1:${port}`, `--threads=${THREADS}`, 'wsgi_app:app'],
  procs: () => 1,
  unavailable: () => pythonImports(['waitress'], ['python3-waitress']),
});

const cherrypy = python({
  id: 'cherrypy',
  label: () => `CherryPy ${debVersion('python3-cherrypy3')} WSGI server (cheroot), 1 process, ${THREADS} threads`,
  cmd: PYTHON,
  args: (port) => [join(APPS, 'cheroot_serve.py'), String(port), String(THREADS)],
  procs: () => 1,
  unavailable: () => pythonImports(['cheroot.wsgi'], ['python3-cherrypy3']),
});

/** Where `npm run bench` keeps what it installs from the registry (Bun, Node 24): out of the project's dependencies. */
export const CACHE = join(ROOT, 'node_modules/.cache/gserve-bench');

/** Bun's binary: on PATH, or installed from the registry's `bun` package into the cache (its binary ships inside). */
export function bunBinary({ install = false } = {}) {
  const cached = join(CACHE, 'bun/node_modules/.bin/bun');
  if (existsSync(cached)) return cached;
  const onPath = which('bun');
  if (onPath) return onPath;
  if (!install) return null;
  mkdirSync(join(CACHE, 'bun'), { recursive: true });
  runSync('npm', ['install', '--prefix', join(CACHE, 'bun'), '--no-save', '--no-audit', '--no-fund', 'bun@1'], {
    timeout: 300_000,
  });
  return existsSync(cached) ? cached : null;
}

const bunVersion = () => once('bun', () => runSync(bunBinary(), ['--version']).stdout.trim());

// Bun.serve with the same fetch app, 2 processes on one port (reusePort): the ceiling for JavaScript, not a contender.
const bun = {
  id: 'bun',
  get label() {
    return `Bun ${bunBinary() ? bunVersion() : ''} Bun.serve, ${WORKERS} processes (reusePort): the JavaScript ceiling`.replace(
      '  ',
      ' ',
    );
  },
  unavailable: () =>
    bunBinary({ install: true }) ? null : 'Bun could not be installed from the registry: npm install bun',
  start({ port }) {
    return startServer({
      label: this.label,
      cmd: bunBinary(),
      args: [join(HERE, 'bun-serve.js'), String(port), String(WORKERS)],
      port,
      expectProcs: WORKERS + 1,
    });
  },
};

export const PEERS = [
  uvicornFast,
  gunicornUvicorn,
  uwsgi('uwsgi-prefork', '', []),
  uwsgi('uwsgi-threads', ' --threads 2', ['--threads', '2', '--enable-threads']),
  hypercorn,
  waitress,
  cherrypy,
  bun,
];
