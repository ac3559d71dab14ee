// Every contender the harness knows: how to tell whether it can run here, and how to start it on a given port.
// Each serves the same routes (apps/routes.js) with WORKERS worker processes, so rows differ only in the server.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, lastLine, runAsync, which } from '../lib/proc.js';
import { HELLO, JSON_1K } from './apps/routes.js';
import { PEERS, debVersion } from './peers.js';
import { startServer } from './server.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '../..');
const APPS = join(HERE, 'apps');
const GSERVE = join(ROOT, 'bin/gserve');
const PM2 = join(ROOT, 'node_modules/pm2/bin/pm2');
export const WORKERS = 2;

const nodeVersion = process.versions.node.split('.').map(Number);
const nodeAtLeast = (major, minor) => nodeVersion[0] > major || (nodeVersion[0] === major && nodeVersion[1] >= minor);

function resolvable(specifier) {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

const needs = {
  gserve: () => (readable(join(ROOT, 'dist/cli/main.js')) ? null : 'gserve is not built: run `npm run build`'),
  pm2: () => (readable(PM2) ? null : 'pm2 is not installed: run `npm install` (it is a dev dependency)'),
  hono: () =>
    resolvable('@hono/node-server') && resolvable('hono')
      ? null
      : '@hono/node-server or hono is not installed: run `npm install`',
  nginx: () =>
    (which('nginx') ?? which('/usr/sbin/nginx')) ? null : 'nginx is not installed: apt-get install nginx-light',
  gunicorn: () => (which('/usr/bin/gunicorn') ? null : "Debian's gunicorn is not installed: apt-get install gunicorn"),
  uvicorn: () => (which('/usr/bin/uvicorn') ? null : "Debian's uvicorn is not installed: apt-get install uvicorn"),
};

function readable(path) {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

/** gserve with its own flags: a contender skipped (with gserve's own message) when this build refuses the flags. */
function gserve(id, label, flags, app, procs = WORKERS + 1, env = {}) {
  return {
    id,
    label,
    unavailable: needs.gserve,
    start: ({ port }) =>
      startServer({
        label,
        cmd: process.execPath,
        args: [GSERVE, '-b', `127.0.0.1:${port}`, '--log-level', 'warning', ...flags, join(APPS, app)],
        port,
        expectProcs: procs,
        env,
        timeoutMs: 15_000,
      }).then((server) =>
        Object.assign(server, {
          async reload() {
            process.kill(server.rootPid(), 'SIGHUP');
          },
        }),
      ),
  };
}

function nodeCluster(id, label, mode, kind = 'node') {
  return {
    id,
    label,
    unavailable: () => {
      if (kind === 'hono') return needs.hono();
      if (mode === 'reuseport' && !nodeAtLeast(22, 12))
        return `reusePort needs Node >= 22.12 (this is ${process.version})`;
      return null;
    },
    start: ({ port }) =>
      startServer({
        label,
        cmd: process.execPath,
        args: [join(HERE, 'node-cluster.js'), String(port), String(WORKERS), mode, kind],
        port,
        expectProcs: WORKERS + 1,
      }),
  };
}

const pm2 = {
  id: 'pm2',
  label: 'PM2 cluster mode (-i 2)',
  unavailable: needs.pm2,
  async start({ port }) {
    const home = mkdtempSync(join(tmpdir(), 'gserve-bench-pm2-'));
    const env = { PM2_HOME: home, PM2_DISCRETE_MODE: 'true' };
    const ecosystem = join(home, 'ecosystem.config.json');
    writeFileSync(
      ecosystem,
      JSON.stringify({
        apps: [
          {
            name: 'bench',
            script: join(HERE, 'pm2-worker.js'),
            instances: WORKERS,
            exec_mode: 'cluster',
            env: { BENCH_PORT: String(port) },
          },
        ],
      }),
    );
    const daemonPid = () => {
      try {
        const pid = Number(readFileSync(join(home, 'pm2.pid'), 'utf8'));
        return isAlive(pid) ? pid : 0;
      } catch {
        return 0;
      }
    };
    const server = await startServer({
      label: this.label,
      cmd: process.execPath,
      args: [PM2, 'start', ecosystem, '--silent'],
      port,
      env,
      rootPid: daemonPid, // the daemon and its instances are the server, stopped by PID like every other
      expectProcs: WORKERS + 1,
      onStop: () => rmSync(home, { recursive: true, force: true }),
    });
    return Object.assign(server, {
      async reload() {
        // `pm2 reload` restarts the instances one by one, waiting for each new one to listen.
        const r = await runAsync(process.execPath, [PM2, 'reload', 'bench'], { env: { ...process.env, ...env } });
        if (r.code !== 0) throw new Error(`pm2 reload failed: ${lastLine(r.output)}`);
      },
    });
  },
};

const nginx = {
  id: 'nginx',
  label: 'nginx `return 200` (2 workers)',
  unavailable: needs.nginx,
  async start({ port }) {
    const prefix = mkdtempSync(join(tmpdir(), 'gserve-bench-nginx-'));
    const conf = `daemon off;
master_process on;
worker_processes ${WORKERS};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location = /json { default_type application/json; return 200 '${JSON_1K}'; }
    location / { default_type text/plain; return 200 '${HELLO}'; }
  }
}
`;
    writeFileSync(join(prefix, 'nginx.conf'), conf);
    return startServer({
      label: this.label,
      cmd: which('nginx') ?? '/usr/sbin/nginx',
      args: ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')],
      port,
      expectProcs: WORKERS + 1,
      onStop: () => rmSync(prefix, { recursive: true, force: true }),
    });
  },
};

function gunicorn(id, how, flags, procs = WORKERS + 1) {
  const label = () => `Gunicorn ${debVersion('gunicorn') ?? ''} ${how}`;
  return {
    id,
    get label() {
      return label();
    },
    unavailable: needs.gunicorn,
    start: ({ port }) =>
      startServer({
        label: label(),
        cmd: '/usr/bin/gunicorn',
        args: ['-b', `127.0.0.1:${port}`, '--chdir', APPS, '--log-level', 'warning', ...flags, 'wsgi_app:app'],
        port,
        expectProcs: procs,
      }),
  };
}

// Debian's uvicorn package alone runs on h11 and asyncio; its users add uvloop and httptools (the `uvicorn-fast`
// row in peers.js). This row shows what the fast path is worth, and says it is not Uvicorn's best.
const uvicorn = {
  id: 'uvicorn',
  get label() {
    return `Uvicorn ${debVersion('uvicorn') ?? ''} --workers 2, h11 + asyncio (not its best configuration: see the uvloop + httptools row)`;
  },
  unavailable: needs.uvicorn,
  start: ({ port }) =>
    startServer({
      label: uvicorn.label,
      cmd: '/usr/bin/uvicorn',
      args: [
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        String(WORKERS),
        '--app-dir',
        APPS,
        '--no-access-log',
        '--log-level',
        'warning',
        'asgi_app:app',
      ],
      port,
      expectProcs: WORKERS + 1,
    }),
};

/** All contenders by id. Scenarios name the ones they compare; the harness skips any that cannot run here. */
export const CONTENDERS = Object.fromEntries(
  [
    gserve(
      'gserve-async-node',
      'gserve -k async, node interface',
      ['-w', String(WORKERS), '-k', 'async'],
      'handler:app',
    ),
    // The same build with gserve's node-path checks off (src/http/node-server.ts): what the hardening costs.
    gserve(
      'gserve-async-node-unhardened',
      'gserve -k async, node interface, hardening off (GSERVE_BENCH_UNHARDENED=1)',
      ['-w', String(WORKERS), '-k', 'async'],
      'handler:app',
      WORKERS + 1,
      { GSERVE_BENCH_UNHARDENED: '1' },
    ),
    gserve(
      'gserve-async-fetch',
      'gserve -k async, fetch interface (own engine)',
      ['-w', String(WORKERS), '-k', 'async'],
      'fetch-app:app',
    ),
    gserve('gserve-sync-node', 'gserve -k sync, node interface', ['-w', String(WORKERS), '-k', 'sync'], 'handler:app'),
    gserve(
      'gserve-async-asgi',
      'gserve -k async, asgi interface (own engine)',
      ['-w', String(WORKERS), '-k', 'async', '--interface', 'asgi'],
      'gateway-apps:asgi',
    ),
    gserve(
      'gserve-thread-wsgi',
      'gserve -k thread --threads 2, wsgi interface',
      ['-w', String(WORKERS), '-k', 'thread', '--threads', '2', '--interface', 'wsgi'],
      'gateway-apps:wsgi',
    ),
    gserve(
      'gserve-async-wsgi',
      'gserve -k async, wsgi interface',
      ['-w', String(WORKERS), '-k', 'async', '--interface', 'wsgi'],
      'gateway-apps:wsgi',
    ),
    gserve(
      'gserve-sync-wsgi',
      'gserve -k sync, wsgi interface',
      ['-w', String(WORKERS), '-k', 'sync', '--interface', 'wsgi'],
      'gateway-apps:wsgi',
    ),
    nodeCluster('node-cluster', 'node:cluster, round-robin (hand-written)', 'rr'),
    nodeCluster('node-cluster-reuseport', 'node:cluster, reusePort (hand-written)', 'reuseport'),
    gserve(
      'gserve-async-express',
      'gserve -k async, an Express app',
      ['-w', String(WORKERS), '-k', 'async'],
      'express-app:app',
    ),
    nodeCluster('node-cluster-express', 'node:cluster, round-robin, the same Express app', 'rr', 'express'),
    nodeCluster('hono-node-server', '@hono/node-server under node:cluster', 'rr', 'hono'),
    pm2,
    nginx,
    gunicorn('gunicorn-sync', '-k sync -w 2', ['-w', String(WORKERS), '-k', 'sync']),
    gunicorn('gunicorn-gthread', '-k gthread -w 2 --threads 2', [
      '-w',
      String(WORKERS),
      '-k',
      'gthread',
      '--threads',
      '2',
    ]),
    uvicorn,
    ...PEERS,
  ].map((c) => [c.id, c]),
);
