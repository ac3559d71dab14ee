import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type HttpLimits } from '../../src/http/limits.js';
import { Rejection } from '../../src/http/reject.js';
import { StrictParser } from '../../src/http/strict-parser.js';
import { CORPUS_CASES } from '../helpers/corpus.js';

/**
 * The malformed-request corpus (test/corpus/NAME.STATUS.http) run straight through gserve's own
 * parser, in process: every case must end in its status, whether its bytes arrive in one chunk,
 * one byte at a time, or cut at every point in two. A request smuggled behind an ambiguous one
 * (`/smuggled`) must never come out parsed into a head. The end-to-end run is test/integration/malformed.test.ts.
 */

const CASES = CORPUS_CASES;

/** The corpus runs with --limit-request-body 1024. */
const LIMITS: HttpLimits = { ...DEFAULT_LIMITS, requestBody: 1024 };

interface Outcome {
  /** One status per request: 200 for each complete sound request, then the refusal's status. */
  statuses: number[];
  urls: string[];
}

function run(chunks: Buffer[]): Outcome {
  const urls: string[] = [];
  let completed = 0;
  const parser = new StrictParser(LIMITS, {
    onHead: (h) => (urls.push(h.url), false),
    onBody: () => {},
    onComplete: () => completed++,
  });
  for (const chunk of chunks) {
    const result = parser.execute(chunk);
    if (result instanceof Rejection) return { statuses: [...Array<number>(completed).fill(200), result.status], urls };
  }
  return { statuses: Array<number>(completed).fill(200), urls };
}

const bytewise = (b: Buffer) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));

describe('the corpus against the parser, in process', () => {
  it('holds at least 100 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(100);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const whole = run([c.bytes]);
    expect(whole.statuses).toEqual(c.statuses);
    expect(whole.urls.filter((u) => u.includes('smuggled'))).toEqual([]);
    expect(run(bytewise(c.bytes)).statuses).toEqual(c.statuses);
    for (let cut = 1; cut < c.bytes.length; cut++) {
      const split = run([c.bytes.subarray(0, cut), c.bytes.subarray(cut)]);
      if (JSON.stringify(split.statuses) !== JSON.stringify(c.statuses))
        expect({ cut, statuses: split.statuses }).toEqual({ cut, statuses: c.statuses });
      if (split.urls.some((u) => u.includes('smuggled'))) expect({ cut, urls: split.urls }).toEqual({ cut, urls: [] });
    }
  });
});

describe('the reason given for a bare CR', () => {
  // Looked for only once a line is refused (strict-parser.ts): the reason must still name it.
  it.each([
    ['in the request line', 'GET / HTTP/1.1\rHost: x\r\n\r\n'],
    ['in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n'],
    [
      'in a chunk extension',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\rc\r\nhello\r\n0\r\n\r\n',
    ],
  ])('%s', (_where, text) => {
    const parser = new StrictParser(LIMITS, { onHead: () => false, onBody: () => {}, onComplete: () => {} });
    const result = parser.execute(Buffer.from(text, 'latin1'));
    expect(result).toBeInstanceOf(Rejection);
    expect((result as Rejection).reason).toBe('a bare CR (not followed by LF)');
  });
});
