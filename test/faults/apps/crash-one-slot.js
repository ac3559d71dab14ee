// One slot crashes, the others are healthy: the worker that creates $LOCK_DIR/crasher first exits
// 100 ms after boot (and frees the claim as it dies, for the next worker to boot); the others serve.
import { openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const claim = join(process.env.LOCK_DIR, 'crasher');
let crasher = false;
try {
  closeSync(openSync(claim, 'wx'));
  crasher = true;
} catch {
  // another worker is the crasher
}
if (crasher) {
  process.on('exit', () => rmSync(claim, { force: true }));
  setTimeout(() => process.exit(7), 100);
}
export const app = (req, res) => {
  res.setHeader('x-worker-pid', String(process.pid));
  res.end(crasher ? 'crasher\n' : 'healthy\n');
};
