/**
 * Heartbeats: a worker process (to the master) and an app thread (to its worker's main thread) send
 * one while `--timeout` is on. A beat is sent by a timer, so it only goes out while the sender's
 * event loop turns: missing beats mean a blocked loop (see blocked-loop.ts, the watching side).
 */

/** How often to beat for a timeout of `timeoutMs`: four beats per timeout, at least one a second. */
export const beatIntervalMs = (timeoutMs: number): number => Math.min(1000, timeoutMs / 4);

/**
 * Sends a beat every beatIntervalMs(timeoutMs) until the process or thread ends; with no timeout
 * (0) nobody watches and nothing is sent. The timer never keeps the event loop alive by itself.
 */
export function startHeartbeat(timeoutMs: number, beat: () => void): NodeJS.Timeout | null {
  if (timeoutMs <= 0) return null;
  const timer = setInterval(beat, beatIntervalMs(timeoutMs));
  timer.unref();
  return timer;
}
