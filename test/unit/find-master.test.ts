import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { findControlSocket } from '../../src/cli/find-master.js';
import { controlDir, defaultControlPath } from '../../src/master/control-path.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const clean of cleanups.splice(0)) clean();
  vi.restoreAllMocks();
});

function temp(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gserve-find-')));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A stand-in master: something listening on the default control socket of a master started in `folder`. */
async function listeningMaster(folder: string, env: NodeJS.ProcessEnv): Promise<string> {
  mkdirSync(controlDir(env), { recursive: true, mode: 0o700 });
  const path = defaultControlPath({ bind: ['127.0.0.1:8000'] }, folder, env);
  const server: Server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(() => server.close());
  return path;
}

describe('findControlSocket', () => {
  it('finds the master past a config file that never finishes loading, with a warning', async () => {
    const app = temp();
    writeFileSync(join(app, 'package.json'), '{"name":"app"}\n');
    // A config whose function awaits a secret store that never answers.
    writeFileSync(join(app, 'gserve.config.cjs'), 'module.exports = async () => { await new Promise(() => {}); };\n');
    const env = { XDG_RUNTIME_DIR: temp(), PWD: app };
    const socket = await listeningMaster(app, env);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    await expect(findControlSocket({}, app, env, 200)).resolves.toBe(socket);
    expect(stderr.mock.calls.map(([text]) => String(text)).join('')).toContain(
      'the config file did not finish loading within 0.2 s',
    );
  }, 10_000);
});
