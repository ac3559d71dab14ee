import { Readable } from 'node:stream';
import { clientInfo } from '../http/proxy.js';
import type { EngineHandler, EngineRequest, EngineResponse, HeaderList } from '../http/engine.js';
import type { FetchHandler } from './detect.js';

/**
 * The absolute URL a fetch app sees; the Host header names the authority, as browsers sent it; the
 * scheme is the listener's, or a trusted proxy's X-Forwarded-Proto / Forwarded.
 */
export function requestUrl(req: EngineRequest): string {
  const host = req.header('host') ?? `${req.socket.localAddress ?? 'localhost'}:${req.socket.localPort ?? ''}`;
  const { scheme } = clientInfo(req.socket, (name) => req.header(name), req.scheme);
  return `${scheme}://${host}${req.url}`;
}

export function toWebRequest(req: EngineRequest): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const withBody = req.hasBody && req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(requestUrl(req), {
    method: req.method,
    headers,
    body: withBody ? (Readable.toWeb(req.body) as ReadableStream<Uint8Array>) : null,
    duplex: 'half',
  });
}

function headerList(headers: Headers): HeaderList {
  const out: HeaderList = [];
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') out.push([name, value]);
  });
  for (const cookie of headers.getSetCookie()) out.push(['set-cookie', cookie]);
  return out;
}

/** Writes a web Response to the engine, streaming its body with back-pressure. */
export async function sendWebResponse(response: Response, res: EngineResponse): Promise<void> {
  res.writeHead(response.status, headerList(response.headers));
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await res.drained();
      if (res.req.socket.destroyed) {
        await reader.cancel();
        break;
      }
    }
  } finally {
    reader.releaseLock();
  }
  res.end();
}

export function fetchAdapter(fetch: FetchHandler): EngineHandler {
  return async (req, res) => {
    const response = await fetch(toWebRequest(req));
    if (!(response instanceof Response)) {
      throw new TypeError(`the fetch handler returned ${response === undefined ? 'undefined' : typeof response}, not a Response`);
    }
    await sendWebResponse(response, res);
  };
}
