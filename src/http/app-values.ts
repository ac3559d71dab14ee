/**
 * Run-time checks of what an app hands back (a promise, an iterable, a chunk): the app is not
 * TypeScript gserve compiled, so its values are looked at, not assumed.
 */
import { UncalledFactoryError } from '../errors.js';

/**
 * What an app's value is when it is itself an app (a function, an object with a `fetch` method or a
 * Koa app's `callback`), said for a message; null for anything else, including a ServerResponse
 * that a `(req, res) => res.end()` listener returns.
 */
export function appLike(value: unknown): string | null {
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object' || value === null) return null;
  if (typeof Reflect.get(value, 'fetch') === 'function') return 'an object with a fetch method';
  if (typeof Reflect.get(value, 'callback') === 'function') return 'a Koa app';
  return null;
}

/**
 * Settles what a `(req, res)` listener returned: a promise that rejects fails the request, and so
 * does an app returned, or resolved, in place of an answer (an uncalled factory, sync or async,
 * which would hold the client until it left), unless the listener answered anyway.
 */
export function settleListenerResult(
  result: unknown,
  res: { readonly headersSent: boolean; readonly writableEnded: boolean },
  fail: (err: unknown) => void,
): void {
  if (result === undefined) return;
  if (isThenable(result)) {
    Promise.resolve(result).then((value) => value !== undefined && settleListenerResult(value, res, fail), fail);
    return;
  }
  const returned = appLike(result);
  if (returned && !res.headersSent && !res.writableEnded)
    fail(new UncalledFactoryError(returned, 'answering the request'));
}

/** A promise or thenable whose rejection can be caught. */
export interface Catchable {
  catch(onRejected: (err: unknown) => unknown): unknown;
}

const isObject = (value: unknown): value is object =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

export const isCatchable = (value: unknown): value is Catchable =>
  isObject(value) && typeof Reflect.get(value, 'catch') === 'function';

/** A promise or any thenable. */
export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  isObject(value) && typeof Reflect.get(value, 'then') === 'function';

/** Anything `for...of` can walk (strings included). */
export const isIterable = (value: unknown): value is Iterable<unknown> =>
  Boolean(value) && typeof Reflect.get(Object(value), Symbol.iterator) === 'function';

/** What an app handed over, in an error message: `null`, `an array`, or its typeof (`number`, `object`…). */
export const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
