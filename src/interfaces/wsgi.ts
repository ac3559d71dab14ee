import type { EngineHandler, EngineRequest, EngineResponse, HeaderList } from '../http/engine.js';
import type { AppCall, HostedApp } from './detect.js';
import { errorMessage } from '../errors.js';
import { isIterable, isThenable, kindOf } from '../http/app-values.js';
import { requestClient } from '../http/proxy.js';
import type { WorkerRuntime } from './runtime.js';
import { decodePath, splitTarget } from './scope.js';
import { WsgiInput } from './wsgi-input.js';

/**
 * WSGI (PEP 3333) for JavaScript: `(environ, startResponse) => Iterable<Uint8Array | string>`,
 * called synchronously once the whole body is in (see WsgiInput). The response iterable is pulled
 * one chunk at a time and the next chunk is asked for only when the socket can take more, so a
 * generator that produces a large response is paced by the client.
 */
export type WsgiWrite = (data: Uint8Array | string) => void;
export type WsgiStartResponse = (status: string, headers: Array<[string, string]>, excInfo?: unknown) => WsgiWrite;
export type WsgiBody = Iterable<Uint8Array | string> & { close?(): void };
export type WsgiApp = (environ: Record<string, unknown>, startResponse: WsgiStartResponse) => WsgiBody;

type WsgiHosted = Extract<HostedApp, { kind: 'wsgi' }>;

export interface WsgiOptions {
  /** Bodies larger than this are spooled to a temporary file. */
  spoolSize: number;
  multithread: boolean;
  multiprocess: boolean;
  /** Where `wsgi.errors` lines go. */
  errors(line: string): void;
}

export class WsgiError extends Error {
  override name = 'WsgiError';
}

function errorsStream(sink: (line: string) => void) {
  let pending = '';
  const flush = () => {
    if (pending) sink(pending);
    pending = '';
  };
  return {
    write(text: string): void {
      pending += String(text);
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        sink(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    },
    writelines(lines: Iterable<string>): void {
      for (const line of lines) this.write(line);
    },
    flush,
  };
}

/**
 * SERVER_NAME and SERVER_PORT: the Host's name and port, the scheme's default port when Host names
 * none (RFC 3986 allows `host:` with an empty one), else the listening address (a Unix socket: its
 * path, port ''). An IPv6 name keeps its brackets from either source, as RFC 3875 §4.1.14 writes it
 * and Apache sets it: PEP 3333 rebuilds a URL as SERVER_NAME + ':' + SERVER_PORT, which a bare `::1`
 * would make unreadable. (Gunicorn names the listening socket over TCP, and on a Unix socket splits
 * Host at every ':', which makes `[` of `[::1]:8000`.) `host` has passed the engine's checks.
 */
export function serverNameAndPort(
  host: string | undefined,
  scheme: 'http' | 'https',
  [localHost, localPort]: [string, number | null],
): [name: string, port: string] {
  if (host) {
    // The port follows the last ':', once past an IPv6 literal's brackets; a reg-name or IPv4 has no other.
    const colon = host.lastIndexOf(':');
    const portAt = colon > host.lastIndexOf(']') ? colon : -1;
    const port = portAt < 0 ? '' : host.slice(portAt + 1);
    return [portAt < 0 ? host : host.slice(0, portAt), port || (scheme === 'https' ? '443' : '80')];
  }
  if (localPort === null) return [localHost, ''];
  return [localHost.includes(':') ? `[${localHost}]` : localHost, String(localPort)];
}

export function buildEnviron(
  req: EngineRequest,
  input: WsgiInput,
  opts: WsgiOptions,
  runtime: WorkerRuntime,
): Record<string, unknown> {
  const { rawPath, query } = splitTarget(req.url);
  // The client and scheme a trusted proxy tells (--forwarded-allow-ips), else the socket's.
  const client = requestClient(req, runtime.trustedPeers);
  const [serverName, serverPort] = serverNameAndPort(
    req.header('host'),
    client.scheme,
    runtime.unixPaths.serverAddress(req.socket),
  );
  const target = req.rawTarget ?? req.url;
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: req.method,
    SCRIPT_NAME: '',
    PATH_INFO: decodePath(rawPath),
    QUERY_STRING: query,
    RAW_URI: target,
    REQUEST_URI: target,
    SERVER_NAME: serverName,
    SERVER_PORT: serverPort,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    REMOTE_ADDR: client.clientAddress,
    REMOTE_PORT: client.clientAddress ? String(client.clientPort) : '',
    'wsgi.version': [1, 0],
    'wsgi.url_scheme': client.scheme,
    'wsgi.input': input,
    'wsgi.input_terminated': true,
    'wsgi.errors': errorsStream(opts.errors),
    'wsgi.multithread': opts.multithread,
    'wsgi.multiprocess': opts.multiprocess,
    'wsgi.run_once': false,
  };
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Like Gunicorn: a header name with "_" could pass for one with "-" (both become "_"), so it is dropped.
    if (name.includes('_')) continue;
    const key = name.toUpperCase().replace(/-/g, '_');
    const value = raw[i + 1]!;
    if (key === 'CONTENT_TYPE') environ.CONTENT_TYPE = value;
    else if (key === 'CONTENT_LENGTH') environ.CONTENT_LENGTH = value;
    else {
      const k = `HTTP_${key}`;
      environ[k] = k in environ ? `${environ[k]},${value}` : value;
    }
  }
  // The body is whole by now, so a chunked request gets its true length too.
  if (environ.CONTENT_LENGTH === undefined && input.length > 0) environ.CONTENT_LENGTH = String(input.length);
  return environ;
}

