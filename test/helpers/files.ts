import { existsSync, readFileSync } from 'node:fs';
import { pollUntil } from './poll.js';

/** Waits until the file's text satisfies `predicate` (a log line arrived). */
export async function waitForFile(
  path: string,
  predicate: (text: string) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<string> {
  const read = () => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  // Wrapped, since an empty text is falsy yet may be what the predicate waits for.
  const found = await pollUntil(
    () => {
      const text = read();
      return predicate(text) && { text };
    },
    () => `${what} in ${path}; it holds:\n${read()}`,
    { timeoutMs },
  );
  return found.text;
}

/** Non-empty lines of a log file. */
export const linesOf = (text: string) => text.split('\n').filter(Boolean);
