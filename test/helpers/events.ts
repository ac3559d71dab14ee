import { existsSync, readFileSync } from 'node:fs';

/** Lines a fixture app appended to its $EVENTS_FILE. */
export const events = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];

/** Waits (polling the file, generous deadline) until `line` was recorded; returns all lines. */
export async function waitForEvent(file: string, line: string | RegExp, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = events(file);
    if (seen.some((l) => (typeof line === 'string' ? l === line : line.test(l)))) return seen;
    if (Date.now() > deadline) throw new Error(`no ${line} in ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
