import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineHandler } from './engine.js';

/**
 * The health path (`--health-path`), answered by gserve before the app: 200 while this worker
 * serves, 503 from the moment it is told a stop is coming. A load balancer or a Kubernetes
 * readiness probe then takes the instance out of rotation while in-flight requests finish, instead
 * of learning about the stop from refused connections.
 *
 * One per worker, held by its runtime (interfaces/runtime.ts): every listener and both HTTP
 * implementations read it.
 */
export class HealthCheck {
  private failing = false;
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

  /** The stop is coming: answer 503 from now on. Returns whether this changed anything. */
  fail(): boolean {
    if (this.failing) return false;
    this.failing = true;
    return true;
  }
}

const HEADERS = { 'content-type': 'text/plain', 'cache-control': 'no-store' };

type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Wraps a node:http listener so the health path never reaches the app. */
export function withHealthCheckNode(check: HealthCheck | null, listener: NodeListener): NodeListener {
  if (!check) return listener;
  return (req, res) => {
    if (!check.matches(req.url)) return listener(req, res);
    res.writeHead(check.status, HEADERS);
    res.end(check.body);
    return undefined;
  };
}

/** The same for a handler on gserve's own engine. */
export function withHealthCheckEngine(check: HealthCheck | null, handler: EngineHandler): EngineHandler {
  if (!check) return handler;
  const headers = Object.entries(HEADERS);
  return (req, res) => {
    if (!check.matches(req.url)) return handler(req, res);
    res.writeHead(check.status, headers).end(check.body);
  };
}
