/**
 * Run-time checks of what an app hands back (a promise, an iterable, a chunk): the app is not
 * TypeScript gserve compiled, so its values are looked at, not assumed.
 */

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
