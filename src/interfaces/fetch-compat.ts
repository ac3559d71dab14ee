import type { ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Readable } from 'node:stream';
import type { CompatListener } from '../http/http2.js';
import { clientInfo } from '../http/proxy.js';
import type { FetchHandler } from './detect.js';

/** HTTP/2 forbids the connection-specific headers of HTTP/1.1. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/** Runs a fetch app on node's request/response pair (HTTP/2, or HTTP/1.1 negotiated by ALPN). */
export function fetchOnCompat(fetch: FetchHandler): CompatListener {
  return async (req, res) => {
    const headers = new Headers();
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!raw[i]!.startsWith(':')) headers.append(raw[i]!, raw[i + 1]!);
    const authority = (req as Http2ServerRequest).authority ?? req.headers.host ?? 'localhost';
    const { scheme } = clientInfo(req.socket, (name) => headers.get(name) ?? undefined, 'https');
    const method = req.method ?? 'GET';
    const withBody = method !== 'GET' && method !== 'HEAD';
    const request = new Request(`${scheme}://${authority}${req.url}`, {
      method,
      headers,
      body: withBody ? (Readable.toWeb(req as Readable) as ReadableStream<Uint8Array>) : null,
      duplex: 'half',
    });
    const response = await fetch(request);
    if (!(response instanceof Response)) throw new TypeError(`the fetch handler returned ${response === undefined ? 'undefined' : typeof response}, not a Response`);
    const out: Record<string, string | string[]> = {};
    response.headers.forEach((value, name) => {
      if (!HOP_BY_HOP.has(name) && name !== 'set-cookie') out[name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length) out['set-cookie'] = cookies;
    res.writeHead(response.status, out);
    if (!response.body) {
      res.end();
      return;
    }
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (res.destroyed) break;
      if (!(res as ServerResponse).write(chunk)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
    }
    res.end();
  };
}
