import { isIP } from 'node:net';
import { defineSetting } from '../spec.js';
import { TypeMismatch, boolean, integer, list, oneOf, optionalString, string, type ValueType } from '../types.js';

const SECTION = 'Network edge';

/** A file mode mask: `0o022`, `022`, `"0"` or a number (octal digits in strings, like a shell's). */
function octalMask(): ValueType<number> {
  const expected = 'an octal mask like 022 or 0o077';
  return {
    expected,
    schema: {
      oneOf: [
        { type: 'integer', minimum: 0, maximum: 0o777 },
        { type: 'string', pattern: '^(0o)?[0-7]{1,4}$' },
      ],
    },
    parse(raw) {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && /^\s*(0o)?[0-7]{1,4}\s*$/i.test(raw)
            ? parseInt(raw.trim().replace(/^0o/i, ''), 8)
            : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 0o777)
        throw new TypeMismatch(`expected ${expected}, got ${JSON.stringify(raw)}`);
      return n;
    },
  };
}

/** An IP address, a CIDR block (`10.0.0.0/8`, `fd00::/8`) or `*`. */
const trustedPeer = string((s) => {
  if (s === '*') return undefined;
  const [ip, bits, extra] = s.split('/');
  const family = isIP(ip ?? '');
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
    return `expected an IP address, a CIDR block like 10.0.0.0/8, or *, got ${JSON.stringify(s)}`;
  }
  return undefined;
});

/** A list: `a,b,c` in one string, repeated flags, or an array (whose items may hold commas too). */
function commaList<T>(item: ValueType<T>): ValueType<T[]> {
  const inner = list(item);
  return {
    ...inner,
    parse: (raw) =>
      inner.parse(
        Array.isArray(raw)
          ? raw.flatMap((v) =>
              typeof v === 'string'
                ? v
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean)
                : [v],
            )
          : raw,
      ),
  };
}

export const networkSettings = [
  defineSetting({
    name: 'backlog',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 1, max: 65535 }),
    default: 2048,
    doc: 'The most connections the kernel queues before a worker accepts them (capped by `net.core.somaxconn`).',
    reloadable: false,
  }),
  defineSetting({
    name: 'umask',
    section: SECTION,
    meta: 'MASK',
    type: octalMask(),
    default: 0,
    defaultDoc: "`0` (a `unix:` socket is then usable by every local user; Gunicorn's default too)",
    doc:
      'The mask applied when gserve creates a `unix:` socket file: `--umask 007` keeps it to the owner and group. ' +
      'A stale socket file left by a dead server is removed first; ' +
      'a path a live server still answers on is refused.',
    reloadable: false,
  }),
  defineSetting({
    name: 'forwardedAllowIps',
    section: SECTION,
    meta: 'IPS',
    type: commaList(trustedPeer),
    default: ['127.0.0.1', '::1'],
    defaultDoc: '`127.0.0.1,::1`',
    doc:
      'The peers (IP addresses or CIDR blocks, comma-separated; `*` for any) whose forwarded headers ' +
      '(`--forwarded-headers`) and PROXY protocol headers are believed. ' +
      'Peers on a `unix:` listener are trusted too (as in Gunicorn). ' +
      'Only for trusted peers do the client address and scheme the app sees change; ' +
      "other peers' headers are ignored. Use `*` only when no client can reach gserve except through the proxy.",
  }),
  defineSetting({
    name: 'forwardedHeaders',
    section: SECTION,
    type: oneOf(['x-forwarded', 'forwarded']),
    default: 'x-forwarded',
    doc:
      'Which headers of a trusted peer name the client: `X-Forwarded-For` and `X-Forwarded-Proto` (what nginx, ' +
      'HAProxy and most load balancers set, and all that Gunicorn and Uvicorn read), or RFC 7239 `Forwarded` ' +
      "(HAProxy's `option forwarded`). Only the family your proxy sets may be read: it passes the other on " +
      'as the client wrote it.',
  }),
  defineSetting({
    name: 'proxyProtocol',
    section: SECTION,
    type: boolean(),
    default: false,
    doc:
      'Accept a PROXY protocol header (v1 text or v2 binary, the way HAProxy or an AWS NLB send it) at the start of ' +
      'connections from peers in `--forwarded-allow-ips`; the address it carries becomes the client address. ' +
      'Connections without the header are served normally.',
  }),
  defineSetting({
    name: 'certfile',
    section: SECTION,
    meta: 'FILE',
    type: optionalString(),
    default: null,
    doc:
      'TLS certificate chain (PEM). With it, every listener speaks HTTPS and the URL scheme apps see is `https`. ' +
      'Workers read the files when they start, so a HUP picks up renewed certificates.',
    reloadable: false,
  }),
  defineSetting({
    name: 'keyfile',
    section: SECTION,
    meta: 'FILE',
    type: optionalString(),
    default: null,
    defaultDoc: 'the `--certfile` (a PEM holding both)',
    doc: 'TLS private key (PEM).',
    reloadable: false,
  }),
  defineSetting({
    name: 'caCerts',
    section: SECTION,
    meta: 'FILE',
    type: optionalString(),
    default: null,
    doc: 'CA certificates (PEM) that client certificates are checked against; see `--cert-reqs`.',
    reloadable: false,
  }),
  defineSetting({
    name: 'certReqs',
    section: SECTION,
    type: oneOf(['none', 'optional', 'required'], { '0': 'none', '1': 'optional', '2': 'required' }),
    default: 'none',
    doc:
      'Whether clients must show a certificate signed by `--ca-certs`: `none`, `optional` (asked for; the app reads ' +
      "the verdict in `req.socket.authorized`) or `required` (the handshake fails without one). Gunicorn's 0/1/2 " +
      'are accepted.',
    reloadable: false,
  }),
  defineSetting({
    name: 'ciphers',
    section: SECTION,
    meta: 'LIST',
    type: optionalString(),
    default: null,
    defaultDoc: "Node's default cipher list",
    doc: "The TLS cipher suites to allow, in OpenSSL's cipher-list format.",
    reloadable: false,
  }),
  defineSetting({
    name: 'http2',
    section: SECTION,
    type: boolean(),
    default: false,
    doc:
      'Serve HTTP/2 over TLS (negotiated with ALPN, falling back to HTTP/1.1 for clients that do not offer it), ' +
      'for `node` and `fetch` apps on the `async` class (the `sync` class serves one request per connection, ' +
      'which HTTP/2 multiplexing defeats; the `thread` class passes HTTP/1.1 requests to its threads only). ' +
      'Needs `--certfile`. WebSocket stays on HTTP/1.1 (RFC 8441 is not offered).',
    reloadable: false,
  }),
  defineSetting({
    name: 'http2MaxConcurrentStreams',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 1, max: 4294967295 }),
    default: 100,
    doc:
      'Most streams (requests) one HTTP/2 connection may have open at once, advertised in SETTINGS. ' +
      'Streams over it that a client opens before it has acknowledged the SETTINGS are refused with ' +
      '`RST_STREAM` (`REFUSED_STREAM`); a client that opens more after that breaks the protocol ' +
      '(RFC 9113 §5.1.2), and its connection is closed. 100 is what nginx and h2o use.',
    reloadable: false,
  }),
];
