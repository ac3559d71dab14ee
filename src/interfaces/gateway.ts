import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { isCatchable } from '../http/app-values.js';
import type { EngineHandler } from '../http/engine.js';
import type { ProtocolServer } from '../http/protocol-server.js';
import type { HostedApp } from './detect.js';
import type { WorkerRuntime } from './runtime.js';
import type { WebSocketHub } from './websocket.js';

/**
 * A cache of modules: the adapters and `ws`, loaded by prepareGateway() for the app's interface
 * only. A node app never loads the fetch adapter (which brings undici, through the WHATWG globals)
 * nor the others, and `ws` is loaded only where a WebSocket can be served. No settings live here.
 */
const loaded: {
  fetch?: typeof import('./fetch.js');
  asgi?: typeof import('./asgi.js');
  wsgi?: typeof import('./wsgi.js');
  websocket?: typeof import('./websocket.js');
} = {};

/** Loads what `app` needs; before engineHandlerFor() and attachNodeUpgrade(). */
export async function prepareGateway(app: HostedApp): Promise<void> {
  if (app.kind === 'fetch') loaded.fetch ??= await import('./fetch.js');
  if (app.kind === 'asgi') loaded.asgi ??= await import('./asgi.js');
  if (app.kind === 'wsgi') loaded.wsgi ??= await import('./wsgi.js');
  const webSocket =
    app.kind === 'asgi' || (app.kind === 'fetch' && app.websocket) || (app.kind === 'node' && app.websocket);
  if (webSocket) loaded.websocket ??= await import('./websocket.js');
}

function need<K extends keyof typeof loaded>(name: K): NonNullable<(typeof loaded)[K]> {
  const module = loaded[name];
  if (!module) throw new Error(`internal: the ${name} module was not loaded (prepareGateway() first)`);
  return module;
}

/**
 * What the worker needs to host a gateway app: the engine handler for fetch/wsgi/asgi apps, the
 * WebSocket hub (one per worker: one set of open sockets to close at a graceful stop) and the
 * upgrade hook for node apps. The settings and the hub are the worker's runtime's (runtime.ts).
 */
function hubOf(runtime: WorkerRuntime): WebSocketHub {
  const { settings } = runtime;
  runtime.hub ??= new (need('websocket').WebSocketHub)({
    maxPayload: settings.wsMaxSize,
    pingInterval: settings.wsPingInterval * 1000,
    pingTimeout: settings.wsPingTimeout * 1000,
    perMessageDeflate: settings.wsPerMessageDeflate,
  });
  return runtime.hub;
}

export type ErrorReporter = (err: unknown, what: string) => void;

/** The engine handler for a gateway app (every kind but `node`). */
export function engineHandlerFor(
  runtime: WorkerRuntime,
  app: Exclude<HostedApp, { kind: 'node' }>,
  onError: ErrorReporter,
  onWsgiErrors: (line: string) => void,
): EngineHandler {
  const { settings } = runtime;
  switch (app.kind) {
    case 'fetch':
      return need('fetch').fetchAdapter(app, runtime, {
        hub: app.websocket && runtime.webSocketCapable ? hubOf(runtime) : null,
        onError,
      });
    case 'asgi':
      return need('asgi').asgiAdapter(app, runtime, { hub: runtime.webSocketCapable ? hubOf(runtime) : null, onError });
    case 'wsgi':
      return need('wsgi').wsgiAdapter(app, runtime, {
        spoolSize: settings.wsgiSpoolSize,
        multithread: settings.workerClass === 'thread',
        multiprocess: settings.workers > 1,
        errors: onWsgiErrors,
      });
  }
}

/** At a graceful stop (the protocol's 'draining' event), open WebSockets are closed with 1001. */
export function closeWebSocketsOnDrain(runtime: WorkerRuntime, protocol: ProtocolServer): void {
  protocol.on('draining', () => runtime.hub?.closeAll());
}

/**
 * WebSocket for node apps, on node:http's 'upgrade' event: the app's own `upgrade(req, socket, head)`
 * export, else its `websocket` handlers through `ws`. Without either, upgrade requests are refused.
 * `takenByApp`: told of each socket the app's own `upgrade` takes over.
 */
export function attachNodeUpgrade(
  runtime: WorkerRuntime,
  server: Server,
  app: Extract<HostedApp, { kind: 'node' }>,
  onError: ErrorReporter,
  takenByApp?: (socket: Duplex) => void,
): void {
  const { upgrade, websocket } = app;
  if ((!upgrade && !websocket) || !runtime.webSocketCapable) return;
  // WebSocket handlers take WebSocket upgrades only: any other (`Upgrade: h2c`, which `curl --http2`
  // sends) is served as a plain request, as on gserve's engine, where node:http lets the server say
  // so (Node 24.9+; before, ws refuses it with 400).
  if (!upgrade) Object.assign(server, { shouldUpgradeCallback: isWebSocketUpgrade });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      if (upgrade) {
        takenByApp?.(socket);
        const out = upgrade(req, socket, head);
        if (isCatchable(out)) out.catch((err) => onError(err, `upgrade ${req.url}`));
        return;
      }
      void hubOf(runtime)
        .accept(req, socket, head)
        .then(
          (ws) =>
            ws &&
            need('websocket').runNodeHandlers(ws, req, websocket!, (err) =>
              onError(err, `WebSocket handler for ${req.url}`),
            ),
        );
    } catch (err) {
      onError(err, `upgrade ${req.url}`);
      socket.destroy();
    }
  });
}

const isWebSocketUpgrade = (req: IncomingMessage): boolean =>
  /(?:^|,)\s*websocket\s*(?:,|$)/i.test(req.headers.upgrade ?? '');
