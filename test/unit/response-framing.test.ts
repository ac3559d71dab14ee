import { describe, expect, it } from 'vitest';
import { ResponseError } from '../../src/errors.js';
import { checkBodyLength, checkResponseHead } from '../../src/http/response-framing.js';

const outcome = (fn: () => unknown) => {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ResponseError) return err.code;
    throw err;
  }
};

describe('response head checks (response-framing.ts)', () => {
  it('names a character past Latin-1 in a value for what it is, not as a control character', () => {
    expect(() => checkResponseHead([['x-price', '5 \u20ac']])).toThrow(
      /"x-price" holds "€" \(U\+20AC\), past the one byte per character a header carries; percent-encode it/,
    );
    expect(() => checkResponseHead([['x-bad', 'a\r\nb']])).toThrow(/holds a line break or another control character/);
  });

  it('accepts ordinary heads and returns the declared length', () => {
    expect(checkResponseHead([['Content-Type', 'text/plain; charset=utf-8']])).toBeNull();
    expect(checkResponseHead([['content-length', '13']])).toBe(13);
    expect(checkResponseHead([['Content-Length', ' 0\t']])).toBe(0);
    expect(
      checkResponseHead([
        ['x-tab', 'a\tb'],
        ['x-latin1', 'caf\u00e9'],
      ]),
    ).toBeNull();
    // The same length twice is one length.
    expect(
      checkResponseHead([
        ['content-length', '5'],
        ['Content-Length', '5'],
      ]),
    ).toBe(5);
  });

  it.each([
    ['a CR LF in a value', [['x-a', 'v\r\nset-cookie: evil=1']]],
    ['a bare LF in a value', [['x-a', 'v\nx']]],
    ['a NUL in a value', [['x-a', 'v\u0000']]],
    ['a DEL in a value', [['x-a', 'v\u007f']]],
    ['a character past latin1 in a value', [['x-a', 'snow \u2603']]],
    ['a space in a name', [['x a', 'v']]],
    ['a colon in a name', [['x:a', 'v']]],
    ['an empty name', [['', 'v']]],
    ['a CR LF in a name', [['x\r\ny', 'v']]],
    ['a signed length', [['content-length', '+5']]],
    ['a hex length', [['content-length', '0x10']]],
    ['an empty length', [['content-length', '']]],
    ['a list as a length', [['content-length', '5, 5']]],
    [
      'two different lengths',
      [
        ['content-length', '5'],
        ['content-length', '6'],
      ],
    ],
  ] as Array<[string, Array<[string, string]>]>)('refuses %s', (_what, headers) => {
    expect(outcome(() => checkResponseHead(headers))).toBe('GSERVE_E_RESPONSE_HEADER');
  });

  it('refuses a value it once accepted under another name only where that name is bad', () => {
    // Sound strings are remembered per kind: a value seen before does not vouch for a name.
    expect(checkResponseHead([['x-a', 'text/plain']])).toBeNull();
    expect(outcome(() => checkResponseHead([['text/plain', 'v']]))).toBe('GSERVE_E_RESPONSE_HEADER');
  });
});

describe('response body length checks', () => {
  it('holds a body to its declared length, in parts and at its end', () => {
    expect(outcome(() => checkBodyLength(10, 0, 4, false))).toBeUndefined();
    expect(outcome(() => checkBodyLength(10, 4, 6, true))).toBeUndefined();
    expect(outcome(() => checkBodyLength(10, 4, 7, false))).toBe('GSERVE_E_RESPONSE_LENGTH');
    expect(outcome(() => checkBodyLength(10, 4, 2, true))).toBe('GSERVE_E_RESPONSE_LENGTH');
    expect(outcome(() => checkBodyLength(0, 0, 0, true))).toBeUndefined();
  });
});
