/**
 * Gunicorn formats the access log with Python's `%` operator over a mapping of atoms, so a format
 * may say `%(T)d` or `%(a)-20.20s` as well as `%(h)s`. This module parses such a format (at start,
 * to refuse what gserve cannot honour, and once in each worker) and applies a conversion to one
 * atom's text. It imports nothing: the settings check loads it in the master.
 */

/** `u` is Python's old alias of `d`. */
export type Conversion = 's' | 'r' | 'd' | 'i' | 'u';

export interface AtomSpec {
  /** What is between the parentheses: `h`, `{x-request-id}i`, or a name no atom has (printed as `-`). */
  name: string;
  /** Python's conversion flags, any of `-`, `0`, `+`, space and `#` (the last changes nothing here). */
  flags: string;
  width: number;
  precision: number | null;
  conversion: Conversion;
}

export type FormatPart = string | AtomSpec;

/**
 * Atoms that are always text, where a number conversion (`%(h)d`) is a mistake: Python would raise
 * at every request and Gunicorn log a traceback instead of the line, so gserve refuses it at start.
 * The others are numbers, `-` (`b`), or may be numbers (a header, a variable, a name no atom has).
 */
const TEXT_ATOMS = new Set(['h', 'l', 'u', 't', 'r', 'm', 'U', 'q', 'H', 'f', 'a', 'p']);
/** Atoms that are ints in Gunicorn's mapping, whose `repr` therefore has no quotes. */
const INT_ATOMS = new Set(['T', 'M', 'D', 'B']);

const SPEC_TAIL = /^([-#0 +]*)(\d*)(?:\.(\d*))?([A-Za-z%]?)/;

/**
 * The format as literal text and atoms. `%%` is one `%`, as in Python; a `%` before anything but
 * `(` or `%` is kept as it is (Python would raise at every request). Throws an Error whose message
 * names the atom that cannot be honoured and what to write instead.
 */
export function parseAccessFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let text = '';
  let at = 0;
  for (let pct = format.indexOf('%'); pct >= 0; pct = format.indexOf('%', at)) {
    text += format.slice(at, pct);
    const next = format[pct + 1];
    if (next === '%') {
      text += '%';
      at = pct + 2;
      continue;
    }
    if (next !== '(') {
      text += '%';
      at = pct + 1;
      continue;
    }
    const close = format.indexOf(')', pct + 2);
    if (close < 0) throw new Error(`${format.slice(pct)} has no closing parenthesis; write %(NAME)s`);
    const name = format.slice(pct + 2, close);
    const tail = SPEC_TAIL.exec(format.slice(close + 1))!;
    const [written, flags = '', width = '', precision, conversion = ''] = tail;
    const atom = format.slice(pct, close + 1 + written.length);
    checkConversion(atom, name, conversion);
    if (text) parts.push(text);
    text = '';
    parts.push({
      name,
      flags,
      width: width ? Number(width) : 0,
      precision: precision === undefined ? null : Number(precision || 0),
      conversion: conversion as Conversion,
    });
    at = close + 1 + written.length;
  }
  text += format.slice(at);
  if (text) parts.push(text);
  return parts;
}

function checkConversion(atom: string, name: string, conversion: string): void {
  if (conversion === '') throw new Error(`${atom} has no conversion letter after the parenthesis; write %(${name})s`);
  if (!'srdiu'.includes(conversion))
    throw new Error(
      `${atom}: gserve formats atoms with s, r, d or i only, not ${conversion}; write %(${name})s or %(${name})d`,
    );
  if (conversion !== 's' && conversion !== 'r' && TEXT_ATOMS.has(name))
    throw new Error(`${atom}: the ${name} atom is text, not a number; write %(${name})s`);
}

/** The problem with a format, for the settings check; undefined when gserve can write it. */
export function accessFormatProblem(format: string): string | undefined {
  try {
    parseAccessFormat(format);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whether an atom's text goes out as it is, the common case a worker should not pay a call for. */
export const isPlain = (spec: AtomSpec) => spec.conversion === 's' && spec.width === 0 && spec.precision === null;

/**
 * An atom's text under its conversion, as Python's `%` would write the value Gunicorn has for it.
 * A number conversion of a value that is not a number (`-`, a header's text) writes it as `%s`
 * would, where Python raises: the line is still written.
 */
export function applySpec(spec: AtomSpec, value: string): string {
  if (spec.conversion === 's' || spec.conversion === 'r') {
    let text = spec.conversion === 'r' && !INT_ATOMS.has(spec.name) ? pythonRepr(value) : value;
    if (spec.precision !== null) text = text.slice(0, spec.precision);
    return pad(text, spec.width, spec.flags.includes('-'));
  }
  const number = /^([-+]?)(\d+)(?:\.\d*)?$/.exec(value);
  if (!number) return pad(value, spec.width, spec.flags.includes('-'));
  let digits = number[2]!.replace(/^0+(?=\d)/, '');
  if (spec.precision !== null) digits = digits.padStart(spec.precision, '0');
  const negative = number[1] === '-' && /[1-9]/.test(digits);
  const sign = negative ? '-' : spec.flags.includes('+') ? '+' : spec.flags.includes(' ') ? ' ' : '';
  if (spec.flags.includes('-')) return pad(sign + digits, spec.width, true);
  if (spec.flags.includes('0')) return sign + digits.padStart(spec.width - sign.length, '0');
  return pad(sign + digits, spec.width, false);
}

const pad = (text: string, width: number, left: boolean) => (left ? text.padEnd(width) : text.padStart(width));

/** Python 3's repr() of a str: single quotes unless the text has one and no double quote. */
export function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}
