// What the doc's closing note says about a missed target that more than one scenario judges.

/** Why the fetch path may trail: said in the doc wherever a fetch target is missed. */
export const FETCH_PATH_NOTE =
  'The own engine makes the same two syscalls per request as node:http (one read, one writev) and its ' +
  "profile is flat (no function above 1% of a worker's busy time); about 75% of that time is the write " +
  'itself, so a margin over node:http needs fewer syscalls, not leaner JavaScript: profile one worker ' +
  'with `--cpu-prof`, and count syscalls with `strace -c -f -p`.';

/** Why the asgi path may trail the fetch one: said wherever an asgi keep-alive target is missed. */
export const ASGI_PATH_NOTE =
  'In process, with no syscall in the way (`node bench/in-process.js`), an ASGI hello costs about 4.5 µs of ' +
  'JavaScript per request against 2.5 µs on the fetch interface: the three awaits the protocol asks for (receive ' +
  'and two sends), the scope and its byte arrays. The read(2) and write(2) cost the same on both, so the gap is ' +
  'that JavaScript: profile one worker with `--cpu-prof` to see which part.';
