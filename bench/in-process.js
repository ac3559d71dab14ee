#!/usr/bin/env node
// What gserve's own engine and each gateway adapter cost per request with no syscall in the way: the engine serves
// keep-alive hello requests on an in-memory socket, one after the other, in this process. `node` is the node:http
// path (gserve's checks and a worker's counters around node:http) and `node-plain` node:http alone with the same
// handler: their difference is what gserve adds to a `(req, res)` app, which wall-clock runs cannot resolve here.
//   node bench/in-process.js [fetch|hono|asgi|wsgi|node|node-plain ...]     (default: all; `npm run build` first)
// Prints, per interface, the fastest and the median of 10 batches of 50,000 requests, in µs per request. The figures
// are the JavaScript alone (parsing, the adapter, the app, serialising the answer): what a worker adds to the read(2)
// and write(2) that node:http makes too. Compare interfaces within one run; the machine's noise moves them together.
import { createServer } from 'node:http';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const APPS = fileURLToPath(new URL('./contenders/apps/', import.meta.url));
const BATCHES = 10;
/** GSERVE_IN_PROCESS_BATCH: smaller batches, for the test that runs this script. */
const BATCH = Number(process.env.GSERVE_IN_PROCESS_BATCH) || 50_000;

const { HttpEngine } = await import(`${DIST}http/engine.js`);
const { DEFAULT_LIMITS } = await import(`${DIST}http/limits.js`);
const { WorkerRuntime } = await import(`${DIST}interfaces/runtime.js`);
const gateway = await import(`${DIST}interfaces/gateway.js`);
const { installFastGlobals } = await import(`${DIST}interfaces/fetch-globals.js`);
const { NodeProtocolServer } = await import(`${DIST}http/node-server.js`);
const { WorkerStats } = await import(`${DIST}worker/stats.js`);
const apps = await import(`${APPS}gateway-apps.js`);
const { handler: nodeHandler } = await import(`${APPS}handler.js`);

/** The server's end of an in-memory connection; each write the engine makes settles the request in flight. */
function memorySocket() {
  let answered = null;
  const settle = (done) => {
    done();
    const settled = answered;
    answered = null;
    settled?.();
  };
  const socket = new Duplex({
    allowHalfOpen: true,
    read() {},
    write: (_chunk, _encoding, done) => settle(done),
    writev: (_chunks, done) => settle(done),
  });
  const peer = { remoteAddress: '127.0.0.1', remotePort: 50000, localAddress: '127.0.0.1', localPort: 8000 };
  return Object.assign(socket, peer, {
    setNoDelay: () => socket,
    /** As on a net.Socket: gserve's node path compares it with the head's length. */
    bytesRead: 0,
    /** Sends one request; resolves once the answer is written. */
    request(bytes) {
      const written = new Promise((resolve) => (answered = resolve));
      socket.bytesRead += bytes.length;
      socket.push(bytes);
      return written;
    },
  });
}

const runtime = new WorkerRuntime({
  healthPath: null,
  forwardedAllowIps: ['127.0.0.1', '::1'],
  forwardedHeaders: 'x-forwarded',
  wsMaxSize: 1 << 20,
  wsPingInterval: 20,
  wsPingTimeout: 20,
  wsPerMessageDeflate: false,
  wsgiSpoolSize: 1 << 20,
  workers: 2,
  workerClass: 'async',
  overrideGlobalObjects: true,
});
installFastGlobals(); // as a worker does with --override-global-objects on (the default)

async function hosted(kind) {
  if (kind === 'asgi') return { kind: 'asgi', app: apps.asgi, state: {} };
  if (kind === 'wsgi') return { kind: 'wsgi', app: apps.wsgi };
  const { app } = await import(`${APPS}${kind === 'hono' ? 'hono-app.js' : 'fetch-app.js'}`);
  return { kind: 'fetch', fetch: app.fetch.bind(app), websocket: null, app };
}

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n', 'latin1');

// No keep-alive cap: the one connection serves every request.
const limits = { ...DEFAULT_LIMITS, maxKeepaliveRequests: 0 };

/** A server of `kind` that has taken `socket`. */
async function serverFor(kind, socket) {
  if (kind === 'node-plain') {
    const server = createServer({ keepAliveTimeout: 60_000 }, nodeHandler);
    server.maxRequestsPerSocket = 0;
    return void server.emit('connection', socket);
  }
  if (kind === 'node') {
    const server = new NodeProtocolServer(nodeHandler, { keepAliveTimeout: 60_000, limits, onError: console.error });
    // A worker counts every response for its control socket and metrics (worker/stats.ts).
    const stats = new WorkerStats(null, true);
    stats.observe(server);
    server.on('response', () => {});
    process.on('exit', () => stats.stop());
    return void server.accept(socket);
  }
  const app = await hosted(kind);
  await gateway.prepareGateway(app);
  const handler = gateway.engineHandlerFor(
    runtime,
    app,
    (err) => console.error(err),
    () => {},
  );
  new HttpEngine(handler, { keepAliveTimeout: 60_000, limits, scheme: 'http' }).accept(socket);
}

async function measure(kind) {
  const socket = memorySocket();
  await serverFor(kind, socket);
  const serve = async (n) => {
    for (let i = 0; i < n; i++) await socket.request(REQUEST);
  };
  await serve(BATCH); // warm-up: the JIT settles
  const perRequest = [];
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint();
    await serve(BATCH);
    perRequest.push(Number(process.hrtime.bigint() - start) / BATCH / 1000);
  }
  socket.destroy();
  perRequest.sort((a, b) => a - b);
  return { fastest: perRequest[0], median: perRequest[BATCHES >> 1] };
}

const ALL = ['fetch', 'hono', 'asgi', 'wsgi', 'node', 'node-plain'];
const kinds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
console.log(`in-process, Node ${process.version}: µs per keep-alive hello request, ${BATCHES} batches of ${BATCH}`);
for (const kind of kinds) {
  const { fastest, median } = await measure(kind);
  console.log(`${kind.padEnd(10)} fastest ${fastest.toFixed(2)}  median ${median.toFixed(2)}`);
}
