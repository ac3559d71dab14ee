import type { HttpLimits } from './limits.js';
import { Rejection } from './reject.js';
import { bodyTooLarge, checkFieldCount, checkFieldLine, checkHost, lineTooLong } from './validate.js';

/**
 * gserve's request limits applied to an HTTP/2 request head, with the statuses HTTP/1.1 gets:
 * the request line is measured the way `METHOD PATH HTTP/1.1` would be (414), each field by its
 * `name: value` line (431), the field count without pseudo-headers (431), a declared
 * Content-Length over --limit-request-body (413), and the authority as a Host header (400).
 */
export function checkHttp2Head(rawHeaders: readonly string[], limits: HttpLimits): Rejection | null {
  let method = '';
  let path = '';
  let fields = 0;
  let contentLength: string | undefined;
  try {
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      const value = rawHeaders[i + 1] ?? '';
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      // The authority becomes a fetch app's request.url, as the Host header does over HTTP/1.1.
      if (name === ':authority' || name === 'host') checkHost(value);
      if (name.startsWith(':')) continue;
      fields++;
      checkFieldLine(`${name}: ${value}`, limits);
      if (name === 'content-length') contentLength = value;
    }
    const lineLength = method.length + 1 + path.length + ' HTTP/1.1'.length;
    if (limits.requestLine && lineLength > limits.requestLine) return lineTooLong(limits.requestLine);
    checkFieldCount(fields, limits);
    if (limits.requestBody && contentLength !== undefined && Number(contentLength) > limits.requestBody)
      return bodyTooLarge(limits.requestBody);
  } catch (err) {
    if (err instanceof Rejection) return err;
    throw err;
  }
  return null;
}

/**
 * The SETTINGS_MAX_HEADER_LIST_SIZE to advertise: the largest head the limits allow, counted as
 * HTTP/2 counts it (name + value + 32 per field). Node refuses a larger list with RST_STREAM
 * before the limits above can answer with a status, so this must not be below what they allow.
 */
export function maxHeaderListSize(limits: HttpLimits): number {
  const UNBOUNDED = 64 * 1024 * 1024;
  if (!limits.requestLine || !limits.requestFieldSize) return UNBOUNDED;
  // Four pseudo-headers (:method, :scheme, :authority, :path) besides the fields.
  return Math.min(UNBOUNDED, limits.requestLine + (limits.requestFields + 4) * (limits.requestFieldSize + 32));
}

/**
 * Node's cap on header pairs (default 128), past which it resets the stream (ENHANCE_YOUR_CALM)
 * before the limits above can answer: twice --limit-request-fields, pseudo-headers aside, so that a
 * client a few fields over the limit gets the 431 that names it (at the limit plus 8, 105 fields got a
 * reset where HTTP/1.1 gets 431), and only a flood of fields the reset.
 */
export const maxHeaderListPairs = (limits: HttpLimits): number => limits.requestFields * 2 + 8;
