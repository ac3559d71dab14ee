import { Readable } from 'node:stream';
import type { CompatListener } from '../http/http2.js';
import { clientInfo } from '../http/proxy.js';
import type { HostedApp } from './detect.js';
import type { WorkerRuntime } from './runtime.js';
import { TRACE_BODY, bodyChunk, fetchServerFor, streamedHead, urlPath } from './fetch.js';

/** HTTP/2 forbids the connection-specific headers of HTTP/1.1. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/**
 * Bun's `server` argument on an HTTP/2 stream: the worker's topics like on HTTP/1.1, the client's
 * address, and `upgrade()` answering false: WebSocket is served over HTTP/1.1 only (RFC 8441 is
 * not offered), so a browser opens its WebSockets on an HTTP/1.1 connection, where it succeeds.
 */
function http2Server(runtime: WorkerRuntime) {
  const shared = fetchServerFor(runtime, null);
  const clients = new WeakMap<Request, ReturnType<typeof clientInfo>>();
  return {
    clients,
    upgrade: (_request: Request, _options?: unknown): boolean => false,
    publish: (topic: string, message: string | Uint8Array | ArrayBuffer): number => shared.publish(topic, message),
    requestIP(request: Request): { address: string; family: string; port: number } | null {
      const c = clients.get(request);
      return c?.clientAddress
        ? { address: c.clientAddress, family: c.clientAddress.includes(':') ? 'IPv6' : 'IPv4', port: c.clientPort }
        : null;
    },
  };
}

/** Runs a fetch app on node's HTTP/2 compatibility request/response pair. */
export function fetchOnCompat(app: Extract<HostedApp, { kind: 'fetch' }>, runtime: WorkerRuntime): CompatListener {
  const server = http2Server(runtime);
  return async (req, res) => {
    const headers = new Headers();
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!raw[i]!.startsWith(':')) headers.append(raw[i]!, raw[i + 1]!);
    const authority = ('authority' in req ? req.authority : undefined) || req.headers.host || 'localhost';
    const client = clientInfo(req.socket, (name) => headers.get(name) ?? undefined, 'https', runtime.trustedPeers);
    const { scheme } = client;
    const method = req.method ?? 'GET';
    if (method === 'TRACE') {
      res.writeHead(501, { 'content-type': 'text/plain; charset=utf-8' });
      return void res.end(TRACE_BODY);
    }
    const withBody = method !== 'GET' && method !== 'HEAD';
    const request = new Request(`${scheme}://${authority}${urlPath(req.url ?? '/')}`, {
      method,
      headers,
      body: withBody ? Readable.toWeb(req) : null,
      duplex: 'half',
    });
    server.clients.set(request, client);
    const response = await app.fetch(request, server);
    if (!(response instanceof Response))
      throw new TypeError(
        `the fetch handler returned ${response === undefined ? 'undefined' : typeof response}, not a Response`,
      );
    const out: Record<string, string | string[]> = {};
    const cookies: string[] = [];
    for (const [name, value] of streamedHead(response, method === 'HEAD')) {
      if (name === 'set-cookie') cookies.push(value);
      else if (!HOP_BY_HOP.has(name)) out[name] = value;
    }
    if (cookies.length) out['set-cookie'] = cookies;
    res.writeHead(response.status, out);
    if (!response.body) {
      res.end();
      return;
    }
    // Both response classes write bytes the same way; their other overloads differ.
    const body: { write(chunk: Uint8Array): boolean } = res;
    for await (const chunk of response.body) {
      if (res.destroyed) break;
      if (!body.write(bodyChunk(chunk)))
        await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
    }
    res.end();
  };
}