/**
 * "299 Custom" → 299 and its reason phrase, which goes out as the app wrote it, as Gunicorn sends
 * it (RFC 9112 §4: tabs, spaces, visible and obs-text bytes only: a CR or LF would split the head).
 */
function parseStatus(status: unknown): { code: number; reason: string } {
  const m = typeof status === 'string' ? /^(\d{3})(?: (.*))?$/s.exec(status) : null;
  if (!m) throw new WsgiError(`startResponse status must be a string like "200 OK", got ${JSON.stringify(status)}`);
  const reason = m[2] ?? '';
  if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(reason))
    throw new WsgiError(
      `startResponse status ${JSON.stringify(status)} has a character a reason phrase cannot hold (a control ` +
        'character or one past U+00FF)',
    );
  return { code: Number(m[1]), reason };
}

const isEmpty = (chunk: Uint8Array | string) =>
  typeof chunk === 'string' ? chunk.length === 0 : chunk.byteLength === 0;

/** A chunk of the body, from the iterable or given to write() (`from` says which, for the message). */
function chunkOf(value: unknown, from = 'the WSGI body yielded'): Uint8Array | string {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  throw new WsgiError(`${from} ${kindOf(value)}, not a Uint8Array or string`);
}

/**
 * startResponse's headers, as PEP 3333 has them: [name, value] pairs of strings (a number value is
 * taken as its digits, as Gunicorn's str() takes it); anything else is the app's mistake, named.
 */
function wsgiHeaders(headers: unknown): HeaderList {
  if (!Array.isArray(headers)) throw new WsgiError('startResponse headers must be an array of [name, value] pairs');
  return headers.map((pair: unknown) => {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new WsgiError(
        `startResponse headers must be [name, value] pairs, got ${typeof pair === 'string' ? JSON.stringify(pair) : kindOf(pair)}`,
      );
    const [name, value] = pair;
    if (typeof name !== 'string' || (typeof value !== 'string' && typeof value !== 'number'))
      throw new WsgiError(
        `startResponse header ${JSON.stringify(String(name))} must be a pair of strings, got ${kindOf(name)} and ${kindOf(value)}`,
      );
    return [name, String(value)];
  });
}

/**
 * PEP 3333: the server calls the iterable's close(), where it has one, however the response ended.
 * A close() that fails after the body failed is reported with the body's failure as its cause, not
 * in its place: the first failure is usually the one to fix.
 */
function closeBody(body: object, it: Iterator<unknown> | null, failure: { err: unknown } | null): void {
  // A generator has no close() but return(), which runs its `finally` (what Python's close() does):
  // left unfinished (the client went away, a write failed), the files it holds open would leak.
  const own: unknown = Reflect.get(body, 'close');
  const [target, close]: [object | null, unknown] = typeof own === 'function' ? [body, own] : [it, it?.return];
  if (target === null || typeof close !== 'function') return;
  try {
    Reflect.apply(close, target, []);
  } catch (closeErr) {
    if (!failure) throw closeErr;
    throw new WsgiError(
      `the WSGI body failed (${errorMessage(failure.err)}), and then its close() failed too (${errorMessage(closeErr)})`,
      { cause: failure.err },
    );
  }
}

