import { parentPort, threadId, workerData } from 'node:worker_threads';
import { AppLoadError, appErrorFields, describeError } from '../errors.js';
import type { EngineHandler } from '../http/engine.js';
import type { HostedApp } from '../interfaces/detect.js';
import { createLineLogger } from '../log/line-logger.js';
import { protocolOptions } from './async.js';
import { engineHandlerFor } from '../interfaces/gateway.js';
import { WorkerRuntime } from '../interfaces/runtime.js';
import type { Lifespan } from '../interfaces/lifespan.js';
import { AppShutdown } from './app-shutdown.js';
import { logRequestFailure, protocolFor, startHostedApp } from './hosted.js';
import { PeerSocket, ThreadRequest, ThreadResponse, type Post } from './thread-exchange.js';
import {
  decodeToThread,
  encodeFromThread,
  endsExchange,
  type FromThread,
  type ToThread,
  type FromThreadWire,
  type ToThreadWire,
} from './thread-messages.js';
import { startHeartbeat } from '../supervision/heartbeat.js';
import { logUnhandledRejections } from '../supervision/unhandled.js';
import { ExchangeSocket, ReplayConnections, ReplayedRequest, Tunnel, nodeServerFor } from './thread-replay.js';
import { threadBoot } from './boot.js';
import { takeCompileCacheEnv } from '../compile-cache.js';
import { engineExchange, engineSocket } from './stand-ins.js';
import { workerLogOptions } from './worker-log.js';
import { ClaimCells } from './thread-claim.js';
import { Outbox } from './thread-outbox.js';
import { settleWithin } from '../supervision/settle-within.js';

/**
 * One app thread of a `thread` worker. It loads its own instance of the app and serves the requests
 * the main thread parsed: a gateway app (fetch, wsgi, asgi) gets them through the same adapter the
 * engine uses, in request and response objects built from messages; a `(req, res)` app gets them
 * through node:http on an in-memory socket. Upgraded connections are byte tunnels.
 */
takeCompileCacheEnv();
const boot = threadBoot(workerData);
const port = parentPort!;
const settings = boot.settings;
const log = createLineLogger(workerLogOptions(settings)).logger.child({ thread: threadId });
const outbox = new Outbox<FromThreadWire>((wires, transfer) => port.postMessage(wires, transfer));
const post: Post = (message: FromThread, transfer?: ArrayBuffer[]) => outbox.add(encodeFromThread(message), transfer);

/** What the thread does with the messages about one exchange. */
interface Running {
  /** `trailers`: with `end`, the fields after a chunked request body. */
  receive(chunk: Uint8Array | undefined, end: boolean, trailers?: string[]): void;
  abort(refused: boolean): void;
  credit(bytes: number): void;
}

/** An exchange whose `serve` has not returned yet. */
const STARTING: Running = { receive() {}, abort() {}, credit() {} };

const reportError = (err: unknown, what: string) => log.error(appErrorFields(err), `Error in ${what}`);
const shutdownLog = { info: (m: string) => log.info(m), error: (m: string) => log.error(m) };

/**
 * Why a body stopped short when gserve refused the rest of it: the app's read fails with it, and it
 * is not logged again.
 */
function refusal(): Error {
  const err = new Error('The request body was refused');
  err.name = 'Rejection';
  return err;
}

