import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deployApp } from '../helpers/deploy.js';
import { ROOT, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

/**
 * examples/deploy/nginx/gserve.conf, run for real: nginx on 127.0.0.1 proxying to gserve on a Unix
 * socket. Only the socket path and the listen address are rewritten for the test.
 */
const probe = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
const unavailable = probe.error ? `nginx is not installed (apt-get install nginx-light)` : null;
if (unavailable) console.warn(`nginx.test.ts skipped: ${unavailable}`);

const EXAMPLE = join(ROOT, 'examples/deploy/nginx/gserve.conf');
let nginx: ChildProcess | null = null;
let nginxLog = () => '';

afterEach(async () => {
  const pid = nginx?.pid;
  nginx = null;
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await waitForExit(pid);
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port (nginx has started). */
async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nginx did not open port ${port}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startNginx(socketPath: string): Promise<number> {
  const dir = tempDir();
  const port = await freePort();
  const site = readFileSync(EXAMPLE, 'utf8')
    .replaceAll('unix:/run/gserve/gserve.sock', `unix:${socketPath}`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  expect(site).toContain(`unix:${socketPath}`);
  writeFileSync(join(dir, 'gserve.conf'), site);
  // A minimal main config around the example: no daemon, one process, every path in the temp dir.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/gserve.conf;
}
`,
  );
  let output = '';
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  nginx = child;
  const log = () => {
    let errors = '';
    try {
      errors = readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      // not written yet
    }
    return output + errors;
  };
  nginxLog = log;
  await waitForPort(port, child, log);
  return port;
}

describe.skipIf(unavailable !== null)('nginx in front of gserve on a Unix socket (examples/deploy/nginx)', () => {
  it.each(['node', 'fetch'] as const)('proxies to a %s app, which sees the forwarded client address and scheme', async (kind) => {
    const socketPath = join(tempDir(), 'gserve.sock');
    await startGserve(['--bind', `unix:${socketPath}`, '--health-path', '/healthz', deployApp(kind)]);
    const port = await startNginx(socketPath);

    const r = await get(`http://127.0.0.1:${port}/through/nginx?x=1`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(r.status, nginxLog()).toBe(200);
    const seen = JSON.parse(r.body);
    expect(seen.path).toBe('/through/nginx?x=1');
    // nginx appends the address it saw (this test, on 127.0.0.1) to what the client sent.
    expect(seen.forwardedFor).toBe('203.0.113.7, 127.0.0.1');
    expect(seen.forwardedProto).toBe('http');
    expect(seen.host).toBe('127.0.0.1');

    const health = await get(`http://127.0.0.1:${port}/healthz`);
    expect(health).toMatchObject({ status: 200, body: 'ok\n' });
  });
});
