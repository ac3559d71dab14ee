import type { FinishedExchange } from '../http/protocol-server.js';
import { clientInfo, type TrustedPeers } from '../http/proxy.js';
import { applySpec, isPlain, parseAccessFormat } from './access-format.js';
import { openDestination } from './destination.js';

/**
 * The access log, written by each worker: Gunicorn's `%(atom)s` format, or one JSON object per
 * request. The format is compiled once into a list of small functions, so a request costs one pass
 * over it and one write.
 */

type Atom = (x: FinishedExchange, now: number, trusted: TrustedPeers) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `[10/Oct/2000:13:55:36 +0000]`, in local time like Gunicorn, cached for the current second. */
let stampSecond = -1;
let stampText = '';
function clfDate(): string {
  const ms = Date.now();
  const second = Math.floor(ms / 1000);
  if (second !== stampSecond) {
    const d = new Date(ms);
    const offset = -d.getTimezoneOffset();
    const sign = offset >= 0 ? '+' : '-';
    const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    stampText = `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${time} ${zone}]`;
    stampSecond = second;
  }
  return stampText;
}

const dash = (v: string | undefined) => (v === undefined || v === '' ? '-' : v);

function basicAuthUser(x: FinishedExchange): string | undefined {
  const auth = x.requestHeader('authorization');
  if (auth?.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(0, colon) : undefined;
}

const pathOf = (url: string) => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};
const queryOf = (url: string) => {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
};

/** The client: the socket's peer, or what a trusted proxy says it is (--forwarded-allow-ips, PROXY protocol). */
const clientOf = (x: FinishedExchange, trusted: TrustedPeers) =>
  clientInfo(x.socket, (name) => x.requestHeader(name), 'http', trusted).clientAddress || undefined;

/** Request duration in milliseconds. */
const elapsedMs = (x: FinishedExchange, now: number) => now - x.startedAt;

export const ATOMS: Record<string, Atom> = {
  h: (x, _now, trusted) => dash(clientOf(x, trusted)),
  l: () => '-',
  u: (x) => dash(basicAuthUser(x)),
  t: () => clfDate(),
  r: (x) => `${x.method} ${x.url} HTTP/${x.httpVersion}`,
  m: (x) => x.method,
  U: (x) => pathOf(x.url),
  q: (x) => queryOf(x.url),
  H: (x) => `HTTP/${x.httpVersion}`,
  s: (x) => String(x.status),
  B: (x) => String(x.bodyBytes),
  b: (x) => (x.bodyBytes ? String(x.bodyBytes) : '-'),
  f: (x) => dash(x.requestHeader('referer')),
  a: (x) => dash(x.requestHeader('user-agent')),
  T: (x, now) => String(Math.floor(elapsedMs(x, now) / 1000)),
  M: (x, now) => String(Math.floor(elapsedMs(x, now))),
  D: (x, now) => String(Math.floor(elapsedMs(x, now) * 1000)),
  L: (x, now) => (elapsedMs(x, now) / 1000).toFixed(6),
  p: () => `<${process.pid}>`,
};

/**
 * Control characters (C0, DEL, C1, and the Unicode line and paragraph separators) written as
 * `\\xHH` / `\\uHHHH`, as Apache's mod_log_config does: a value the client chose (a Basic user
 * name is any bytes once decoded) must never end a line early, forge another one, or send escape
 * sequences to the terminal of whoever reads the log.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
export const escapeControls = (v: string): string =>
  HAS_CONTROL.test(v)
    ? v.replace(CONTROL, (c) => {
        const code = c.charCodeAt(0);
        return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
      })
    : v;

/**
 * Turns `%(h)s "%(r)s" %({x-request-id}i)s %(T)d` into a function of one exchange. The format was
 * checked at start (accessFormatProblem), so parsing it cannot throw here.
 */
export function compileAccessFormat(
  format: string,
  trusted: TrustedPeers,
): (x: FinishedExchange, now: number) => string {
  const parts: Array<string | Atom> = parseAccessFormat(format).map((part) => {
    if (typeof part === 'string') return part;
    const atom = atomFor(part.name);
    return isPlain(part) ? atom : (x, now, t) => applySpec(part, atom(x, now, t));
  });
  return (x, now) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : escapeControls(part(x, now, trusted));
    return out;
  };
}

function atomFor(name: string): Atom {
  const variable = /^\{([^}]*)\}([ioe])$/.exec(name);
  if (variable) {
    const [, inBraces = '', kind] = variable;
    const key = inBraces.toLowerCase();
    if (kind === 'i') return (x) => dash(x.requestHeader(key));
    if (kind === 'o') return (x) => dash(x.responseHeader(key));
    return () => dash(process.env[inBraces]);
  }
  // Gunicorn prints `-` for unknown atoms rather than failing a request.
  return ATOMS[name] ?? (() => '-');
}

export interface AccessLogOptions {
  /** `-` for stdout, else a path (appended to). */
  file: string;
  format: string;
  json: boolean;
  /** --forwarded-allow-ips, for the client address (`%(h)s`, `remote`). */
  trustedPeers: TrustedPeers;
}

export interface AccessLog {
  write(x: FinishedExchange): void;
  reopen(): void;
  flush(): void;
}

let requestCounter = 0;

/** The request id for the JSON log: the client's or proxy's X-Request-ID, else one unique to this worker. */
function requestId(x: FinishedExchange): string {
  return x.requestHeader('x-request-id') ?? x.responseHeader('x-request-id') ?? `${process.pid}-${++requestCounter}`;
}

export function createAccessLog(opts: AccessLogOptions): AccessLog {
  const toStdout = opts.file === '-';
  // Not sync: a worker writes many lines; they are flushed within milliseconds and at exit.
  const dest = openDestination(opts.file, 1, false);
  let write: (x: FinishedExchange) => void;
  const line = compileAccessFormat(opts.format, opts.trustedPeers);
  if (opts.json) {
    // A flat object per line: a logger would add a level that means nothing here.
    write = (x) => {
      const now = performance.now();
      const record = {
        time: new Date().toISOString(),
        pid: process.pid,
        method: x.method,
        path: pathOf(x.url),
        query: queryOf(x.url) || undefined,
        status: x.status,
        bytes: x.bodyBytes,
        duration: Math.round((now - x.startedAt) * 1000) / 1e6,
        remote: clientOf(x, opts.trustedPeers),
        userAgent: x.requestHeader('user-agent'),
        requestId: requestId(x),
        msg: line(x, now),
      };
      dest.write(JSON.stringify(record) + '\n');
    };
  } else {
    write = (x) => dest.write(line(x, performance.now()) + '\n');
  }
  return {
    write,
    reopen: () => {
      if (!toStdout) dest.reopen();
    },
    flush: () => {
      try {
        dest.flushSync();
      } catch {
        // not open yet, or already closed: nothing buffered to lose
      }
    },
  };
}
