import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineHandler } from './engine.js';

/**
 * The health path (`--health-path`), answered by gserve before the app: 200 while this worker
 * serves, 503 from the moment it is told a stop is coming. A load balancer or a Kubernetes
 * readiness probe then takes the instance out of rotation while in-flight requests finish, instead
 * of learning about the stop from refused connections.
 *
 * One state per worker process: every listener and both HTTP implementations read it.
 */
class HealthCheck {
  failing = false;
  constructor(readonly path: string) {}

  matches(url: string | undefined): boolean {
    if (!url?.startsWith(this.path)) return false;
    const next = url.charCodeAt(this.path.length);
    return Number.isNaN(next) || next === 0x3f /* ? */;
  }

  get status(): number {
    return this.failing ? 503 : 200;
  }

  get body(): string {
    return this.failing ? 'shutting down\n' : 'ok\n';
  }
}

const HEADERS = { 'content-type': 'text/plain', 'cache-control': 'no-store' };

let check: HealthCheck | null = null;

/** Called once at worker boot, before any listener is set up. */
export function configureHealthCheck(path: string | null): void {
  check = path ? new HealthCheck(path) : null;
}

/** The stop is coming: answer 503 from now on. Returns whether this changed anything. */
export function failHealthCheck(): boolean {
  if (!check || check.failing) return false;
  check.failing = true;
  return true;
}

/** Wraps a node:http listener so the health path never reaches the app. */
export function withHealthCheckNode<L extends (req: IncomingMessage, res: ServerResponse) => unknown>(listener: L): L {
  const hc = check;
  if (!hc) return listener;
  return ((req: IncomingMessage, res: ServerResponse) => {
    if (!hc.matches(req.url)) return listener(req, res);
    res.writeHead(hc.status, HEADERS);
    res.end(hc.body);
    return undefined;
  }) as L;
}

/** The same for a handler on gserve's own engine. */
export function withHealthCheckEngine(handler: EngineHandler): EngineHandler {
  const hc = check;
  if (!hc) return handler;
  const headers = Object.entries(HEADERS);
  return (req, res) => {
    if (!hc.matches(req.url)) return handler(req, res);
    res.writeHead(hc.status, headers).end(hc.body);
  };
}
