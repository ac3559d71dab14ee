import { ResponseError } from '../errors.js';
import { TOKEN, quote } from './validate.js';

/**
 * What an app may not do to a response on gserve's own engine, where gserve writes the framing: put
 * a line break in a header (an app that copies request text into a header would let the client
 * write a second response, or a Set-Cookie, of its own), or send a body of another length than its
 * Content-Length says (the client would read the rest as the next response, or wait for bytes that
 * never come, and every later answer on the connection would be misread). node:http checks header
 * bytes the same way; h11 (Uvicorn) and Gunicorn refuse both.
 */

/** node:http's rule for a value: HTAB, visible ASCII, space and obs-text; no CR, LF, NUL or other controls. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/**
 * Names and values already found sound, each kind apart. Most of an app's header text is the same
 * strings every time ('content-type', 'text/plain'): a lookup costs less than reading them again.
 * Measured with callgrind on bench/in-process.js fetch, the checks cost 4% of the request's
 * JavaScript without it and nothing measurable with it. Bounded in count and in each string's
 * length: at most about 256 KB each.
 */
class SoundStrings {
  private readonly set = new Set<string>();
  has(s: string): boolean {
    return this.set.has(s);
  }
  add(s: string): void {
    if (s.length > 256) return;
    if (this.set.size >= 512) this.set.clear();
    this.set.add(s);
  }
}
const soundNames = new SoundStrings();
const soundValues = new SoundStrings();

/**
 * An app's status must be a final one. A 1xx sent as the answer (WSGI's "101 Switching Protocols",
 * ASGI's status 100) left the client waiting for the real answer, and it then took the next
 * pipelined request's answer for this one's.
 */
export function checkFinalStatus(status: number): void {
  if (!Number.isInteger(status) || status < 200 || status > 999)
    throw new ResponseError(
      'GSERVE_E_RESPONSE_STATUS',
      `the response status ${status} is not a final status: use 200 to 999 (1xx answers are interim; ` +
        'gserve sends 100 Continue itself, and a WebSocket accept sends 101)',
    );
}

/**
 * Checks one field of a response head (`lower`: its name in lower case, which the caller has at
 * hand). Returns the body length a Content-Length declares, given the one an earlier copy declared
 * (every copy must say the same); else `declared` unchanged.
 */
export function checkResponseField(name: string, lower: string, value: string, declared: number | null): number | null {
  if (!soundNames.has(name)) {
    if (!TOKEN.test(name))
      throw new ResponseError(
        'GSERVE_E_RESPONSE_HEADER',
        `the response header name ${quote(name)} is not an HTTP token: use letters, digits and !#$%&'*+-.^_\`|~ only`,
      );
    soundNames.add(name);
  }
  if (!soundValues.has(value)) {
    if (!isFieldValue(value)) throw badFieldValue(name, value);
    soundValues.add(value);
  }
  return lower === 'content-length' ? declaredLength(value, declared) : declared;
}

/** Why a header value cannot go on the wire: a control character, or one past Latin-1 (a byte of its own). */
function badFieldValue(name: string, value: string): ResponseError {
  const wide = /[^\u0000-\u00ff]/.exec(value);
  if (wide)
    return new ResponseError(
      'GSERVE_E_RESPONSE_HEADER',
      `the value of the response header ${quote(name)} holds ${quote(wide[0])} ` +
        `(U+${wide[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}), past the one byte per ` +
        "character a header carries; percent-encode it (RFC 8187 for a filename: filename*=UTF-8''…)",
    );
  return new ResponseError(
    'GSERVE_E_RESPONSE_HEADER',
    `the value of the response header ${quote(name)} holds a line break or another control character; ` +
      'remove CR, LF and NUL from header values (text taken from a request must be checked first)',
  );
}

function declaredLength(value: string, declared: number | null): number {
  const length = decimal(value);
  if (Number.isNaN(length) || (declared !== null && declared !== length))
    throw new ResponseError(
      'GSERVE_E_RESPONSE_HEADER',
      `the response's Content-Length ${quote(value)} is not one decimal number of bytes` +
        (declared !== null ? ` (another Content-Length said ${declared})` : ''),
    );
  return length;
}

/** checkResponseField over a whole head: the declared body length, or null. */
export function checkResponseHead(headers: ReadonlyArray<readonly [string, string]>): number | null {
  let declared: number | null = null;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    declared = checkResponseField(name, name.toLowerCase(), value, declared);
  }
  return declared;
}

/** A value of decimal digits (spaces around it allowed), at most 15 of them; else NaN. */
function decimal(value: string): number {
  let from = 0;
  let to = value.length;
  while (from < to && isSpace(value.charCodeAt(from))) from++;
  while (to > from && isSpace(value.charCodeAt(to - 1))) to--;
  if (from === to || to - from > 15) return Number.NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    n = n * 10 + digit;
  }
  return n;
}

const isSpace = (c: number) => c === 0x20 || c === 0x09;

/**
 * Throws when `size` more body bytes, after `sent`, pass the declared length; or, when they are the
 * last (`ending`), fall short of it.
 */
export function checkBodyLength(declared: number, sent: number, size: number, ending: boolean): void {
  const total = sent + size;
  if (total > declared)
    throw new ResponseError(
      'GSERVE_E_RESPONSE_LENGTH',
      `the response body is longer than its Content-Length of ${declared} bytes (at least ${total}); ` +
        'set the header from the body as sent, or leave it out',
    );
  if (ending && total < declared)
    throw new ResponseError(
      'GSERVE_E_RESPONSE_LENGTH',
      `the response body ended after ${total} of the ${declared} bytes its Content-Length declares; ` +
        'set the header from the body as sent, or leave it out',
    );
}
