import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deployApp, getWith } from '../helpers/deploy.js';
import { ROOT, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { missing, skipping } from '../helpers/needs.js';
import { pollUntil } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';

/** The test's requests come from 127.0.0.2, so that the client's address differs from nginx's. */
const CLIENT_ADDRESS = '127.0.0.2';

const getFromClient = (url: string, headers: Record<string, string> = {}) =>
  getWith({ url, localAddress: CLIENT_ADDRESS, headers });

/**
 * examples/deploy/nginx/gserve.conf, run for real: nginx on 127.0.0.1 proxying to gserve on a Unix
 * socket. Only the socket path and the listen address are rewritten for the test.
 */
const NO_NGINX = missing('nginx');

const EXAMPLES = join(ROOT, 'examples/deploy/nginx');
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
const help = spawnSync(process.execPath, [join(ROOT, 'bin/gserve'), '--help'], { encoding: 'utf8' }).stdout;
const NO_STREAM =
  NO_NGINX ??
  skipping(
    !existsSync(STREAM_MODULE)
      ? `nginx's stream module is not installed (Debian package libnginx-mod-stream)`
      : !help.includes('--proxy-protocol')
        ? 'this gserve has no --proxy-protocol yet'
        : null,
  );
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

/** Resolves once something accepts connections on the port (nginx has started). */
async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  await pollUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${log()}`);
      return new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
    },
    () => `nginx to open port ${port}:\n${log()}`,
  );
}

/**
 * Runs nginx in the foreground, one process, every path in a temp dir, around an example file:
 * `http` examples go inside an http block, `stream` ones at the top level.
 */
async function startNginx(example: { text: string; context: 'http' | 'stream' }, port: number): Promise<void> {
  const dir = tempDir();
  writeFileSync(join(dir, 'example.conf'), example.text);
  const around =
    example.context === 'http'
      ? `http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/example.conf;
}`
      : `include ${dir}/example.conf;`;
  // load_module must come before everything else.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${example.context === 'stream' ? `load_module ${STREAM_MODULE};\n` : ''}daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
${around}
`,
  );
  let output = '';
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
}

describe.skipIf(NO_NGINX)('nginx in front of gserve (examples/deploy/nginx)', () => {
  it.each(['node', 'fetch'] as const)(
    'proxies to a %s app on a Unix socket, which sees the forwarded client address and scheme',
    async (kind) => {
      const socketPath = join(tempDir(), 'gserve.sock');
      await startGserve(['--bind', `unix:${socketPath}`, '--health-path', '/healthz', deployApp(kind)]);
      const port = await freePort();
      // The example unchanged; only the socket path and the listen address change.
      const text = readFileSync(join(EXAMPLES, 'gserve.conf'), 'utf8')
        .replaceAll('unix:/run/gserve/gserve.sock', `unix:${socketPath}`)
        .replace(/listen 80;/, `listen 127.0.0.1:${port};`);
      expect(text).toContain(`server unix:${socketPath}`);
      await startNginx({ text, context: 'http' }, port);

      const r = await getFromClient(`http://127.0.0.1:${port}/through/nginx?x=1`, {
        'x-forwarded-for': '203.0.113.7',
        forwarded: 'for=6.6.6.6;proto=https',
      });
      expect(r.status, nginxLog()).toBe(200);
      const seen = JSON.parse(r.body);
      expect(seen.path).toBe('/through/nginx?x=1');
      // nginx appends the client's address to what the client sent.
      expect(seen.forwardedFor).toBe(`203.0.113.7, ${CLIENT_ADDRESS}`);
      expect(seen.forwardedProto).toBe('http');
      // The client's own Forwarded never reaches gserve, which would otherwise take it from nginx.
      expect(seen.forwarded).toBeNull();
      expect(seen.host).toBe('127.0.0.1');

      expect(await getFromClient(`http://127.0.0.1:${port}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    },
  );
});

describe.skipIf(NO_STREAM)(
  'nginx as a TCP proxy speaking the PROXY protocol (examples/deploy/nginx/gserve-stream.conf)',
  () => {
    it('passes the client address to gserve --proxy-protocol', async () => {
      const g = await startGserve(['--proxy-protocol', '--forwarded-allow-ips', '127.0.0.1', deployApp('node')]);
      const port = await freePort();
      const text = readFileSync(join(EXAMPLES, 'gserve-stream.conf'), 'utf8')
        .replace('server 127.0.0.1:8001;', `server 127.0.0.1:${g.port};`)
        .replace(/listen 8000;/, `listen 127.0.0.1:${port};`);
      expect(text).toContain(`server 127.0.0.1:${g.port};`);
      await startNginx({ text, context: 'stream' }, port);

      const r = await getFromClient(`http://127.0.0.1:${port}/via/proxy-protocol`);
      expect(r.status, nginxLog()).toBe(200);
      const seen = JSON.parse(r.body);
      expect(seen.path).toBe('/via/proxy-protocol');
      // The TCP peer is nginx on 127.0.0.1; the PROXY header names the real client.
      expect(seen.remoteAddress).toBe(CLIENT_ADDRESS);
    });
  },
);
