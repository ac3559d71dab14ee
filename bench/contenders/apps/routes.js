// The one behaviour every contender serves, so that rows differ only in the server around it.
//   /          13-byte "Hello, world!" text
//   /json      a 1 KB JSON document
//   /stream    the hello text in two writes, one event-loop turn apart (node `(req, res)` handlers only: handler.js)
// The Python apps (wsgi_app.py, asgi_app.py) and nginx.conf mirror these bytes.

export const HELLO = 'Hello, world!';

/** 1 KB of JSON: 16 records, padded to exactly 1024 bytes. */
export const JSON_1K = (() => {
  const items = Array.from({ length: 16 }, (_, i) => ({ id: i, name: `item-${i}`, ok: i % 2 === 0 }));
  const base = JSON.stringify({ items, pad: '' });
  return JSON.stringify({ items, pad: 'x'.repeat(1024 - base.length) });
})();
