// The CPU-bound app: every request hashes for a few milliseconds on its thread.
import { createHash } from 'node:crypto';

const block = Buffer.alloc(64 * 1024, 7);
export function app(req, res) {
  const hash = createHash('sha256');
  for (let i = 0; i < 40; i++) hash.update(block);
  res.setHeader('content-type', 'text/plain');
  res.end(hash.digest('hex') + '\n');
}
