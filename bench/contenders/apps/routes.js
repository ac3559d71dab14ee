// The one behaviour every contender serves, so that rows differ only in the server around it.
//   /          13-byte "Hello, world!" text
//   /json      a 1 KB JSON document
//   /slow      50 ms of blocked event loop (head-of-line scenario: the work cannot be interleaved)
//   /cpu       about 2 ms of CPU work (CPU-bound scenario)
// The Python apps (wsgi_app.py, asgi_app.py) and nginx.conf mirror these bytes.

export const HELLO = 'Hello, world!';

/** 1 KB of JSON: 16 records, padded to exactly 1024 bytes. */
export const JSON_1K = (() => {
  const items = Array.from({ length: 16 }, (_, i) => ({ id: i, name: `item-${i}`, ok: i % 2 === 0 }));
  const base = JSON.stringify({ items, pad: '' });
  return JSON.stringify({ items, pad: 'x'.repeat(1024 - base.length) });
})();

export const SLOW_MS = 50;

/** Blocks the event loop on purpose: a slow synchronous handler, as in a CPU-heavy or sync-I/O route. */
export function blockFor(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

/** A fixed amount of CPU work (not time-based, so a slower machine takes longer, as real work would). */
export function cpuWork() {
  let x = 0;
  for (let i = 0; i < 400_000; i++) x = (x * 31 + i) % 1_000_003;
  return String(x);
}
