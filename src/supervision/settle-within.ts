/**
 * A bound for what a process awaits on its way (a config load on HUP, a hook, an app's shutdown): a
 * promise that never settles must not wedge it. The abandoned promise is left to settle (or not) on
 * its own.
 */
export type Settled<T> = { done: true; value: T } | { done: false };

export function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Settled<T>>((resolve) => {
    // Not unref'd: the process must live to log the overrun and go on with its stop.
    timer = setTimeout(() => resolve({ done: false }), Math.max(0, ms));
  });
  return Promise.race([promise.then((value): Settled<T> => ({ done: true, value })), late]).finally(() =>
    clearTimeout(timer),
  );
}
