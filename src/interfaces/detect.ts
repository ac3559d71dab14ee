import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppLoadError } from '../errors.js';
import type { AsgiApp } from './asgi.js';
import { describeValue } from './load.js';
import type { BunWebSocketHandlers, NodeWebSocketHandlers } from './websocket.js';
import type { WsgiApp } from './wsgi.js';

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;
export type NodeUpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;
export type FetchHandler = (
  request: Request,
  server?: unknown,
) => Response | undefined | void | Promise<Response | undefined | void>;

/**
 * An app's function the way gserve holds it: called with the interface's arguments, and whatever it
 * returns is checked where it is used (a Response, an iterable, a promise), never taken on trust.
 */
export type AppCall<F> = F extends (...args: infer A) => unknown ? (...args: A) => unknown : never;

export type HostedApp =
  | { kind: 'node'; listener: NodeListener; upgrade?: NodeUpgradeHandler; websocket?: NodeWebSocketHandlers }
  | { kind: 'fetch'; fetch: AppCall<FetchHandler>; target: unknown; websocket?: BunWebSocketHandlers }
  | { kind: 'wsgi'; app: AppCall<WsgiApp> }
  /** `state` is filled by the lifespan startup and shallow-copied into every request scope. */
  | { kind: 'asgi'; app: AppCall<AsgiApp>; state: Record<string, unknown> };

export type InterfaceChoice = 'auto' | HostedApp['kind'];

type AnyFn = (...args: unknown[]) => unknown;
const isFn = (v: unknown): v is AnyFn => typeof v === 'function';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** WebSocket handlers: an object whose hooks are functions where present (each is called only if there). */
const hooksOf = (v: unknown, hooks: readonly string[]): v is Record<string, unknown> =>
  isObject(v) && hooks.every((hook) => v[hook] === undefined || v[hook] === null || isFn(v[hook]));
const isNodeHandlers = (v: unknown): v is NodeWebSocketHandlers => hooksOf(v, ['open', 'message', 'close', 'error']);
const isBunHandlers = (v: unknown): v is BunWebSocketHandlers =>
  hooksOf(v, ['open', 'message', 'close', 'ping', 'pong', 'drain']);
const AsyncFunction = (async () => {}).constructor;

/**
 * The name of a function's first declared parameter, read from its source; null when it has none
 * or it is destructured.
 */
