// The reference: the node:cluster server users write by hand without gserve.
//   node node-cluster.js PORT WORKERS [rr|reuseport] [node|hono|express]
// rr: the primary accepts and hands connections round-robin (Node's default on Linux).
// reuseport: every worker binds its own SO_REUSEPORT socket and the kernel balances (Node >= 22.12).
import cluster from 'node:cluster';
import { createServer } from 'node:http';

const [port, workers = '2', mode = 'rr', kind = 'node'] = process.argv.slice(2);

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  for (let i = 0; i < Number(workers); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else if (kind === 'hono') {
  const { serve } = await import('@hono/node-server');
  const { app } = await import('./apps/hono-app.js');
  serve({ fetch: app.fetch, port: Number(port), hostname: '127.0.0.1' });
} else {
  const { handler } =
    kind === 'express' ? { handler: (await import('./apps/express-app.js')).app } : await import('./apps/handler.js');
  const options =
    mode === 'reuseport'
      ? { port: Number(port), host: '127.0.0.1', reusePort: true, exclusive: true }
      : { port: Number(port), host: '127.0.0.1' };
  createServer(handler).listen(options);
}
