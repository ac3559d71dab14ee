import { MAX_CHUNK_LINE, type HttpLimits } from './limits.js';
import { Rejection, badRequest } from './reject.js';

/**
 * Strict checks on the text of a request head, line by line and whole, following RFC 9110 and
 * RFC 9112 wherever common parsers are lenient. Anything two parsers (ours and a proxy in front)
 * could read differently is refused, since that difference is what request smuggling exploits.
 * gserve's parser (strict-parser.ts) calls these while lines arrive; the node:http path can call the
 * same ones on what llhttp parsed.
 * Lines arrive without their CRLF, decoded from latin1 (one char per byte).
 */

/** The methods Node's own parser (llhttp) knows, so both HTTP paths accept the same set. */
export const METHODS: ReadonlySet<string> = new Set([
  'DELETE',
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'COPY',
  'LOCK',
  'MKCOL',
  'MOVE',
  'PROPFIND',
  'PROPPATCH',
  'SEARCH',
  'UNLOCK',
  'BIND',
  'REBIND',
  'UNBIND',
  'ACL',
  'REPORT',
  'MKACTIVITY',
  'CHECKOUT',
  'MERGE',
  'M-SEARCH',
  'NOTIFY',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'PATCH',
  'PURGE',
  'MKCALENDAR',
  'LINK',
  'UNLINK',
  'SOURCE',
  'QUERY',
]);

/** A token (RFC 9110 §5.6.2): a method, a field name; response-framing.ts checks response field names by it too. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Request target: visible ASCII only (RFC 3986 has no raw bytes above 0x7e; Node refuses them too),
 * and no `#`: a fragment is the client's own (RFC 9112 §3.2.1), and sent anyway each interface read
 * it differently (a fetch app's pathname dropped it, a WSGI PATH_INFO kept it).
 */
const TARGET = /^[\x21\x22\x24-\x7e]+$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
/** Field value: visible chars, SP, HTAB and obs-text; any other control char is refused. */
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
/** A sound field line, whole: a token name, a colon, and a value without control characters. */
const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*$/;
/** Host: a reg-name or IPv4 address, or an [IPv6] literal, and an optional port (RFC 3986, without %-escapes). */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]*)(?::(\d{0,5}))?$/;
/** A last host label that a URL parser reads as a number, making the host an IPv4 address. */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;
/** An IPv4 address in its one plain form: four decimal octets without leading zeros. */
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.?$/;
/** The four forms of request target (RFC 9112 §3.2). */
const ORIGIN_FORM = /^\//;
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const TOKEN_CHARS = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const CHUNK_LINE = new RegExp(`^([0-9A-Fa-f]+)((?:;${TOKEN_CHARS}(?:=(?:${TOKEN_CHARS}|${QUOTED}))?)*)$`);

/** The client's bytes, quoted and cut short for a reason text. */
export const quote = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);

export const lineTooLong = (limit: number) =>
  new Rejection(414, `the request line is longer than ${limit} bytes (--limit-request-line)`);
export const fieldTooLarge = (limit: number) =>
  new Rejection(431, `a header field is longer than ${limit} bytes (--limit-request-field-size)`);

/** Every prefix of a known method, so a partial request line can be judged before it ends. */
const METHOD_PREFIXES: ReadonlySet<string> = new Set(
  [...METHODS].flatMap((m) => Array.from({ length: m.length + 1 }, (_, i) => m.slice(0, i))),
);
const VERSION_PREFIXES: ReadonlySet<string> = new Set(
  ['HTTP/1.1', 'HTTP/1.0'].flatMap((v) => Array.from({ length: v.length + 1 }, (_, i) => v.slice(0, i))),
);
const TOKEN_OR_EMPTY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$/;
const CHUNK_LINE_PREFIX = /^[0-9A-Fa-f]*(?:(?<=[0-9A-Fa-f]);[^\x00-\x08\x0a-\x1f\x7f]*)?$/;