async function main(): Promise<void> {
  let app: HostedApp;
  // Each thread is its own module world: its runtime, ASGI lifespan and app shutdown are its own.
  const runtime = new WorkerRuntime(settings);
  const appShutdown = new AppShutdown();
  appShutdown.holdSignalListeners();
  let lifespan: Lifespan | null = null;
  try {
    ({ app, lifespan } = await startHostedApp(settings, boot.cwd, appShutdown, shutdownLog));
  } catch (err) {
    const code = err instanceof AppLoadError ? err.code : 'GSERVE_E_APP_LOAD';
    post({
      t: 'load-error',
      code,
      message: err instanceof AppLoadError ? err.message : `Failed to load the app in a thread: ${describeError(err)}`,
    });
    outbox.flush();
    process.exit(1);
  }
  const hosted = app;
  const nodeServer =
    hosted.kind === 'node'
      ? nodeServerFor(runtime, hosted, reportError, (err, req) => logRequestFailure(log, err, req))
      : null;
  const connections = nodeServer ? new ReplayConnections(nodeServer) : null;
  const handler: EngineHandler | null =
    hosted.kind === 'node' ? null : engineHandlerFor(runtime, hosted, reportError, (line) => log.error(line));
  // Upgrade requests to a gateway app: the engine in this thread answers them on a tunnel.
  const engines =
    hosted.kind === 'node'
      ? []
      : boot.schemes.map((scheme) => {
          const engine = protocolFor(hosted, protocolOptions(settings, log, scheme, runtime));
          engine.on('response', (req: { socket?: unknown; aborted?: boolean }) => {
            // A response the client cut short ends with its tunnel, which is gone already.
            if (req?.socket instanceof ExchangeSocket && !req.aborted) req.socket.onResponse?.();
          });
          return engine;
        });
  const running = new Map<number, Running>();
  /** Requests handed ahead while this thread was busy (thread-claim.ts): started in turn, unless taken back. */
  const ahead: Array<Extract<ToThread, { t: 'open' }>> = [];
  const claims = new ClaimCells(boot.claim);

  function start(m: Extract<ToThread, { t: 'open' }>): void {
    // The app may answer while `serve` runs (node:http on a kept connection does): `ended` then
    // removes the exchange before it would have been added.
    running.set(m.id, STARTING);
    const exchange = serve(m.id, m.listener, m);
    if (running.has(m.id)) running.set(m.id, exchange);
    if (m.chunk || m.end) exchange.receive(m.chunk, m.end === true);
  }

  function startAhead(): void {
    while (running.size === 0 && ahead.length > 0) {
      const m = ahead.shift()!;
      if (!claims.take(m.ahead!, m.id)) continue; // taken back by the main thread
      // The answers so far go first: this request may run long, or block this thread's loop.
      outbox.flush();
      start(m);
    }
  }

  /** The thread's part in exchange `id` is over: it is free for the next. */
  function ended(id: number): void {
    running.delete(id);
    if (running.size === 0) whenIdle?.();
    // After the app's current call returns, not inside it.
    if (ahead.length > 0) queueMicrotask(startAhead);
  }

  function serve(id: number, listener: number, m: Extract<ToThread, { t: 'open' }>): Running {
    const { head, peer } = m;
    const credit = (bytes: number) => post({ t: 'credit', id, bytes });
    if (head.upgrade) {
      const accept = nodeServer
        ? (s: ExchangeSocket) => nodeServer.emit('connection', s)
        : (s: ExchangeSocket) => engines[listener]!.accept(engineSocket(s));
      const tunnel = new Tunnel(id, head, peer, accept, (message, transfer) => {
        if (endsExchange(message)) ended(id);
        post(message, transfer);
      });
      return {
        receive: (chunk, end) => tunnel.receive(chunk, end),
        abort: () => tunnel.abort(),
        credit: (bytes) => tunnel.credit(bytes),
      };
    }
    let res: ThreadResponse;
    const req = new ThreadRequest(head, new PeerSocket(peer, () => res.abandon()), boot.schemes[listener]!, credit);
    res = new ThreadResponse(req, id, (message, transfer) => {
      if (endsExchange(message)) ended(id);
      post(message, transfer);
    });
    if (connections) {
      const replay = new ReplayedRequest(connections, head, peer, res, credit, m.end === true);
      return {
        receive: (chunk, end, trailers) => replay.receive(chunk, end, trailers),
        abort: () => replay.abort(),
        credit: (bytes) => replay.credit(bytes),
      };
    }
    const fail = (err: unknown) => {
      if (!(err instanceof Error && err.name === 'Rejection')) logRequestFailure(log, err, req);
      res.fail();
    };
    try {
      const outcome = handler!(...engineExchange(req, res));
      if (outcome && typeof outcome.then === 'function') outcome.catch(fail);
    } catch (err) {
      fail(err);
    }
    return {
      receive: (chunk, end, trailers) => req.receive(chunk, end, trailers),
      abort: (refused) => {
        if (refused) {
          req.body.destroy(refusal());
          return;
        }
        res.abandon();
        req.body.destroy();
        req.markAborted();
      },
      credit: (bytes) => res.credit(bytes),
    };
  }

  port.on('message', (wires: ToThreadWire[]) => {
    for (const wire of wires) receive(decodeToThread(wire));
  });

  let whenIdle: (() => void) | null = null;
  const idle = () => (running.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (whenIdle = resolve)));

  /** After the last request: the app's shutdown, as in a worker process (run-worker.ts), then the thread ends. */
  async function shutDown(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    await appShutdown.run(ms, shutdownLog);
    await lifespan?.shutdown(deadline - Date.now());
    // The WebSockets the app's own `upgrade` took end with its close(): their closing handshake
    // travels through the tunnels first, or the clients would see them cut (1006).
    await settleWithin(idle(), deadline - Date.now());
    outbox.flush();
    process.exit(0);
  }

  function receive(m: ToThread): void {
    if (m.t === 'shutdown') return void shutDown(m.ms);
    if (m.t === 'drain') {
      runtime.hub?.closeAll();
      for (const engine of engines) engine.drain();
      return;
    }
    if (m.t === 'open') {
      if (m.ahead === undefined) start(m);
      else {
        ahead.push(m);
        startAhead();
      }
      return;
    }
    const exchange = running.get(m.id);
    if (!exchange) return;
    if (m.t === 'body') exchange.receive(m.chunk, m.end === true, m.trailers);
    else if (m.t === 'credit') exchange.credit(m.bytes);
    else if (m.t === 'abort') {
      if (!m.refused) ended(m.id);
      exchange.abort(m.refused === true);
    }
  }
  post({ t: 'ready' });
  startHeartbeat(settings.timeout * 1000, () => post({ t: 'beat' }));
}

logUnhandledRejections(log, `Thread ${threadId}`);

void main();
