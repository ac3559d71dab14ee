import { defineSetting } from '../spec.js';
import { boolean, bytes, oneOf, seconds } from '../types.js';

const SECTION = 'Interfaces and WebSocket';

export const interfaceSettings = [
  defineSetting({
    name: 'lifespan',
    section: SECTION,
    type: oneOf(['auto', 'on', 'off']),
    default: 'auto',
    doc:
      "ASGI lifespan events, like Uvicorn's. `auto`: run them, and go on without them when the app raises before " +
      'answering `lifespan.startup` (it does not speak lifespan). `on`: such an error stops the server. `off`: ' +
      "never send them. In every mode `lifespan.startup.failed` stops the server with the app's message (exit code " +
      '4).',
  }),
  defineSetting({
    name: 'wsgiSpoolSize',
    section: SECTION,
    meta: 'BYTES',
    type: bytes(),
    default: 1024 * 1024,
    defaultDoc: '1 MiB',
    doc:
      'A WSGI app reads `wsgi.input` synchronously, so gserve receives the whole request body before calling it: ' +
      'bodies up to this size are kept in memory, larger ones are spooled to a temporary file (deleted after the ' +
      'response) so memory stays flat.',
  }),
  defineSetting({
    name: 'wsMaxSize',
    section: SECTION,
    meta: 'BYTES',
    type: bytes(),
    default: 16 * 1024 * 1024,
    defaultDoc: '16 MiB',
    doc: 'The largest WebSocket message accepted; a bigger one closes the connection with code 1009 (message too big).',
  }),
  defineSetting({
    name: 'wsPingInterval',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 20,
    doc: 'Send a WebSocket ping this often on each open connection. 0 disables pings.',
  }),
  defineSetting({
    name: 'wsPingTimeout',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 20,
    doc:
      'A WebSocket peer that has not answered a ping with a pong within this time is considered dead and its ' +
      'connection is dropped. A peer still sending (the pong waits behind its data), or held back by an ASGI app ' +
      'that is not taking its messages, is kept.',
  }),
  defineSetting({
    name: 'wsPerMessageDeflate',
    section: SECTION,
    type: boolean(),
    default: false,
    doc:
      'Offer the permessage-deflate WebSocket extension (RFC 7692). Off by default: ' +
      'compression costs CPU and memory per connection.',
  }),
  defineSetting({
    name: 'overrideGlobalObjects',
    section: SECTION,
    type: boolean(),
    default: true,
    doc:
      'For a fetch app, gserve replaces the global `Request` and `Response` with lighter stand-ins (`instanceof` ' +
      'still holds for both) so a response built from a string or bytes is written without a stream, like ' +
      "`overrideGlobalObjects` in Hono's node-server. `--no-override-global-objects` keeps node's own classes: the " +
      'app gets a real `Request` and its responses are read back through their stream, which is slower but ' +
      "exactly node's behaviour.",
  }),
];