export function firstParameterName(fn: AnyFn): string | null {
  const source = Function.prototype.toString.call(fn);
  const m =
    /^(?:async\s*)?(?:function\s*)?\*?\s*[\w$]*\s*\(\s*([\w$]+)/.exec(source) ??
    /^(?:async\s+)?([\w$]+)\s*=>/.exec(source);
  return m ? m[1]! : null;
}

/** Optional WebSocket hooks of a node app: on the app value itself, else exported by its module. */
function nodeExtras(
  value: unknown,
  exports: Record<string, unknown>,
): Pick<Extract<HostedApp, { kind: 'node' }>, 'upgrade' | 'websocket'> {
  const from = (key: string): unknown =>
    (isObject(value) || isFn(value) ? Reflect.get(value, key) : undefined) ?? exports[key];
  const upgrade = from('upgrade');
  const websocket = from('websocket');
  return {
    upgrade: isFn(upgrade) ? upgrade : undefined,
    websocket: isNodeHandlers(websocket) ? websocket : undefined,
  };
}

function asNode(value: unknown, exports: Record<string, unknown>): HostedApp | null {
  if (isFn(value)) return { kind: 'node', listener: value, ...nodeExtras(value, exports) };
  // Koa: the app object itself, whose callback() is the (req, res) listener.
  if (isObject(value) && isFn(value.callback)) {
    const listener = value.callback();
    if (isFn(listener)) return { kind: 'node', listener, ...nodeExtras(value, exports) };
  }
  return null;
}

function asFetch(value: unknown, exports: Record<string, unknown>): HostedApp | null {
  // Bun's convention: `export default { fetch, websocket }`; a handler function may export `websocket` beside it.
  const websocketOf = (v: unknown) => {
    const ws = (isObject(v) ? v.websocket : undefined) ?? exports.websocket;
    return isBunHandlers(ws) ? ws : undefined;
  };
  if (isFn(value)) return { kind: 'fetch', fetch: value, target: undefined, websocket: websocketOf(undefined) };
  if (isObject(value) && isFn(value.fetch))
    return { kind: 'fetch', fetch: value.fetch.bind(value), target: value, websocket: websocketOf(value) };
  return null;
}

const asWsgi = (value: unknown): HostedApp | null => (isFn(value) ? { kind: 'wsgi', app: value } : null);
const asAsgi = (value: unknown): HostedApp | null => (isFn(value) ? { kind: 'asgi', app: value, state: {} } : null);

/** `--interface auto` for a function: the rules in docs/interfaces.md, in order. */
function detectFunction(value: AnyFn, exports: Record<string, unknown>): HostedApp | null {
  const first = firstParameterName(value);
  if (first === 'environ') return asWsgi(value);
  if (first === 'scope') return asAsgi(value);
  if (value instanceof AsyncFunction && value.length === 3) return asAsgi(value);
  if (value.length >= 2) return asNode(value, exports);
  if (value.length === 1) return asFetch(value, exports);
  return null;
}

/**
 * Tells which interface an app speaks. `--interface auto`, in order: an object with a `fetch`
 * method is `fetch` (Hono, itty-router); an object with a `callback` method is a Koa app (`node`);
 * a function whose first parameter is named `environ` is `wsgi`; one whose first parameter is
 * named `scope`, or an async function of three parameters, is `asgi`; a function declaring two or
 * more parameters is a `node` listener (Express declares three); a function of one parameter is a
 * `fetch` handler. Anything else needs `--interface`.
 */
export function detectInterface(
  value: unknown,
  choice: InterfaceChoice,
  where: string,
  exports: Record<string, unknown> = {},
): HostedApp {
  let hosted: HostedApp | null = null;
  if (choice === 'node') hosted = asNode(value, exports);
  else if (choice === 'fetch') hosted = asFetch(value, exports);
  else if (choice === 'wsgi') hosted = asWsgi(value);
  else if (choice === 'asgi') hosted = asAsgi(value);
  else if (isObject(value)) hosted = asFetch(value, exports) ?? asNode(value, exports);
  else if (isFn(value)) {
    hosted = detectFunction(value, exports);
    if (!hosted) {
      throw new AppLoadError(
        'GSERVE_E_INTERFACE',
        `${where} is a function that declares no parameters, so its interface cannot be told. ` +
          'If it makes the app (a factory), call it in APP with parentheses, e.g. app:create(). ' +
          'If it is the app, pass --interface node for (req, res), fetch for (request) => Response, ' +
          'wsgi for (environ, startResponse) or asgi for async (scope, receive, send).',
      );
    }
  }
  if (!hosted) {
    const wanted = {
      auto:
        'a (req, res) listener, a fetch handler, an object with a fetch method, ' +
        'a WSGI (environ, startResponse) or an ASGI async (scope, receive, send) function',
      node: 'a (req, res) listener or a Koa app',
      fetch: 'a (request) => Response function or an object with a fetch method',
      wsgi: 'a (environ, startResponse) => Iterable function',
      asgi: 'an async (scope, receive, send) function',
    }[choice];
    throw new AppLoadError(
      'GSERVE_E_NOT_AN_APP',
      `${where} is ${describeValue(value)}, not an app: expected ${wanted}.${servedHow(value)}`,
    );
  }
  return hosted;
}

/** The fix for an app object that owns its server, which a newcomer exports as it is. */
function servedHow(value: unknown): string {
  if (!isObject(value)) return '';
  if (isFn(value.routing) && isFn(value.ready))
    return (
      ' It is a Fastify instance, which owns its server: export a factory that awaits fastify.ready() and ' +
      'returns (req, res) => fastify.routing(req, res), and name it with parentheses, e.g. app:create() ' +
      '(docs/interfaces.md, Fastify).'
    );
  if (isFn(value.listen) && isFn(value.listeners) && isFn(value.close))
    return (
      ' It is a server (http.createServer): export its request listener instead, the function given to ' +
      'createServer, or let the module listen itself and export nothing.'
    );
  return '';
}
