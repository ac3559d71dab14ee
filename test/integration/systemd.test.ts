import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deployApp, getWith } from '../helpers/deploy.js';
import { BIN, Gserve, ROOT, tempDir } from '../helpers/gserve.js';
import { missing } from '../helpers/needs.js';

/**
 * examples/deploy/systemd, run with systemd-socket-activate (Debian's systemd package): it owns
 * the socket and starts the unit's ExecStart command on the first connection, like systemd.
 */

const unitValue = (file: string, key: string) => {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(join(ROOT, 'examples/deploy/systemd', file), 'utf8'));
  if (!m) throw new Error(`${key} not found in ${file}`);
  return m[1]!;
};

const started: Gserve[] = [];
afterEach(async () => {
  for (const g of started.splice(0)) await g.stop();
});

const getOverSocket = (socketPath: string, path: string) => getWith({ socketPath, path });

describe.skipIf(missing('systemd-socket-activate'))('systemd socket activation (examples/deploy/systemd)', () => {
  it('starts gserve with the unit command line on the first connection, which waits and is served', async () => {
    expect(unitValue('gserve.socket', 'ListenStream')).toBe('/run/gserve/gserve.sock');
    const socketPath = join(tempDir(), 'gserve.sock');
    const [, ...args] = unitValue('gserve.service', 'ExecStart').split(' ');
    expect(args.pop()).toBe('app:app');
    const child = spawn(
      'systemd-socket-activate',
      // It passes on no variable it is not told to: the suite's compile cache folder (test/global-setup.ts)
      // keeps gserve from writing to os.tmpdir()'s.
      ['-l', socketPath, '-E', 'NODE_COMPILE_CACHE', process.execPath, BIN, ...args, deployApp('node')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const g = new Gserve(child);
    started.push(g);
    await g.until(() => g.stderr.includes(`Listening on ${socketPath}`), 'the activated socket');

    // gserve is not running yet: this connection waits in the socket's backlog while it boots.
    const first = await getOverSocket(socketPath, '/first');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).path).toBe('/first');
    // gserve found the socket through LISTEN_FDS: file descriptor 3.
    expect(g.lines.some((l) => l.msg.startsWith('Listening at: systemd fd 3') && l.msg.endsWith(`(${g.pid})`))).toBe(
      true,
    );
    expect(await getOverSocket(socketPath, '/healthz')).toEqual({ status: 200, body: 'ok\n' });

    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  });
});
