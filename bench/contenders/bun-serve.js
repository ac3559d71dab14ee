// Bun's own server with the same fetch app: bun bun-serve.js PORT PROCESSES
// The first process starts PROCESSES children that each listen with reusePort, so the kernel balances, as
// gserve's workers share one listener. Runs under Bun only (Bun.serve, Bun.spawn).
import { app } from './apps/fetch-app.js';

const [port, processes = '2', role] = process.argv.slice(2);

if (role === 'child') {
  Bun.serve({ hostname: '127.0.0.1', port: Number(port), reusePort: true, fetch: (request) => app.fetch(request) });
} else {
  const children = Array.from({ length: Number(processes) }, () =>
    Bun.spawn([process.execPath, import.meta.path, port, processes, 'child'], { stdout: 'inherit', stderr: 'inherit' }),
  );
  const stop = () => {
    for (const child of children) child.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
