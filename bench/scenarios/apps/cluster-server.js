// The baseline: a hand-written node:cluster server running the same app, with the same number of
// workers, on Node's default scheduling (round-robin from the primary on Linux).
// Usage: node cluster-server.js WORKERS MODULE:ATTR   (prints "Listening at: http://127.0.0.1:PORT")
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const [workers, spec] = process.argv.slice(2);
const [file, attr = 'app'] = spec.split(':');

if (cluster.isPrimary) {
  const listening = new Promise((resolve) => cluster.on('listening', (_w, address) => resolve(address.port)));
  for (let i = 0; i < Number(workers); i++) cluster.fork({ BENCH_PORT: '0' });
  cluster.on('listening', () => process.stderr.write('worker listening\n'));
  listening.then((port) => process.stderr.write(`Listening at: http://127.0.0.1:${port}\n`));
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  });
} else {
  const mod = await import(pathToFileURL(file).href);
  createServer(mod[attr]).listen(0, '127.0.0.1');
}
