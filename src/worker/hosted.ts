import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { AppLoadError, appErrorFields } from '../errors.js';
import type { EngineRequest } from '../http/engine.js';
import { withHealthCheckEngine, withHealthCheckNode } from '../http/health.js';
import type { HttpLimits } from '../http/limits.js';
import type { ProtocolServer } from '../http/protocol-server.js';
import { type Rejection, rejectionLogFields } from '../http/reject.js';
import { detectInterface, type HostedApp, type InterfaceChoice } from '../interfaces/detect.js';
import { attachNodeUpgrade, closeWebSocketsOnDrain, engineHandlerFor, prepareGateway } from '../interfaces/gateway.js';
import { loadAppValue } from '../interfaces/load.js';
import type { WorkerRuntime } from '../interfaces/runtime.js';
import { parseAppSpec } from '../interfaces/spec.js';
import type { Logger } from '../log/error-log.js';
import { type Lifespan, type LifespanLog, startLifespan } from '../interfaces/lifespan.js';
import { type ExitCall, refusingExit } from '../supervision/exit-while-loading.js';
import type { AppShutdown } from './app-shutdown.js';
import type { BootSettings } from './boot.js';

export interface ProtocolOptions {
  keepAliveTimeout: number;
  limits: HttpLimits;
  scheme: 'http' | 'https';
  log: Logger;
  runtime: WorkerRuntime;
  /** Whether an access log is written (NodeServerOptions.accessLog, EngineOptions.accessLog). */
  accessLog?: boolean;
}

/**
 * An app that stops itself while it loads (`if (!process.env.DB_URL) process.exit(1)`) cannot load:
 * gserve stops with exit code 4, as for a thrown error, where a worker's exit would be booted again and
 * again (and the master, under --preload or --check-config, would end with the app's code and no word).
 */
const appExit =
  (appText: string) =>
  ({ call, at }: ExitCall): AppLoadError =>
    new AppLoadError(
      'GSERVE_E_APP_EXIT',
      `The app ${appText} called ${call} while loading${at ? ` (at ${at})` : ''}; its own output, if any, ` +
        'is above. It counts as an app that cannot load: to say why, throw an Error instead, and gserve ' +
        'shows its message.',
    );

/** Loads the app named by the APP spec and tells which interface it speaks. */
export async function loadHostedApp(
  appText: string,
  choice: InterfaceChoice,
  cwd: string,
  onLoaded?: (value: unknown, module: Record<string, unknown>) => void,
): Promise<HostedApp> {
  const spec = parseAppSpec(appText);
  const { value, file, module, name } = await refusingExit(() => loadAppValue(spec, cwd), appExit(appText));
  onLoaded?.(value, module);
  // Named as it was found: a module without an `app` export was served its default export.
  const what = name === 'default' && !spec.attr ? 'the default export' : `"${name}"`;
  const app = detectInterface(value, choice, `${what} in ${file}`, module);
  await prepareProtocol(app);
  return app;
}

/**
 * Loads the app and readies its shutdown, as a worker process and each app thread do: a node or fetch
 * app's close()/shutdown() go to `appShutdown` (ASGI apps close in their lifespan shutdown; WSGI has
 * no such thing), and an ASGI lifespan startup completes before the app serves.
 */
export async function startHostedApp(
  settings: BootSettings,
  cwd: string,
  appShutdown: AppShutdown,
  log: LifespanLog,
): Promise<{ app: HostedApp; lifespan: Lifespan | null }> {
  let loaded: Parameters<AppShutdown['addApp']> = [undefined, {}];
  // The master refuses to start without an app, so `app` is always set here.
  const app = await loadHostedApp(settings.app ?? '', settings.interface, cwd, (...v) => (loaded = v));
  if (app.kind === 'node' || app.kind === 'fetch') appShutdown.addApp(...loaded);
  return { app, lifespan: await startLifespan(app, settings.lifespan, log) };
}

/**
 * The HTTP implementation and adapter for the app's interface, loaded before protocolFor() needs
 * them: node:http for a node app, gserve's engine (and its parser) for the others, never both.
 */
const protocols: { node?: typeof import('../http/node-server.js'); engine?: typeof import('../http/engine.js') } = {};

