// Writes the malformed-request corpus: one raw file per case, named NAME.STATUS.http (STATUS may be a
// dash-joined list when a good request precedes the bad one on the same connection). The files are
// the corpus; this script only documents how each was made. Run: node test/corpus/build.mjs
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const H = 'Host: x\r\n';
const line = (s) => `${s}\r\n`;
/** A GET that must never reach the app: smuggled behind an ambiguous request. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const get = (head = '', target = '/') => `GET ${target} HTTP/1.1\r\n${H}${head}\r\n`;
const post = (head, body = '') => `POST /upload HTTP/1.1\r\n${H}${head}\r\n${body}`;

const cases = {
  // --- the request line
  'method-lowercase.400': 'get / HTTP/1.1\r\nHost: x\r\n\r\n',
  'method-bad-char.400': 'GE(T / HTTP/1.1\r\nHost: x\r\n\r\n',
  'method-unknown.400': 'FROB / HTTP/1.1\r\nHost: x\r\n\r\n',
  'method-non-ascii.400': 'G\xc9T / HTTP/1.1\r\nHost: x\r\n\r\n',
  'method-empty.400': ' / HTTP/1.1\r\nHost: x\r\n\r\n',
  'line-double-space.400': 'GET  / HTTP/1.1\r\nHost: x\r\n\r\n',
  'line-trailing-space.400': 'GET / HTTP/1.1 \r\nHost: x\r\n\r\n',
  'line-tab-separator.400': 'GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n',
  'line-space-in-target.400': 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n',
  'line-no-version.400': 'GET /\r\nHost: x\r\n\r\n',
  // The line has ended and can never become a request: refused then, not after --header-timeout.
  'line-no-version-unterminated.400': 'GET /\r\n',
  'line-bare-cr.400': 'GET / HTTP/1.1\rHost: x\r\n\r\n',
  'version-1.2.400': 'GET / HTTP/1.2\r\nHost: x\r\n\r\n',
  'version-2.0.400': 'GET / HTTP/2.0\r\nHost: x\r\n\r\n',
  'version-0.9.400': 'GET / HTTP/0.9\r\nHost: x\r\n\r\n',
  'version-1.10.400': 'GET / HTTP/1.10\r\nHost: x\r\n\r\n',
  'version-lowercase.400': 'GET / http/1.1\r\nHost: x\r\n\r\n',
  'version-no-minor.400': 'GET / HTTP/1\r\nHost: x\r\n\r\n',
  'version-garbage.400': 'GET / HTTX/1.1\r\nHost: x\r\n\r\n',
  'target-control-char.400': 'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n',
  'target-nul.400': 'GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n',
  'target-del.400': 'GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n',
  'request-line-too-long.414': `GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  'request-line-too-long-unterminated.414': `GET /${'a'.repeat(6000)}`,
  // The limit (4 094) passed inside " HTTP/1.1", with no CRLF to wait for.
  'request-line-too-long-in-version.414': `GET /${'a'.repeat(4083)} HTTP/1.1`,
  'binary-garbage.400': '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n',
  // --- header lines
  'obs-fold-space.400': get('X-A: a\r\n b\r\n'),
  'obs-fold-tab.400': get('X-A: a\r\n\tb\r\n'),
  'obs-fold-first-line.400': 'GET / HTTP/1.1\r\n Host: x\r\n\r\n',
  'space-before-colon.400': 'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
  'tab-before-colon.400': get('X-A\t: a\r\n'),
  'name-control-char.400': get('X\x01A: a\r\n'),
  'name-paren.400': get('X(A): a\r\n'),
  'name-space-inside.400': get('X A: a\r\n'),
  'name-quote.400': get('X"A: a\r\n'),
  'name-non-ascii.400': get('X\xc3\xa9: a\r\n'),
  'name-empty.400': get(': a\r\n'),
  'no-colon.400': get('X-A a\r\n'),
  'value-nul.400': get('X-A: a\x00b\r\n'),
  'value-bare-cr.400': get('X-A: a\rb\r\n'),
  'value-cr-before-crlf.400': get('X-A: a\r\r\n'),
  'value-control-char.400': get('X-A: a\x01b\r\n'),
  'value-del.400': get('X-A: a\x7fb\r\n'),
  'host-missing.400': 'GET / HTTP/1.1\r\nX-A: a\r\n\r\n',
  'host-twice.400': 'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
  'host-space-inside.400': 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
  'host-slash.400': 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n',
  // A name that RFC 3986 admits but no URL can hold: its last label makes it an IPv4 address.
  'host-not-an-address.400': 'GET / HTTP/1.1\r\nHost: 1.2.3.4.5\r\n\r\n',
  'field-too-large.431': get(`X-Big: ${'v'.repeat(9000)}\r\n`),
  // llhttp trims a value's whitespace; the line's bytes are what the limit counts.
  'field-too-large-padded.431': get(`X-Big: ${'v'.repeat(100)}${' '.repeat(9000)}\r\n`),
  'field-too-large-unterminated.431': `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'v'.repeat(9000)}`,
  'too-many-fields.431': get(Array.from({ length: 101 }, (_, i) => `X-F${i}: ${i}\r\n`).join('')),
  // --- message framing
  'cl-and-te.400': post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n' + SMUGGLED),
  'te-and-cl.400': post('Transfer-Encoding: chunked\r\nContent-Length: 40\r\n', '0\r\n\r\n' + SMUGGLED),
  'cl-two-different.400': post('Content-Length: 5\r\nContent-Length: 40\r\n', 'hello' + SMUGGLED),
  'cl-list-different.400': post('Content-Length: 5, 40\r\n', 'hello' + SMUGGLED),
  'cl-twice-same.400': post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'),
  'cl-non-numeric.400': post('Content-Length: abc\r\n', 'hello'),
  'cl-negative.400': post('Content-Length: -1\r\n', 'hello'),
  'cl-plus-sign.400': post('Content-Length: +5\r\n', 'hello'),
  'cl-hex.400': post('Content-Length: 0x5\r\n', 'hello'),
  'cl-space-inside.400': post('Content-Length: 1 0\r\n', 'hello'),
  'cl-empty.400': post('Content-Length: \r\n', 'hello'),
  'cl-overflow.400': post('Content-Length: 99999999999999999999999\r\n', 'hello'),
  'cl-decimal.400': post('Content-Length: 5.0\r\n', 'hello'),
  'te-not-chunked-last.400': post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n' + SMUGGLED),
  'te-gzip-only.400': post('Transfer-Encoding: gzip\r\n', 'hello'),
  'te-unknown-coding.400': post('Transfer-Encoding: frob, chunked\r\n', '0\r\n\r\n' + SMUGGLED),
  'te-chunked-twice.400': post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'),
  'te-xchunked.400': post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n' + SMUGGLED),
  'te-empty.400': post('Transfer-Encoding: \r\n', '0\r\n\r\n'),
  'te-in-two-lines.400': post('Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n', '0\r\n\r\n' + SMUGGLED),
  'chunk-size-not-hex.400': post('Transfer-Encoding: chunked\r\n', 'zz\r\nhello\r\n0\r\n\r\n'),
  'chunk-size-trailing-junk.400': post('Transfer-Encoding: chunked\r\n', '5x\r\nhello\r\n0\r\n\r\n'),
  'chunk-size-negative.400': post('Transfer-Encoding: chunked\r\n', '-5\r\nhello\r\n0\r\n\r\n'),
  'chunk-size-overflow.400': post('Transfer-Encoding: chunked\r\n', 'fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'),
  'chunk-size-leading-space.400': post('Transfer-Encoding: chunked\r\n', ' 5\r\nhello\r\n0\r\n\r\n'),
  'chunk-size-0x-prefix.400': post('Transfer-Encoding: chunked\r\n', '0x5\r\nhello\r\n0\r\n\r\n'),
  'chunk-size-empty.400': post('Transfer-Encoding: chunked\r\n', '\r\nhello\r\n0\r\n\r\n'),
  'chunk-ext-control-char.400': post('Transfer-Encoding: chunked\r\n', '5;a\x01=b\r\nhello\r\n0\r\n\r\n'),
  'chunk-ext-no-name.400': post('Transfer-Encoding: chunked\r\n', '5;=b\r\nhello\r\n0\r\n\r\n'),
  'chunk-ext-unterminated-quote.400': post('Transfer-Encoding: chunked\r\n', '5;a="b\r\nhello\r\n0\r\n\r\n'),
  'chunk-ext-bare-cr.400': post('Transfer-Encoding: chunked\r\n', '5;a=b\rc\r\nhello\r\n0\r\n\r\n'),
  'chunk-data-too-long.400': post('Transfer-Encoding: chunked\r\n', '5\r\nhelloXX\r\n0\r\n\r\n'),
  'chunk-data-no-crlf.400': post('Transfer-Encoding: chunked\r\n', '5\r\nhello0\r\n\r\n'),
  'trailer-obs-fold.400': post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n'),
  'trailer-content-length.400': post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'),
  'trailer-transfer-encoding.400': post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'),
  'te-http10.400': 'POST /upload HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED,
  'te-http10-with-cl.400': 'POST /upload HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED,
  'target-userinfo.400': 'GET http://good.example@evil.example/ HTTP/1.1\r\nHost: good.example\r\n\r\n',
  'target-absolute-bad-scheme.400': 'GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n',
  // A trailer field is held to the field size (8190), not to a chunk-size line's 4096.
  'trailer-long-field.200': post('Transfer-Encoding: chunked\r\n', `5\r\nhello\r\n0\r\nX-T: ${'t'.repeat(6000)}\r\n\r\n`),
  'trailer-field-too-large.431': post('Transfer-Encoding: chunked\r\n', `5\r\nhello\r\n0\r\nX-T: ${'t'.repeat(9000)}\r\n\r\n`),
  // 100 Continue is owed only where a body is to come.
  'expect-continue-no-body.200': get('Expect: 100-continue\r\n'),
  'trailer-bad-name.400': post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\nX(T): a\r\n\r\n'),
  'target-non-ascii.400': 'GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n',
  'target-no-slash.400': 'GET index.html HTTP/1.1\r\nHost: x\r\n\r\n',
  'target-fragment.400': 'GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n',
  'target-asterisk-not-options.400': 'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
  'connect-no-port.400': 'CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n',
  'host-port-too-large.400': 'GET / HTTP/1.1\r\nHost: x:99999\r\n\r\n',
  'expect-unknown.417': get('Expect: 200-ok\r\n'),
  'bare-lf-line-endings.400': 'GET / HTTP/1.1\nHost: x\n\n',
  'bare-lf-after-header.400': get('X-A: a\n'),
  'chunk-size-bare-lf.400': post('Transfer-Encoding: chunked\r\n', '5\nhello\r\n0\r\n\r\n'),
  'chunk-ext-space-before-semicolon.400': post('Transfer-Encoding: chunked\r\n', '5 ;a=b\r\nhello\r\n0\r\n\r\n'),
  // --- refused from the first bytes, without waiting for the line to end
  'partial-garbage-method.400': 'XYZ@',
  'partial-bad-version.400': 'GET / HTTQ',
  'partial-header-name-space.400': 'GET / HTTP/1.1\r\nHo st',
  // --- nothing after a request that closes the connection is read as a request
  'garbage-after-connection-close.200': get('Connection: close\r\n') + 'GARBAGE \x00\x01\r\n\r\n' + SMUGGLED,
  // --- limits (the corpus runs with --limit-request-body 1024)
  'body-too-large-cl.413': post('Content-Length: 2000\r\n', 'x'.repeat(2000)),
  'body-too-large-chunked.413': post('Transfer-Encoding: chunked\r\n', `800\r\n${'x'.repeat(2048)}\r\n0\r\n\r\n`),
  // --- a good request first: it is answered, then the bad one is refused
  'pipelined-good-then-bad.200-400': get() + 'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
  // The bad part is in the second request's body: the first is still answered before the refusal.
  'pipelined-good-then-bad-chunk.200-400': get() + post('Transfer-Encoding: chunked\r\n', 'zz\r\n'),
  'pipelined-good-then-smuggle.200-400': get() + post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n' + SMUGGLED),
};

for (const file of readdirSync(dir)) if (file.endsWith('.http')) rmSync(join(dir, file));
for (const [name, bytes] of Object.entries(cases)) writeFileSync(join(dir, `${name}.http`), Buffer.from(bytes, 'latin1'));
console.log(`${Object.keys(cases).length} cases written to ${dir}`);
