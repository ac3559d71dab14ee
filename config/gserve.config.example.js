// An example gserve config file. Copy it to your project as gserve.config.js (or .mjs/.cjs), or
// point gserve at it with `gserve -c path/to/file`. Every setting is listed in docs/settings.md;
// the command line and GSERVE_* variables override what is set here.
export default {
  // The app: MODULE[:ATTR], as on the command line.
  app: 'examples/hello/app:app',

  // Where to listen. Several addresses are allowed.
  bind: ['127.0.0.1:8000'],

  // Worker processes.
  workers: 2,

  // A worker silent for this many seconds is killed and replaced (0 disables).
  timeout: 30,

  // How long in-flight requests may take after a graceful stop begins.
  gracefulTimeout: 30,

  // Idle keep-alive time between requests, in seconds.
  keepAlive: 2,

  logLevel: 'info',

  // Proxies in front whose Forwarded / X-Forwarded-* headers are believed (see docs/security.md).
  forwardedAllowIps: ['127.0.0.1', '::1'],

  // TLS and HTTP/2, when gserve faces clients itself:
  // certfile: '/etc/ssl/app/fullchain.pem',
  // keyfile: '/etc/ssl/app/privkey.pem',
  // http2: true,
};
