/** Falsy results mean "not yet". */
type Maybe<T> = T | undefined | null | false;

export interface PollOptions {
  /** A generous default: the machine running the suite may be slow and shared. */
  timeoutMs?: number;
  /** How long to wait between two checks. */
  everyMs?: number;
}

/**
 * The one polling loop of the tests: calls `probe` until it returns something truthy, and returns
 * that. For state outside gserve's log (files, processes, sockets, metrics); `Gserve.until` waits on
 * the log itself without polling. After the deadline it throws "timed out waiting for `what`";
 * `what` may be a function, called then, to show the state the wait gave up on.
 */
export async function pollUntil<T>(
  probe: () => Maybe<T> | Promise<Maybe<T>>,
  what: string | (() => string),
  { timeoutMs = 30_000, everyMs = 50 }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()} (${timeoutMs} ms)`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
