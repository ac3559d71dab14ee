import { existsSync, readFileSync } from 'node:fs';
import { pollUntil } from './poll.js';

/** Lines a fixture app appended to its $EVENTS_FILE. */
export const events = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];

/** Waits until `line` was recorded; returns all lines. */
export async function waitForEvent(file: string, line: string | RegExp, timeoutMs = 20_000): Promise<string[]> {
  return pollUntil(
    () => {
      const seen = events(file);
      return seen.some((l) => (typeof line === 'string' ? l === line : line.test(l))) && seen;
    },
    () => `${line} in ${JSON.stringify(events(file))}`,
    { timeoutMs, everyMs: 25 },
  );
}
