// `npm run bench` brings its peers: Debian's packages when it runs as root with apt-get (as on CI and the dev
// machines), else it names what is missing; each row whose peer is still missing is skipped with its reason.
import { DEBIAN_PEERS, debVersion } from '../contenders/peers.js';
import { runSync, which } from './proc.js';

const TOOLS = ['wrk', 'nginx-light', ...DEBIAN_PEERS];

export function prepareBench(log, { install = true } = {}) {
  const missing = TOOLS.filter((pkg) => !debVersion(pkg));
  if (!missing.length || !which('dpkg-query')) return;
  const root = process.getuid?.() === 0 && which('apt-get');
  if (!install || !root) {
    log(
      `bench: not installed (their rows will be skipped): ${missing.join(' ')}; apt-get install -y ${missing.join(' ')}`,
    );
    return;
  }
  log(`bench: installing ${missing.join(' ')} from Debian's packages`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  runSync('apt-get', ['update', '-qq'], { env, timeout: 600_000 });
  const r = runSync('apt-get', ['install', '-y', '-qq', ...missing], { env, timeout: 900_000 });
  if (r.code !== 0)
    log(
      `bench: apt-get install failed (${(r.stderr || r.stdout).trim().split('\n').pop()}); those rows will be skipped`,
    );
}
