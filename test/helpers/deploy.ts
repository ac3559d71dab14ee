import { Agent, request, type IncomingMessage, type RequestOptions } from 'node:http';
import { join } from 'node:path';
import { FIXTURES } from './gserve.js';

/** The deployment fixture: `node` is a (req, res) app, `fetch` a fetch app; both have `/held`. */
export const deployApp = (kind: 'node' | 'fetch') =>
  `${join(FIXTURES, 'apps', 'deploy-app')}:${kind === 'node' ? 'app' : 'fetchApp'}`;

export interface HeldRequest {
  /** Ends the request body: the app then finishes the response. */
  release(): void;
  /** The whole response, once released. */
  done: Promise<{ status: number; body: string }>;
}

/**
 * A request the app holds open: resolves once the response head has arrived (so the request is
 * certainly in the app's hands), and completes when `release()` ends the request body.
 */
export function heldRequest(url: string): Promise<HeldRequest> {
  return new Promise((resolveHeld, reject) => {
    let body = '';
    let finish!: (r: { status: number; body: string }) => void;
    let fail!: (e: Error) => void;
    const done = new Promise<{ status: number; body: string }>((res, rej) => ((finish = res), (fail = rej)));
    done.catch(() => {});
    const req = request(
      `${url}/held`,
      { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } },
      (res: IncomingMessage) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => finish({ status: res.statusCode!, body }));
        res.on('error', fail);
        resolveHeld({ release: () => req.end('xy'), done });
      },
    );
    req.on('error', (e) => {
      reject(e);
      fail(e);
    });
    req.write('ab');
  });
}

/** GETs on one kept-alive connection, to reach a worker whose listener has already closed. */
export class KeptAliveClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly base: string) {}

  get(path: string): Promise<{ status: number; body: string; reused: boolean; headers: IncomingMessage['headers'] }> {
    return new Promise((resolve, reject) => {
      const req = request(this.base + path, { agent: this.agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, reused: req.reusedSocket, headers: res.headers }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One GET on a new connection, with raw request options (a source address, a Unix socket path). */
export function getWith(options: RequestOptions & { url?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { url, ...rest } = options;
    const req = url
      ? request(url, { agent: false, ...rest }, onResponse)
      : request({ agent: false, ...rest }, onResponse);
    function onResponse(res: IncomingMessage) {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }
    req.on('error', reject);
    req.end();
  });
}
