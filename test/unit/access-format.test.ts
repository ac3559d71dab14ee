import { escapeControls } from '../../src/log/access.js';
import { describe, expect, it } from 'vitest';
import { accessFormatProblem, applySpec, parseAccessFormat, pythonRepr } from '../../src/log/access-format.js';

/** The one atom of `format`, applied to `value`: what `format % {name: value}` gives in Python. */
function formatted(format: string, value: string): string {
  return parseAccessFormat(format)
    .map((part) => (typeof part === 'string' ? part : applySpec(part, value)))
    .join('');
}

describe('access log format (Python % conversions, as Gunicorn applies them)', () => {
  it('writes a number with d, i and u as a whole number, with Python flags, width and precision', () => {
    expect(formatted('%(T)d', '3')).toBe('3');
    expect(formatted('%(D)i', '4961')).toBe('4961');
    expect(formatted('%(L)d', '1.004961')).toBe('1');
    expect(formatted('%(M)u', '12')).toBe('12');
    expect(formatted('[%(M)6d]', '12')).toBe('[    12]');
    expect(formatted('[%(M)-6d]', '12')).toBe('[12    ]');
    expect(formatted('[%(M)06d]', '12')).toBe('[000012]');
    expect(formatted('[%(M)+d]', '12')).toBe('[+12]');
    expect(formatted('[%(M) d]', '12')).toBe('[ 12]');
    expect(formatted('[%(M).4d]', '12')).toBe('[0012]');
    expect(formatted('[%({x}i)05d]', '-3')).toBe('[-0003]');
    expect(formatted('%(B)d', '007')).toBe('7');
  });

  it('writes a value that is not a number as it is under d (Python raises; Gunicorn would drop the line)', () => {
    expect(formatted('%(b)d', '-')).toBe('-');
    expect(formatted('[%(b)3d]', '-')).toBe('[  -]');
    expect(formatted('%({x-text}i)d', 'abc')).toBe('abc');
  });

  it('pads and truncates text with s, and writes repr with r', () => {
    expect(formatted('[%(h)-10s]', '127.0.0.1')).toBe('[127.0.0.1 ]');
    expect(formatted('[%(h)12s]', '127.0.0.1')).toBe('[   127.0.0.1]');
    expect(formatted('[%(a).4s]', 'curl/8.5')).toBe('[curl]');
    expect(formatted('%(a)r', 'curl/8.5')).toBe("'curl/8.5'");
    expect(formatted('%(T)r', '3')).toBe('3'); // an int in Gunicorn's atoms: no quotes
    expect(formatted('%(a)5.3r', 'curl')).toBe("  'cu");
  });

  it('reads %% as one %, and keeps a % that starts no conversion', () => {
    expect(parseAccessFormat('100%% %(s)s 5% done')).toEqual([
      '100% ',
      { name: 's', flags: '', width: 0, precision: null, conversion: 's' },
      ' 5% done',
    ]);
  });

  it('writes repr as Python 3 does', () => {
    expect(pythonRepr("it's")).toBe('"it\'s"');
    expect(pythonRepr('a\'b"c')).toBe("'a\\'b\"c'");
    expect(pythonRepr('tab\there\\\n\x01é')).toBe("'tab\\there\\\\\\n\\x01é'");
  });

  it('refuses what it cannot honour, naming the atom and what to write', () => {
    expect(accessFormatProblem('%(h)s %(T)d %(a)r %({x}i)i %(zz)s')).toBeUndefined();
    expect(accessFormatProblem('%(h)s %(T)x')).toBe(
      '%(T)x: gserve formats atoms with s, r, d or i only, not x; write %(T)s or %(T)d',
    );
    expect(accessFormatProblem('%(L)08.3f')).toBe(
      '%(L)08.3f: gserve formats atoms with s, r, d or i only, not f; write %(L)s or %(L)d',
    );
    expect(accessFormatProblem('%(h)d')).toBe('%(h)d: the h atom is text, not a number; write %(h)s');
    expect(accessFormatProblem('[%(T)]')).toBe('%(T) has no conversion letter after the parenthesis; write %(T)s');
    expect(accessFormatProblem('%(h)s %(T')).toBe('%(T has no closing parenthesis; write %(NAME)s');
  });
});

describe('access log values a client chose', () => {
  it('cannot end a line or carry terminal escapes', () => {
    expect(escapeControls('bob\n10.6.6.6 - root')).toBe('bob\\x0a10.6.6.6 - root');
    expect(escapeControls('\u001b[2Jx\r\u0085\u2028')).toBe('\\x1b[2Jx\\x0d\\x85\\u2028');
    expect(escapeControls('plain é')).toBe('plain é');
    // The same answer twice: no state kept between calls.
    expect(escapeControls('a\nb')).toBe('a\\x0ab');
    expect(escapeControls('a\nb')).toBe('a\\x0ab');
  });
});
