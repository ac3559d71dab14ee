/** Runtime checks that narrow values an app or node hands over untyped. */

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A value with a `then` method: what an app's handler or hook returns when it is async. */
export function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') && v !== null && 'then' in v && typeof v.then === 'function'
  );
}

/** `err.code` of a failed system call (ENOENT, EACCES, …), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  return isRecord(err) && typeof err.code === 'string' ? err.code : undefined;
}