/**
 * A line that has not ended yet: refused once it is too long, or once what has come
 * cannot begin a valid line. Node's parser judges byte by byte; judging prefixes keeps the two
 * HTTP paths giving the same answer at the same moment, and spares a garbage line the timeout.
 */
export function checkPartialLine(state: string, line: string, limits: HttpLimits): void {
  // A CR is allowed only for the last byte so far (its LF may be in the next chunk).
  const cr = line.indexOf('\r');
  if (cr !== -1 && cr !== line.length - 1) throw badRequest('a bare CR (not followed by LF)');
  const text = cr === -1 ? line : line.slice(0, -1);
  if (state === 'REQUEST_LINE') {
    if (limits.requestLine && line.length > limits.requestLine) throw lineTooLong(limits.requestLine);
    if (text === '') return;
    const parts = text.split(' ');
    if (parts.length > 3)
      throw badRequest('the request line must be METHOD, TARGET and VERSION separated by single spaces');
    if (!METHOD_PREFIXES.has(parts[0]!) || (parts.length > 1 && !METHODS.has(parts[0]!)))
      throw badRequest(`unknown method ${quote(parts[0]!)}`);
    if (parts.length > 1 && parts[1] !== '' && !TARGET.test(parts[1]!))
      throw badRequest('a control character or an empty request target');
    if (parts.length > 2 && (parts[1] === '' || !VERSION_PREFIXES.has(parts[2]!)))
      throw badRequest('malformed HTTP version in the request line');
  } else if (state === 'HEADER' || state === 'BODY_CHUNKTRAILERS') {
    if (limits.requestFieldSize && line.length > limits.requestFieldSize) throw fieldTooLarge(limits.requestFieldSize);
    const colon = text.indexOf(':');
    if (colon === -1) {
      if (text !== '' && (text.charCodeAt(0) === 0x20 || text.charCodeAt(0) === 0x09))
        throw badRequest('obs-fold: a header line starts with whitespace (folded lines are not accepted)');
      if (!TOKEN_OR_EMPTY.test(text)) throw badRequest('a control or separator character in a header name');
    } else checkFieldLine(text, limits);
  } else if (state === 'BODY_CHUNKHEAD') {
    if (line.length > MAX_CHUNK_LINE) throw badRequest(`a chunk-size line is longer than ${MAX_CHUNK_LINE} bytes`);
    if (!CHUNK_LINE_PREFIX.test(text)) throw badRequest('a malformed chunk size or chunk extension');
  } else if (state === 'BODY_CHUNKEMPTYLINE') {
    if (text !== '') throw badRequest('chunk data is longer than its chunk size');
  }
}

/** Any line ends with CRLF. */
export function checkLineEnding(hadCR: boolean): void {
  if (!hadCR) throw badRequest('a line ends with a bare LF (CRLF is required)');
}

/**
 * A CR inside a line, not before its LF. No line with one passes the checks of its kind (every
 * expression above refuses control characters), so it is looked for only when a line was refused:
 * then its reason is this one.
 */
export const bareCrIn = (line: string): Rejection | null =>
  line.includes('\r') ? badRequest('a bare CR (not followed by LF)') : null;

export interface RequestLine {
  method: string;
  target: string;
  version: '1.0' | '1.1';
}

