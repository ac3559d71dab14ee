// What the doc's closing note says about a missed target that more than one scenario judges.

/** Why the fetch path may trail: said in the doc wherever a fetch target is missed. */
export const FETCH_PATH_NOTE =
  'The own engine makes the same two syscalls per request as node:http (one read, one writev) and its ' +
  "profile is flat (no function above 1% of a worker's busy time); about 75% of that time is the write " +
  'itself, so a margin over node:http needs fewer syscalls, not leaner JavaScript: profile one worker ' +
  'with `--cpu-prof`, and count syscalls with `strace -c -f -p`.';
