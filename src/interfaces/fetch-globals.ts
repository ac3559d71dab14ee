/**
 * The fast path's two web-standard stand-ins, after @hono/node-server's approach (re-implemented):
 *
 * - `LazyRequest`: what a fetch app receives. `method`, `url` and `headers` are answered from the
 *   parsed request head; anything else (`body`, `signal`, `json()`, `clone()`…) first builds the real
 *   `Request` and delegates to it. An app that only routes on the URL never pays for a `Request`.
 * - `FastResponse`: installed for the global `Response` in workers that serve a fetch app. When built
 *   from a string, bytes or nothing, it keeps its init and builds no real `Response` unless the app
 *   touches more than `status`/`statusText`/`ok`; the engine then writes the kept body directly
 *   instead of reading it back through a `ReadableStream`. Other bodies (streams, Blob, FormData…)
 *   make a real `Response` at once. `instanceof Response` and `instanceof Request` hold for both
 *   the stand-ins and the native objects.
 */

export const NativeRequest: typeof Request = globalThis.Request;
// The DOM lib is not loaded (this is Node); these are the init types of the global constructors.
export type HeadersInit = NonNullable<ConstructorParameters<typeof Headers>[0]>;
type BodyInit = ConstructorParameters<typeof Response>[0];
type RequestInfo = ConstructorParameters<typeof Request>[0];
type RedirectStatus = Parameters<typeof Response.redirect>[1];
export const NativeResponse: typeof Response = globalThis.Response;

const kReal = Symbol('gserve.real');
const kInit = Symbol('gserve.init');
const kSize = Symbol('gserve.size');

export type FastBody = string | Uint8Array | null;
export interface KeptResponse {
  body: FastBody;
  status: number;
  headers: HeadersInit | undefined;
  statusText: string | undefined;
}

/** Copies every member of `from` onto `onto`, each a delegate to the real object that `real(this)` returns. */
// biome-ignore lint/suspicious/noExplicitAny: `real` unwraps any of the WHATWG classes it is given
function delegateAll(onto: object, from: object, skip: Set<string | symbol>, real: (self: any) => any): void {
  for (const key of Reflect.ownKeys(from)) {
    if (skip.has(key) || key === 'constructor') continue;
    const desc = Object.getOwnPropertyDescriptor(from, key)!;
    if (desc.get) {
      Object.defineProperty(onto, key, {
        configurable: true,
        get() {
          return real(this)[key];
        },
      });
    } else if (typeof desc.value === 'function') {
      Object.defineProperty(onto, key, {
        configurable: true,
        writable: true,
        value(this: unknown, ...args: unknown[]) {
          return real(this)[key](...args);
        },
      });
    }
  }
}

// ---- Request ----

/** What a LazyRequest needs to answer cheaply, and to build the real Request when asked. */
export interface RequestSource {
  method: string;
  url(): string;
  headers(): Headers;
  /** The real Request (with body and signal). */
  build(headers: Headers): Request;
}

/**
 * The type says what the prototype chain does: every member of Request not defined below is
 * delegated to the real Request (delegateAll), and the chain reaches Request.prototype.
 */
