import { defineSetting } from '../spec.js';
import { bytes, integer, seconds } from '../types.js';

const SECTION = 'HTTP limits and timeouts';

/** Limits on what a client may send, and how slowly. docs/security.md says which attack each answers. */
export const httpSettings = [
  defineSetting({
    name: 'limitRequestLine',
    section: SECTION,
    meta: 'BYTES',
    type: integer({ min: 0 }),
    default: 4094,
    doc:
      'Longest request line (method, target and version) accepted, in bytes; longer gets `414 URI Too Long`. ' +
      '0 means unlimited.',
  }),
  defineSetting({
    name: 'limitRequestFields',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 0, max: 32768 }),
    default: 100,
    doc:
      'Most header fields in a request head, and most trailer fields after a chunked body (counted on their own); ' +
      'more gets `431 Request Header Fields Too Large`. ' +
      '0 means the maximum, 32768.',
  }),
  defineSetting({
    name: 'limitRequestFieldSize',
    section: SECTION,
    meta: 'BYTES',
    type: integer({ min: 0 }),
    default: 8190,
    doc:
      'Longest header field line (`Name: value`) accepted, in bytes; ' +
      'longer gets `431 Request Header Fields Too Large`. 0 means unlimited.',
  }),
  defineSetting({
    name: 'limitRequestBody',
    section: SECTION,
    meta: 'SIZE',
    type: bytes(),
    default: 0,
    defaultDoc: '`0` (unlimited)',
    doc:
      'Largest request body accepted (`1048576`, `10MB`, `1GiB`); a larger one gets `413 Content Too Large`: ' +
      'at once when `Content-Length` says so, or once a chunked body goes past it, before the app reads further. ' +
      '0 means unlimited.',
  }),
  defineSetting({
    name: 'headerTimeout',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 20,
    doc:
      'Time for a client to send a whole request head, counted from its first byte (or from the connection being ' +
      'accepted). A client still sending gets `408 Request Timeout`; one that sent nothing is closed. ' +
      'On TLS listeners the handshake must also end within it, counted from the accept; ' +
      'on HTTP/2 the clock runs from the accept to the first complete request head. ' +
      'Stops slowloris clients that trickle a header byte at a time. 0 disables.',
  }),
  defineSetting({
    name: 'requestTimeout',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 300,
    doc:
      'Time for a client to send a whole request body, counted from the end of its head. ' +
      'Past it the request gets `408 Request Timeout` if no response has started, else the connection is closed. ' +
      'Time the app spends not reading does not count. On HTTP/2 it is counted for each stream. ' +
      'A `sync` worker waits no longer than `--timeout`: it serves no one else meanwhile. 0 disables.',
  }),
  defineSetting({
    name: 'sendTimeout',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 60,
    doc:
      'Longest a client may go without taking a byte of an answer waiting for it; then its connection ' +
      "(on HTTP/2, its stream) is closed, like nginx's `send_timeout`. A slow reader is served as long as it " +
      "reads. On gserve's engine (every interface but `node`) and HTTP/2; on `-k sync`, every interface, and at " +
      'most `--timeout` (the worker serves no one else meanwhile). 0 disables.',
  }),
  defineSetting({
    name: 'maxKeepaliveRequests',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 0 }),
    default: 1000,
    doc:
      'Most requests served on one keep-alive connection; the last one is answered with `Connection: ' +
      'close`, so long-lived clients reconnect and spread over the workers. 0 means unlimited.',
  }),
];
