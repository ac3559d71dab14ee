/**
 * Resident memory that never throws. Node reads it from /proc/self/stat, which takes a file
 * descriptor: with the descriptors exhausted (EMFILE) `process.memoryUsage.rss()` throws, and an
 * uncaught throw from a stats timer would kill the very worker that is weathering the exhaustion.
 * Then the last reading stands in (null before any).
 */
let last: number | null = null;

export function residentMemory(): number | null {
  try {
    last = process.memoryUsage.rss();
  } catch {
    // EMFILE/ENFILE: keep the last reading
  }
  return last;
}
