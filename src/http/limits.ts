/**
 * The request limits and timeouts both HTTP paths enforce (gserve's engine and node:http), read
 * once from the settings. Sizes are bytes and times milliseconds; 0 means "no limit" throughout.
 */
export interface HttpLimits {
  requestLine: number;
  requestFields: number;
  requestFieldSize: number;
  requestBody: number;
  /** From the first byte of a request (or the accept) to the end of its head. */
  headerTimeout: number;
  /** From the end of a request's head to the end of its body. */
  requestTimeout: number;
  /** The setting requestTimeout comes from, named in the 408: the sync class caps it at --timeout. */
  requestTimeoutSetting?: '--request-timeout' | '--timeout';
  /** Longest a client may take no byte of an answer waiting for it (0: for ever). */
  sendTimeout: number;
  maxKeepaliveRequests: number;
}

/** Gunicorn's ceiling on header fields, also what `limitRequestFields = 0` means. */
export const MAX_REQUEST_FIELDS = 32768;
/** A chunk-size line (size and extensions) longer than this is refused: nothing legitimate needs more. */
export const MAX_CHUNK_LINE = 4096;

export const DEFAULT_LIMITS: HttpLimits = {
  requestLine: 4094,
  requestFields: 100,
  requestFieldSize: 8190,
  requestBody: 0,
  headerTimeout: 20_000,
  requestTimeout: 300_000,
  sendTimeout: 60_000,
  maxKeepaliveRequests: 1000,
};

export function httpLimits(settings: Record<string, unknown>): HttpLimits {
  const num = (name: string, fallback: number) => {
    const value = settings[name];
    return typeof value === 'number' ? value : fallback;
  };
  const fields = num('limitRequestFields', DEFAULT_LIMITS.requestFields);
  return {
    requestLine: num('limitRequestLine', DEFAULT_LIMITS.requestLine),
    requestFields: fields === 0 ? MAX_REQUEST_FIELDS : fields,
    requestFieldSize: num('limitRequestFieldSize', DEFAULT_LIMITS.requestFieldSize),
    requestBody: num('limitRequestBody', DEFAULT_LIMITS.requestBody),
    headerTimeout: Math.round(num('headerTimeout', DEFAULT_LIMITS.headerTimeout / 1000) * 1000),
    requestTimeout: Math.round(num('requestTimeout', DEFAULT_LIMITS.requestTimeout / 1000) * 1000),
    sendTimeout: Math.round(num('sendTimeout', DEFAULT_LIMITS.sendTimeout / 1000) * 1000),
    maxKeepaliveRequests: num('maxKeepaliveRequests', DEFAULT_LIMITS.maxKeepaliveRequests),
  };
}
