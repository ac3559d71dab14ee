import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppLoadError } from '../errors.js';
import { describeValue } from './load.js';

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;
export type FetchHandler = (request: Request, server?: unknown) => Response | Promise<Response>;

export type HostedApp =
  | { kind: 'node'; listener: NodeListener }
  | { kind: 'fetch'; fetch: FetchHandler; target: unknown };

export type InterfaceChoice = 'auto' | HostedApp['kind'];

type AnyFn = (...args: unknown[]) => unknown;
const isFn = (v: unknown): v is AnyFn => typeof v === 'function';

function asNode(value: unknown): HostedApp | null {
  if (isFn(value)) return { kind: 'node', listener: value as NodeListener };
  // Koa: the app object itself, whose callback() is the (req, res) listener.
  const v = value as { callback?: AnyFn } | null;
  if (v && typeof v === 'object' && isFn(v.callback)) return { kind: 'node', listener: v.callback() as NodeListener };
  return null;
}

function asFetch(value: unknown): HostedApp | null {
  if (isFn(value)) return { kind: 'fetch', fetch: value as FetchHandler, target: undefined };
  const v = value as { fetch?: AnyFn } | null;
  if (v && typeof v === 'object' && isFn(v.fetch)) return { kind: 'fetch', fetch: v.fetch.bind(v) as FetchHandler, target: v };
  return null;
}

/**
 * `--interface auto`, in order: an object with a `fetch` method is `fetch` (Hono, itty-router);
 * an object with a `callback` method is a Koa app (`node`); a function declaring two or more
 * parameters is a `node` listener (Express declares three); a function of one parameter is a
 * `fetch` handler. Anything else needs `--interface`.
 */
export function detectInterface(value: unknown, choice: InterfaceChoice, where: string): HostedApp {
  let hosted: HostedApp | null = null;
  if (choice === 'node') hosted = asNode(value);
  else if (choice === 'fetch') hosted = asFetch(value);
  else if (value && typeof value === 'object') hosted = asFetch(value) ?? asNode(value);
  else if (isFn(value) && value.length >= 2) hosted = asNode(value);
  else if (isFn(value) && value.length === 1) hosted = asFetch(value);
  else if (isFn(value)) {
    throw new AppLoadError(
      'GSERVE_E_INTERFACE',
      `${where} is a function that declares no parameters, so its interface cannot be told: pass --interface node for (req, res) or --interface fetch for (request) => Response.`,
    );
  }
  if (!hosted) {
    const wanted = choice === 'auto' ? 'a (req, res) listener, a fetch handler, or an object with a fetch method' : choice === 'node' ? 'a (req, res) listener or a Koa app' : 'a (request) => Response function or an object with a fetch method';
    throw new AppLoadError('GSERVE_E_NOT_AN_APP', `${where} is ${describeValue(value)}, not an app: expected ${wanted}.`);
  }
  return hosted;
}
