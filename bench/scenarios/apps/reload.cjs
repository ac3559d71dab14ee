// The app both servers run in bench/scenarios/reload-under-load.js: gserve loads its `app` export;
// under PM2 (cluster mode) it listens itself, and stops gracefully on SIGINT as PM2's docs advise.
const http = require('node:http');

const app = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello\n');
};
exports.app = app;

if (process.env.RELOAD_BENCH_PORT) {
  const server = http
    .createServer(app)
    .listen(Number(process.env.RELOAD_BENCH_PORT), '127.0.0.1', () => process.send?.('ready'));
  process.on('SIGINT', () => server.close(() => process.exit(0)));
}
