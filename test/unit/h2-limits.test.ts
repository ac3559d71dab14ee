import { describe, expect, it } from 'vitest';
import { checkHttp2Head, maxHeaderListPairs, maxHeaderListSize } from '../../src/http/h2-limits.js';
import { DEFAULT_LIMITS, MAX_REQUEST_FIELDS } from '../../src/http/limits.js';

const head = (extra: string[] = [], path = '/') => [
  ':method',
  'GET',
  ':scheme',
  'https',
  ':authority',
  'localhost',
  ':path',
  path,
  ...extra,
];

describe('HTTP/2 request limits', () => {
  it('passes a head within every limit, at the limits exactly', () => {
    const field = 'v'.repeat(DEFAULT_LIMITS.requestFieldSize - 'x-a: '.length);
    const fields = Array.from({ length: DEFAULT_LIMITS.requestFields }, (_, i) => [`x-${i}`, 'v']).flat();
    expect(checkHttp2Head(head(['x-a', field]), DEFAULT_LIMITS)).toBeNull();
    expect(checkHttp2Head(head(fields), DEFAULT_LIMITS)).toBeNull();
    const path = '/' + 'p'.repeat(DEFAULT_LIMITS.requestLine - 'GET  HTTP/1.1'.length - 1);
    expect(checkHttp2Head(head([], path), DEFAULT_LIMITS)).toBeNull();
  });

  it('answers as HTTP/1.1 would one byte or one field past them', () => {
    const field = 'v'.repeat(DEFAULT_LIMITS.requestFieldSize - 'x-a: '.length + 1);
    expect(checkHttp2Head(head(['x-a', field]), DEFAULT_LIMITS)?.status).toBe(431);
    const fields = Array.from({ length: DEFAULT_LIMITS.requestFields + 1 }, (_, i) => [`x-${i}`, 'v']).flat();
    expect(checkHttp2Head(head(fields), DEFAULT_LIMITS)?.reason).toMatch(/more than 100 header fields/);
    const path = '/' + 'p'.repeat(DEFAULT_LIMITS.requestLine - 'GET  HTTP/1.1'.length);
    expect(checkHttp2Head(head([], path), DEFAULT_LIMITS)?.status).toBe(414);
    const limits = { ...DEFAULT_LIMITS, requestBody: 10 };
    expect(checkHttp2Head(head(['content-length', '11']), limits)?.status).toBe(413);
    expect(checkHttp2Head(head(['content-length', '10']), limits)).toBeNull();
    // A NUL in a value is refused like on HTTP/1.1 (nghttp2 also refuses it first).
    expect(checkHttp2Head(head(['x-a', 'a\0b']), DEFAULT_LIMITS)?.status).toBe(400);
  });

  it('advertises a header-list size no smaller than the limits allow, and bounded when they are off', () => {
    expect(maxHeaderListSize(DEFAULT_LIMITS)).toBe(4094 + 104 * (8190 + 32));
    expect(maxHeaderListSize({ ...DEFAULT_LIMITS, requestFieldSize: 0 })).toBe(64 * 1024 * 1024);
    expect(maxHeaderListSize({ ...DEFAULT_LIMITS, requestFields: MAX_REQUEST_FIELDS })).toBe(64 * 1024 * 1024);
    // Twice the field limit, pseudo-headers aside: a few fields over it get 431, a flood the reset.
    expect(maxHeaderListPairs(DEFAULT_LIMITS)).toBe(208);
  });
});
