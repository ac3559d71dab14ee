import { existsSync, readFileSync } from 'node:fs';

/** Waits until the file's text satisfies `predicate` (a log line arrived), polling, with a generous deadline. */
export async function waitForFile(
  path: string,
  predicate: (text: string) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (predicate(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} in ${path}; it holds:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Non-empty lines of a log file. */
export const linesOf = (text: string) => text.split('\n').filter(Boolean);

/** Polls `probe` until it returns something truthy. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
