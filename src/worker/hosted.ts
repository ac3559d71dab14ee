import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HttpEngine, type EngineRequest } from '../http/engine.js';
import { withHealthCheckEngine, withHealthCheckNode } from '../http/health.js';
import type { HttpLimits } from '../http/limits.js';
import { NodeProtocolServer } from '../http/node-server.js';
import type { ProtocolServer } from '../http/protocol.js';
import { type Rejection, rejectionLogFields } from '../http/reject.js';
import { detectInterface, type HostedApp, type InterfaceChoice } from '../interfaces/detect.js';
import { attachNodeUpgrade, closeWebSocketsOnDrain, engineHandlerFor } from '../interfaces/gateway.js';
import { loadAppValue } from '../interfaces/load.js';
import { parseAppSpec } from '../interfaces/spec.js';
import type { Logger } from '../log/logger.js';

export interface ProtocolOptions {
  keepAliveTimeout: number;
  limits: HttpLimits;
  scheme: 'http' | 'https';
  log: Logger;
}

/** Loads the app named by the APP spec and tells which interface it speaks. */
export async function loadHostedApp(
  appText: string,
  choice: InterfaceChoice,
  cwd: string,
  onLoaded?: (value: unknown, module: Record<string, unknown>) => void,
): Promise<HostedApp> {
  const spec = parseAppSpec(appText);
  const { value, file, module } = await loadAppValue(spec, cwd);
  onLoaded?.(value, module);
  return detectInterface(value, choice, `"${spec.attr ?? 'app'}" in ${file}`, module);
}

const requestLine = (method?: string, url?: string) => `${method ?? '?'} ${url ?? '?'}`;

function describe(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { err: { type: err.name, message: err.message, stack: err.stack } } : { err: String(err) };
}

/** The HTTP implementation for an app: node:http for `(req, res)` apps, gserve's engine for the rest. */
export function protocolFor(app: HostedApp, opts: ProtocolOptions): ProtocolServer {
  return logRefusals(makeProtocol(app, opts), opts.log);
}

/** Each refused request (a 4xx from the limits and checks in http/) gets one info line. */
export function logRefusals<P extends ProtocolServer>(protocol: P, log: Logger): P {
  protocol.on('rejected', (r: Rejection, socket: Socket) => log.info(rejectionLogFields(r, socket), `Refused request: ${r.status} ${r.reason}`));
  return protocol;
}

function makeProtocol(app: HostedApp, opts: ProtocolOptions): ProtocolServer {
  const reportError = (err: unknown, what: string) => opts.log.error(describe(err), `Error in ${what}`);
  if (app.kind === 'node') {
    const server = new NodeProtocolServer(withHealthCheckNode(app.listener), {
      keepAliveTimeout: opts.keepAliveTimeout,
      limits: opts.limits,
      onError: (err, req: IncomingMessage) => opts.log.error(describe(err), `Error handling request ${requestLine(req.method, req.url)}`),
    });
    attachNodeUpgrade(server.server, app, reportError);
    closeWebSocketsOnDrain(server);
    return server;
  }
  const handler = withHealthCheckEngine(engineHandlerFor(app, reportError, (line) => opts.log.error(line)));
  const engine = new HttpEngine(handler, { keepAliveTimeout: opts.keepAliveTimeout, limits: opts.limits, scheme: opts.scheme });
  engine.prependListener('handler-error', (err: unknown, req: EngineRequest) => {
    // A body cut short by a refusal (already logged) surfaces in the app as a failed read.
    if (err instanceof Error && err.name === 'Rejection') return;
    opts.log.error(describe(err), `Error handling request ${requestLine(req.method, req.url)}`);
  });
  closeWebSocketsOnDrain(engine);
  return engine;
}