/** Runs the app and writes what it returns; the iterable's close() is always called. */
async function respond(app: AppCall<WsgiApp>, environ: Record<string, unknown>, res: EngineResponse): Promise<void> {
  let head: { status: { code: number; reason: string }; headers: HeaderList } | null = null;
  /**
   * A non-empty chunk came from the iterable: for PEP 3333 the headers are sent from then on, though
   * gserve may still hold them (it looks one chunk ahead for a Content-Length). A later startResponse
   * with excInfo must re-raise, not swap the status under a chunk the app made for the old one.
   */
  let yielded = false;
  const sendHead = () => {
    if (res.headersSent || res.finished) return;
    if (!head) throw new WsgiError('the WSGI app produced a body before calling startResponse');
    res.writeHead(head.status.code, head.headers, head.status.reason);
  };
  const startResponse: WsgiStartResponse = (status, headers, excInfo) => {
    if (head && !excInfo) throw new WsgiError('startResponse called a second time without excInfo');
    if (excInfo && (res.headersSent || yielded)) throw excInfo; // too late to change the response: PEP 3333 says re-raise
    head = { status: parseStatus(status), headers: wsgiHeaders(headers) };
    return (data) => {
      const chunk = chunkOf(data, 'the WSGI write() callable was given');
      sendHead();
      res.write(chunk);
    };
  };

  const returned = app(environ, startResponse);
  // A bare string (or bytes) is one chunk: iterated, a string gives one character per chunk, each
  // sent as a chunk of its own (a 1 MB body took 6 MB on the wire and seconds of the worker's CPU).
  const body: unknown = typeof returned === 'string' || returned instanceof Uint8Array ? [returned] : returned;
  if (!isIterable(body)) {
    if (isThenable(body))
      throw new WsgiError(
        'the WSGI app returned a Promise: a WSGI app is synchronous (it returns the body). For an async app, ' +
          'export it as ASGI, `async (scope, receive, send)`, or as a fetch handler, `async (request) => Response`',
      );
    throw new WsgiError(`the WSGI app returned ${kindOf(body)}, not an iterable of Uint8Array or string`);
  }
  let failure: { err: unknown } | null = null;
  let it: Iterator<unknown> | null = null;
  try {
    it = body[Symbol.iterator]();
    const pull = (): Uint8Array | string | null => {
      for (;;) {
        const step = it!.next();
        if (step.done) return null;
        const chunk = chunkOf(step.value);
        if (isEmpty(chunk)) continue;
        yielded = true;
        return chunk;
      }
    };
    const first = pull();
    const second = first === null ? null : pull();
    if (second === null && !res.headersSent) {
      // The whole body in hand (the common case, e.g. a one-element array): sent with Content-Length.
      sendHead();
      res.end(first ?? undefined);
      return;
    }
    sendHead();
    const pulled = [first, second].filter((c) => c !== null);
    for (let chunk = pulled.shift() ?? pull(); chunk !== null; chunk = pulled.shift() ?? pull()) {
      if (res.req.aborted) return;
      if (!res.write(chunk)) await res.drained();
    }
    res.end();
  } catch (err) {
    failure = { err };
    throw err;
  } finally {
    closeBody(Object(returned), it, failure);
  }
}

export function wsgiAdapter(app: WsgiHosted, runtime: WorkerRuntime, opts: WsgiOptions): EngineHandler {
  return async (req, res) => {
    let input: WsgiInput;
    try {
      input = req.hasBody ? await WsgiInput.receive(req.body, opts.spoolSize) : WsgiInput.empty();
    } catch (err) {
      if (req.aborted) return; // the client left mid-upload: nobody to answer, nothing to log
      throw err;
    }
    try {
      if (req.aborted) return;
      await respond(app.app, buildEnviron(req, input, opts, runtime), res);
    } finally {
      if (input.spooled) await input.dispose();
    }
  };
}
