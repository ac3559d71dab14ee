/** Prints gserve's one-line error (`gserve: error: …`) and returns the exit code to end with. */
export function fail(message: string, code: number): number {
  process.stderr.write(`gserve: error: ${message}\n`);
  return code;
}
