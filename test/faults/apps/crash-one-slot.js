// One slot crashes, the other is healthy: the worker that creates $LOCK_DIR/healthy serves (and
// frees the claim when it exits); every worker that boots while the claim is held exits 100 ms
// after boot, a crash loop in its slot.
import { openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const claim = join(process.env.LOCK_DIR, 'healthy');
let healthy = false;
try {
  closeSync(openSync(claim, 'wx'));
  healthy = true;
  process.on('exit', () => rmSync(claim, { force: true }));
} catch {
  setTimeout(() => process.exit(7), 100);
}
export const app = (req, res) => {
  res.setHeader('x-worker-pid', String(process.pid));
  res.end(healthy ? 'healthy\n' : 'crasher\n');
};