export function checkRequestLine(line: string, limits: HttpLimits): RequestLine {
  if (limits.requestLine && line.length > limits.requestLine) throw lineTooLong(limits.requestLine);
  // The common case in few steps: METHOD SP origin-form SP HTTP/1.x, all of it checked.
  const sp1 = line.indexOf(' ');
  const sp2 = line.length - 9;
  if (
    sp1 > 0 &&
    sp2 > sp1 + 1 &&
    line.charCodeAt(sp2) === 0x20 &&
    line.charCodeAt(sp1 + 1) === 0x2f &&
    line.startsWith('HTTP/1.', sp2 + 1)
  ) {
    const minor = line.charCodeAt(line.length - 1);
    // GET as a literal, not a slice: no new string, and the set below finds it by its kept hash.
    const method = sp1 === 3 && line.startsWith('GET') ? 'GET' : line.slice(0, sp1);
    const target = line.slice(sp1 + 1, sp2);
    if ((minor === 0x31 || minor === 0x30) && METHODS.has(method) && TARGET.test(target) && method !== 'CONNECT')
      return { method, target, version: minor === 0x31 ? '1.1' : '1.0' };
  }
  const parts = line.split(' ');
  if (parts.length !== 3)
    throw badRequest('the request line must be METHOD, TARGET and VERSION separated by single spaces');
  const [method = '', target = '', version = ''] = parts; // three, counted above
  if (!TOKEN.test(method)) throw badRequest('invalid method token in the request line');
  if (!METHODS.has(method)) throw badRequest(`unknown method ${quote(method)}`);
  if (!TARGET.test(target))
    throw badRequest('a control character, a space, a # or a non-ASCII byte in the request target, or none');
  checkTargetForm(method, target);
  const v = VERSION.exec(version);
  if (!v) throw badRequest('malformed HTTP version in the request line');
  if (v[1] !== '1' || (v[2] !== '0' && v[2] !== '1'))
    throw badRequest(`unsupported HTTP version ${version} (HTTP/1.0 and HTTP/1.1 are served here)`);
  return { method, target, version: version === 'HTTP/1.1' ? '1.1' : '1.0' };
}

function checkTargetForm(method: string, target: string): void {
  if (method === 'CONNECT') {
    if (!checkHostValue(target) || !target.includes(':')) throw badRequest('CONNECT needs a host:port target');
  } else if (target === '*') {
    if (method !== 'OPTIONS') throw badRequest('the * target is only for OPTIONS');
  } else if (ORIGIN_FORM.test(target)) return;
  else if (ABSOLUTE_FORM.test(target)) absoluteTarget(target);
  else throw badRequest('the request target must be a path or an absolute URL');
}

/** An absolute-form target split into the authority that replaces Host and the origin-form rest. */
export interface AbsoluteTarget {
  authority: string;
  /** The path and query, starting with `/` (`/` when the URL has no path). */
  path: string;
}

/**
 * Splits `http://host[:port]/path?query` (RFC 9112 §3.2.2). Only http and https are served; a
 * userinfo part (`user@host`) is refused, like RFC 9110 §4.2.4 advises: it is a classic way to make
 * one authority look like another. Throws a Rejection; returns null for any other target form.
 */
export function absoluteTarget(target: string): AbsoluteTarget | null {
  if (target.charCodeAt(0) === 0x2f || target === '*') return null;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(target);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https')
    throw badRequest(`an absolute request target with scheme ${quote(m[1]!)} (only http and https are served)`);
  const authority = m[2]!;
  if (authority.includes('@')) throw badRequest('userinfo (user@) in the request target');
  if (authority === '' || !checkHostValue(authority))
    throw badRequest('an invalid host in the absolute request target');
  const rest = m[3]!;
  return { authority, path: rest.charCodeAt(0) === 0x2f ? rest : `/${rest}` };
}

/** Sets Host in a raw header list to `authority` (an absolute-form target's: RFC 9112 §3.2.2), adding it when missing. */
export function replaceHost(headers: string[], authority: string): void {
  let found = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 4 && headers[i]!.toLowerCase() === 'host') {
      headers[i + 1] = authority;
      found = true;
    }
  }
  if (!found) headers.push('Host', authority);
}

/** A CONNECT request: gserve serves origin requests and is not a tunnel or a forward proxy. */
export const connectNotServed = () => badRequest('CONNECT is for proxies; this server is not one');

/**
 * The last Host value found sound: a connection (and most clients) sends the same one with every
 * request. The answer depends on the string alone, so a match skips the expression and nothing else.
 */
let soundHost = '';

/** Whether `value` is the Host value last found sound (so any check of it would pass). */
export const isLastSoundHost = (value: string): boolean => value === soundHost;