async function prepareProtocol(app: HostedApp): Promise<void> {
  if (app.kind === 'node') protocols.node ??= await import('../http/node-server.js');
  else protocols.engine ??= await import('../http/engine.js');
  await prepareGateway(app);
}

/** What logRequestFailure reads of a request, of any interface and protocol. */
interface FailedRequest {
  readonly method?: string;
  readonly url?: string;
  /** The client left (a reset or a close) before its answer was done. */
  readonly aborted?: boolean;
}

/**
 * How an app's failure to answer a request is logged, on every class and interface: an error, with
 * its stack. A failure that is only the client leaving (a read of its body aborted by its reset or
 * close) is no fault of the app, and nobody is left to answer: a debug line, as Gunicorn logs a
 * connection reset, and as WSGI apps' are (interfaces/wsgi.ts).
 */
export function logRequestFailure(log: Logger, err: unknown, req: FailedRequest): void {
  const what = `${req.method ?? '?'} ${req.url ?? '?'}`;
  if (req.aborted && isClientGone(err))
    log.debug(`Request ${what} not answered: the client left before its answer (${(err as Error).message})`);
  else log.error(appErrorFields(err), `Error handling request ${what}`);
}

/** The errors a request's body and send calls fail with once its client is gone. */
function isClientGone(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code } = err as NodeJS.ErrnoException;
  return (
    err.name === 'AbortError' || code === 'ABORT_ERR' || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE'
  );
}

/** The HTTP implementation for an app: node:http for `(req, res)` apps, gserve's engine for the rest. */
export function protocolFor(app: HostedApp, opts: ProtocolOptions): ProtocolServer {
  return logRefusals(makeProtocol(app, opts), opts.log);
}

/** Each refused request (a 4xx from the limits and checks in http/) gets one info line. */
export function logRefusals<P extends ProtocolServer>(protocol: P, log: Logger): P {
  protocol.on('rejected', (r: Rejection, socket: Socket) =>
    log.info(rejectionLogFields(r, socket), `Refused request: ${r.status} ${r.reason}`),
  );
  return protocol;
}

function makeProtocol(app: HostedApp, opts: ProtocolOptions): ProtocolServer {
  const { runtime } = opts;
  const reportError = (err: unknown, what: string) => opts.log.error(appErrorFields(err), `Error in ${what}`);
  if (app.kind === 'node') {
    protocols.node ??= missing('node-server');
    const hardened = process.env[protocols.node.UNHARDENED_ENV] !== '1';
    if (!hardened)
      opts.log.warn(`${protocols.node.UNHARDENED_ENV}=1: gserve's request checks are off (for benchmarks only)`);
    const server = new protocols.node.NodeProtocolServer(withHealthCheckNode(runtime.health, app.listener), {
      keepAliveTimeout: opts.keepAliveTimeout,
      limits: opts.limits,
      onError: (err, req: IncomingMessage) => logRequestFailure(opts.log, err, req),
      hardened,
      accessLog: opts.accessLog,
    });
    attachNodeUpgrade(runtime, server.server, app, reportError, (socket) => server.releaseToApp(socket as Socket));
    closeWebSocketsOnDrain(runtime, server);
    return server;
  }
  const handler = withHealthCheckEngine(
    runtime.health,
    engineHandlerFor(runtime, app, reportError, (line) => opts.log.error(line)),
  );
  protocols.engine ??= missing('engine');
  const engine = new protocols.engine.HttpEngine(handler, {
    keepAliveTimeout: opts.keepAliveTimeout,
    limits: opts.limits,
    scheme: opts.scheme,
    accessLog: opts.accessLog,
  });
  engine.prependListener('handler-error', (err: unknown, req: EngineRequest) => {
    // A body cut short by a refusal (already logged) surfaces in the app: a failed read.
    if (err instanceof Error && err.name === 'Rejection') return;
    logRequestFailure(opts.log, err, req);
  });
  closeWebSocketsOnDrain(runtime, engine);
  return engine;
}

function missing(name: string): never {
  throw new Error(`internal: ${name} was not loaded (loadHostedApp() loads it)`);
}
