import type { HttpLimits } from './limits.js';
import { Rejection, badRequest } from './reject.js';
import {
  checkFieldCount,
  checkFieldLine,
  checkHead,
  checkRequestLine,
  isLastSoundHost,
  METHODS,
  type BodyFraming,
} from './validate.js';

/**
 * The checks the node:http path runs on a head llhttp has already parsed, before the app sees it:
 * what llhttp (strict mode) lets through but gserve's engine refuses. llhttp has already refused
 * bad bytes, bad tokens, bad framing syntax and most smuggling shapes; what is left is limits
 * (line length, field size, field count), HTTP versions other than 1.0 and 1.1, target forms,
 * Host, and the framing rules of RFC 9112 §6 that need the whole head. The validate.ts functions
 * the engine uses give the same statuses and reasons here.
 */

/** The parts of an IncomingMessage the checks read (a plain object in unit tests). */
export interface ParsedHead {
  method?: string;
  url?: string;
  httpVersionMajor: number;
  httpVersionMinor: number;
  rawHeaders: string[];
}

/** Returns the body framing of a sound head, or the Rejection for an unsound one. */
export function checkParsedHead(req: ParsedHead, limits: HttpLimits): BodyFraming | Rejection {
  try {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const major = req.httpVersionMajor;
    const minor = req.httpVersionMinor;
    // The common head (a known method, an origin-form target, HTTP/1.x within the line limit) needs
    // no more; anything else goes through the engine's request-line check for the precise reason.
    const lineLength = method.length + url.length + 10;
    if (
      major !== 1 ||
      minor > 1 ||
      url.charCodeAt(0) !== 0x2f ||
      url.includes('#') || // llhttp takes a fragment in; the engine does not
      !METHODS.has(method) ||
      (limits.requestLine > 0 && lineLength > limits.requestLine)
    ) {
      checkRequestLine(`${method} ${url} HTTP/${major}.${minor}`, limits);
    }
    const raw = req.rawHeaders;
    checkFieldCount(raw.length / 2, limits);
    if (limits.requestFieldSize > 0) {
      // llhttp has checked every byte of every field; only their sizes are left. It trims the
      // whitespace around a value, so a line is counted like `name: value`.
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i]!.length + 2 + raw[i + 1]!.length > limits.requestFieldSize)
          checkFieldLine(`${raw[i]}: ${raw[i + 1]}`, limits);
      }
    }
    const framing = plainHead(raw) ? PLAIN : checkHead(`${major}.${minor}`, raw, limits);
    // RFC 9112 §6.1: a Transfer-Encoding in an HTTP/1.0 message means its framing is faulty (an
    // HTTP/1.0 peer cannot have meant chunked); what follows it cannot be trusted.
    if (framing.chunked && minor === 0)
      throw badRequest('Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1: the framing is faulty)');
    return framing;
  } catch (err) {
    if (err instanceof Rejection) return err;
    throw err;
  }
}

const PLAIN: BodyFraming = Object.freeze({ contentLength: null, chunked: false, connection: '', upgrade: false });
/**
 * A head with one Host equal to the last one found sound (validate.ts remembers it: most connections
 * repeat it on every request), and no field that frames a body, expects anything or asks to upgrade:
 * checkHead() would pass it with no body, so its regular expressions are skipped. Any other head goes
 * through checkHead(); a miss costs only that.
 */
function plainHead(raw: string[]): boolean {
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // By length and first letter before any lowercasing: most names are none of these.
    const first = name.charCodeAt(0) | 0x20;
    switch (name.length) {
      case 4:
        if (first === 0x68 && (name === 'Host' || name.toLowerCase() === 'host')) {
          if (++hosts > 1 || !isLastSoundHost(raw[i + 1]!)) return false;
        }
        break;
      case 6: // expect
      case 7: // upgrade
      case 14: // content-length
      case 17: // transfer-encoding
        if ((first === 0x65 || first === 0x75 || first === 0x63 || first === 0x74) && FRAMING_NAMES.test(name))
          return false;
    }
  }
  return hosts === 1;
}
const FRAMING_NAMES = /^(?:expect|upgrade|content-length|transfer-encoding)$/i;

/** A CONNECT whose head is sound: gserve serves resources, it does not open tunnels. */
export const connectRefused = () => badRequest('CONNECT is not served here: gserve is an origin server, not a proxy');

/**
 * The refusal for a node:http parser error (llhttp's code and reason), in the engine's words where
 * the engine names the same rule; otherwise llhttp's own reason.
 */
export function rejectionForParserError(code: string | undefined, reason: string): Rejection {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new Rejection(431, 'the request head is too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return badRequest('a chunk-size line is too long');
    case 'HPE_INVALID_EOF_STATE':
      return badRequest('the client closed its side in the middle of a request');
    case 'HPE_INVALID_METHOD':
      return badRequest('unknown or malformed method in the request line');
    case 'HPE_INVALID_VERSION':
    case 'HPE_INVALID_CONSTANT':
      return badRequest('malformed HTTP version in the request line');
    case 'HPE_INVALID_URL':
      return badRequest('a control character, a space, a # or a non-ASCII byte in the request target, or none');
    case 'HPE_INVALID_HEADER_TOKEN':
      return badRequest(`a malformed header line (${reason})`);
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return badRequest(`a malformed or ambiguous Content-Length (${reason})`);
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return badRequest(`a malformed or ambiguous Transfer-Encoding (${reason})`);
    case 'HPE_INVALID_CHUNK_SIZE':
      return badRequest('a malformed chunk size or chunk extension');
    case 'HPE_CR_EXPECTED':
    case 'HPE_LF_EXPECTED':
      return badRequest(`a line does not end with CRLF (${reason})`);
    default:
      return badRequest(`malformed request (${reason})`);
  }
}