export interface LazyRequest extends Request {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the Request/Response members come from delegateAll()
export class LazyRequest {
  private [kReal]: Request | undefined;
  private url_: string | undefined;
  private headers_: Headers | undefined;
  constructor(readonly source: RequestSource) {}
  get method(): string {
    return this.source.method;
  }
  get url(): string {
    return (this.url_ ??= this.source.url());
  }
  get headers(): Headers {
    return this[kReal]?.headers ?? (this.headers_ ??= this.source.headers());
  }
  /** The real Request, built once. */
  real(): Request {
    return (this[kReal] ??= this.source.build(this.headers));
  }
}
delegateAll(
  LazyRequest.prototype,
  NativeRequest.prototype,
  new Set(['method', 'url', 'headers']),
  (self: LazyRequest) => self.real(),
);

/** The global Request while the fast path is installed: unwraps a LazyRequest given to `new Request(...)`. */
class GserveRequest extends NativeRequest {
  constructor(input: RequestInfo | URL | LazyRequest, init?: RequestInit) {
    super(input instanceof LazyRequest ? input.real() : input, init);
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof NativeRequest;
  }
}
Object.setPrototypeOf(LazyRequest.prototype, GserveRequest.prototype);

// ---- Response ----

const isFastBody = (body: unknown): body is FastBody | undefined =>
  body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;

/**
 * The byte length of a body the native Response streams though it knows its size (undici's
 * extractBody does, and keeps it to itself): a Blob (a File, `fs.openAsBlob()`), an ArrayBuffer
 * or a view of one. Told, the engine sends it with a Content-Length, as @hono/node-server does.
 */
const sizeOf = (body: unknown): number | undefined =>
  body instanceof Blob
    ? body.size
    : body instanceof ArrayBuffer || ArrayBuffer.isView(body)
      ? body.byteLength
      : undefined;

/**
 * An init the fast path reads as the native Response would: a number status, no body beside a status
 * that has none (the native throws), headers as a Headers, an array of pairs or a plain object.
 * Anything else (a status of '201', a Map of headers) goes to the native Response, which converts
 * or refuses it by the spec; the fast path read a Map as no headers at all.
 */
function isFastInit(body: FastBody | undefined, init: unknown): init is ResponseInit | undefined {
  if (init === undefined) return true;
  if (typeof init !== 'object' || init === null) return false;
  const { status, headers } = init as ResponseInit;
  if (status !== undefined && typeof status !== 'number') return false;
  if (body != null && (status === 204 || status === 205 || status === 304)) return false;
  if (headers === undefined || headers instanceof Headers || Array.isArray(headers)) return true;
  const proto: unknown = Object.getPrototypeOf(headers);
  return proto === Object.prototype || proto === null;
}

/** The type says what the prototype chain does, like for LazyRequest. */
export interface FastResponse extends Response {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the Request/Response members come from delegateAll()
export class FastResponse {
  /** The brand: `instanceof FastResponse` is true for native responses too (see Symbol.hasInstance). */
  readonly #fast = true;
  static isFast(value: unknown): value is FastResponse {
    return typeof value === 'object' && value !== null && #fast in value;
  }
  private [kReal]: Response | undefined;
  private readonly [kInit]: KeptResponse | undefined;
  private readonly [kSize]: number | undefined;
  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if (isFastBody(body) && isFastInit(body, init)) {
      const status = init?.status ?? 200;
      if (!Number.isInteger(status) || status < 200 || status > 599)
        throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive.`);
      this[kInit] = { body: body ?? null, status, headers: init?.headers, statusText: init?.statusText };
    } else {
      this[kReal] = new NativeResponse(body, init);
      this[kSize] = sizeOf(body);
    }
  }
  get status(): number {
    return this[kReal]?.status ?? this[kInit]!.status;
  }
  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status < 300;
  }
  get statusText(): string {
    return this[kReal]?.statusText ?? this[kInit]!.statusText ?? '';
  }
  real(): Response {
    if (!this[kReal]) {
      const kept = this[kInit]!;
      this[kReal] = new NativeResponse(kept.body, {
        status: kept.status,
        statusText: kept.statusText,
        headers: kept.headers,
      });
    }
    return this[kReal];
  }
  /** The kept body and head when the body can be written unchanged (the real Response, if built, has not been read). */
  kept(): { body: FastBody; status: number; headers: HeadersInit | undefined; real: Response | undefined } | null {
    const kept = this[kInit];
    const real = this[kReal];
    if (!kept || real?.bodyUsed) return null;
    return { body: kept.body, status: real?.status ?? kept.status, headers: real ? real.headers : kept.headers, real };
  }
  /** The length of a streamed body whose size its init told (sizeOf), while none of it has been read. */
  streamedSize(): number | undefined {
    return this[kReal]?.bodyUsed ? undefined : this[kSize];
  }
  static json(data: unknown, init: ResponseInit = {}): Response {
    const headers = new Headers(init.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new FastResponse(JSON.stringify(data), { ...init, headers });
  }
  static redirect(url: string | URL, status: RedirectStatus = 302): Response {
    return NativeResponse.redirect(url, status);
  }
  static error(): Response {
    return NativeResponse.error();
  }
  static [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof NativeResponse;
  }
}
delegateAll(
  FastResponse.prototype,
  NativeResponse.prototype,
  new Set(['status', 'ok', 'statusText']),
  (self: FastResponse) => self.real(),
);
Object.setPrototypeOf(FastResponse.prototype, NativeResponse.prototype);

/**
 * Makes the stand-ins the globals of this worker process (only workers serving a fetch app, unless
 * --no-override-global-objects). Globals are process-wide by nature; installing twice is harmless.
 */
export function installFastGlobals(): void {
  if (globalThis.Response === FastResponse) return;
  Object.defineProperty(globalThis, 'Response', { value: FastResponse, writable: true, configurable: true });
  Object.defineProperty(globalThis, 'Request', { value: GserveRequest, writable: true, configurable: true });
}