/** A Host field's value (or HTTP/2's :authority), refused with a 400 unless it is sound. */
export function checkHost(value: string): void {
  if (!checkHostValue(value)) throw badRequest('an invalid Host header');
}

function checkHostValue(value: string): boolean {
  if (value === soundHost) return true;
  const m = HOST.exec(value);
  const sound =
    m !== null &&
    (m[1] === undefined || m[1] === '' || Number(m[1]) <= 65535) &&
    urlCanHoldHost(m[1] === undefined ? value : value.slice(0, value.length - m[1].length - 1));
  if (sound) soundHost = value;
  return sound;
}

/**
 * Whether a URL can name this host as it is. The Host grammar (RFC 3986's reg-name) admits names
 * that the URL parser, which builds a fetch app's `request.url` and which apps run on the Host
 * header, refuses or reads as another host: a last label of digits (or `0x…`) makes the whole an
 * IPv4 address, so `1.2.3.4.5` and `999.1.1.1` throw, and `1.2.3` or `010.0.0.1` name 1.2.0.3 and
 * 8.0.0.1; an IPv6 literal or a punycode (`xn--`) label may not parse. No server has such a name,
 * and each was a 500 at the app's first `new URL()`.
 */
function urlCanHoldHost(host: string): boolean {
  if (host.charCodeAt(0) === 0x5b || /xn--/i.test(host)) return URL.canParse(`http://${host}/`);
  const end = host.endsWith('.') ? host.length - 1 : host.length;
  return !NUMERIC_LABEL.test(host.slice(host.lastIndexOf('.', end - 1) + 1, end)) || DOTTED_QUAD.test(host);
}

/** One header (or trailer) field line. */
export function checkFieldLine(line: string, limits: HttpLimits): void {
  if (limits.requestFieldSize && line.length > limits.requestFieldSize) throw fieldTooLarge(limits.requestFieldSize);
  if (FIELD_LINE.test(line)) return; // the common case in one pass; the rest names what is wrong
  const first = line.charCodeAt(0);
  if (first === 0x20 || first === 0x09)
    throw badRequest('obs-fold: a header line starts with whitespace (folded lines are not accepted)');
  const colon = line.indexOf(':');
  if (colon === -1) throw badRequest('a header line without a colon');
  if (colon === 0) throw badRequest('a header line with an empty name');
  const name = line.slice(0, colon);
  const last = name.charCodeAt(name.length - 1);
  if (last === 0x20 || last === 0x09) throw badRequest('whitespace between a header name and its colon');
  if (!TOKEN.test(name)) throw badRequest('a control or separator character in a header name');
  const bad = BAD_VALUE_CHAR.exec(line.slice(colon + 1));
  if (bad) throw badRequest(bad[0] === '\0' ? 'a NUL byte in a header value' : 'a control character in a header value');
}

export function checkFieldCount(count: number, limits: HttpLimits): void {
  if (count > limits.requestFields)
    throw new Rejection(431, `more than ${limits.requestFields} header fields (--limit-request-fields)`);
}

/** How the body of a request is framed, once its head is known to be sound. */
export interface BodyFraming {
  contentLength: number | null;
  chunked: boolean;
  /** The Connection field's values, comma-joined ('' when absent). */
  connection: string;
  /** Whether an Upgrade field is present. */
  upgrade: boolean;
}

/** The first letter, lowercase, of the one name of each length that checkHead() reads. */
const FIRST_LETTER_BY_LENGTH: readonly number[] = Object.assign(Array<number>(18).fill(0), {
  4: 0x68, // host
  6: 0x65, // expect
  7: 0x75, // upgrade
  10: 0x63, // connection
  14: 0x63, // content-length
  17: 0x74, // transfer-encoding
});

