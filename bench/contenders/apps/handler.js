// The hand-written `(req, res)` handler: what node:cluster, PM2 and gserve's `node` interface all run.
import { HELLO, JSON_1K } from './routes.js';

export function handler(req, res) {
  const path = req.url.split('?', 1)[0];
  if (path === '/stream') {
    // The same text in two writes, as a streaming app answers: the rest on a later turn of the event loop (node:http
    // merges writes made in one turn into one).
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(HELLO.slice(0, 7));
    setImmediate(() => res.end(HELLO.slice(7)));
    return;
  }
  if (path === '/json') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': JSON_1K.length });
    res.end(JSON_1K);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length });
  res.end(HELLO);
}

/** gserve's `node` interface: APP = bench/contenders/apps/handler:app */
export const app = handler;