/** The whole head: framing headers and Host (RFC 9112 §6.3 and §3.2). `headers` alternate name, value. */
export function checkHead(version: string, headers: readonly string[], limits: HttpLimits): BodyFraming {
  let hosts = 0;
  let contentLength: number | null = null;
  let codings: string[] | null = null;
  let expect: string | undefined;
  let connection = '';
  let upgrade = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const length = name.length;
    // Only six names matter here: the rest are passed over by length and first letter before any
    // lowercase copy is made (User-Agent, Accept and the like). Host, in nearly every head, as clients write it.
    if (length > 17 || (name.charCodeAt(0) | 0x20) !== FIRST_LETTER_BY_LENGTH[length]) continue;
    const lower = name === 'Host' ? 'host' : name.toLowerCase();
    const value = headers[i + 1]!;
    if (lower === 'connection') connection = connection === '' ? value : `${connection},${value}`;
    else if (lower === 'upgrade') upgrade = true;
    else if (lower === 'host') {
      hosts++;
      checkHost(value);
    } else if (lower === 'content-length') {
      if (contentLength !== null) throw badRequest('more than one Content-Length header');
      if (!/^\d+$/.test(value)) throw badRequest('Content-Length is not a non-negative decimal integer');
      contentLength = Number(value);
      if (!Number.isSafeInteger(contentLength)) throw badRequest('Content-Length is too large');
    } else if (lower === 'expect') {
      expect = value;
    } else if (lower === 'transfer-encoding') {
      codings ??= [];
      for (const coding of value.split(',')) codings.push(coding.trim().toLowerCase());
    }
  }
  if (version === '1.1' && hosts === 0) throw badRequest('an HTTP/1.1 request without a Host header');
  if (hosts > 1) throw badRequest('more than one Host header');
  if (codings) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing. An HTTP/1.0 hop in front
    // would not have decoded it, so the two ends could disagree on where the body ends.
    if (version === '1.0') throw badRequest('Transfer-Encoding in an HTTP/1.0 request');
    if (contentLength !== null) throw badRequest('Content-Length together with Transfer-Encoding');
    if (codings[codings.length - 1] !== 'chunked') throw badRequest('Transfer-Encoding must end with chunked');
    // Only chunked is decoded here; passing gzip or another coding through would hand the app bytes
    // it cannot tell apart from a plain body.
    if (codings.length > 1)
      throw badRequest(`unsupported transfer coding ${quote(codings[0]!)} (only chunked is accepted)`);
  }
  if (limits.requestBody && contentLength !== null && contentLength > limits.requestBody)
    throw bodyTooLarge(limits.requestBody);
  // The one expectation HTTP/1.1 defines; node:http answers others with 417 too.
  if (version === '1.1' && expect !== undefined && expect.toLowerCase() !== '100-continue')
    throw new Rejection(417, `unsupported expectation ${quote(expect)}`);
  return { contentLength, chunked: codings !== null, connection, upgrade };
}

export const bodyTooLarge = (limit: number) =>
  new Rejection(413, `the request body is larger than ${limit} bytes (--limit-request-body)`);

/** A chunk-size line; returns the size. Extensions are checked for form and otherwise ignored. */
export function checkChunkLine(line: string): number {
  const m = CHUNK_LINE.exec(line);
  if (!m) throw badRequest('a malformed chunk size or chunk extension');
  const size = parseInt(m[1]!, 16);
  if (!Number.isSafeInteger(size)) throw badRequest('a chunk size too large');
  return size;
}

/**
 * Fields a trailer may not carry (RFC 9110 §6.5.1): framing, routing and connection control. A
 * recipient that merged them into the head could frame or route the message differently from a
 * proxy in front that ignored them, so a request that sends one is refused.
 */
const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
  'content-encoding',
  'content-type',
  'content-range',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
]);

/** A trailer field's name (its line already passed checkFieldLine). */
export function checkTrailerField(name: string): void {
  const lower = name.toLowerCase();
  if (FORBIDDEN_TRAILERS.has(lower)) throw badRequest(`${quote(name)} is not allowed in a trailer`);
}

/** Whether a head announces a body (a Transfer-Encoding, or a Content-Length other than 0). */
export function hasBody(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'transfer-encoding') return true;
    if (name === 'content-length' && headers[i + 1] !== '0') return true;
  }
  return false;
}
