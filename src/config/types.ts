/**
 * Value types for settings. Each type turns a raw value (a string from the command line or the
 * environment, or any JSON/JS value from a config file) into the setting's value, or says in words
 * what it expected; the caller adds which setting and which source.
 */
export class TypeMismatch extends Error {}

export interface ValueType<T> {
  /** Short words for docs and errors: "an integer from 1 to 65535". */
  readonly expected: string;
  /** JSON Schema fragment for config/gserve.schema.json. */
  readonly schema: Record<string, unknown>;
  /** Repeatable on the command line; several values collect into a list. */
  readonly repeatable?: boolean;
  /** A flag without an argument (`--preload`). */
  readonly isFlag?: boolean;
  /** Whether a value that is not a string is of this type (a list takes it alone as a list of one). */
  takes?(raw: unknown): boolean;
  parse(raw: unknown): T;
}

const fail = (expected: string, raw: unknown): never => {
  const shown =
    typeof raw === 'string'
      ? JSON.stringify(raw)
      : typeof raw === 'function'
        ? 'a function'
        : typeof raw === 'number'
          ? String(raw) // NaN and Infinity, which JSON shows as null
          : (JSON.stringify(raw) ?? String(raw));
  throw new TypeMismatch(`expected ${expected}, got ${shown}`);
};

function range(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

export function integer(opts: { min?: number; max?: number } = {}): ValueType<number> {
  const expected = `an integer${range(opts.min, opts.max)}`;
  return {
    expected,
    schema: { type: 'integer', minimum: opts.min, maximum: opts.max },
    parse(raw) {
      const n = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return fail(expected, raw);
      if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max))
        return fail(expected, raw);
      return n;
    },
  };
}

/**
 * The longest time a setting may give, in seconds: Node's timers hold at most 2^31 - 1 ms (about
 * 24.8 days), and a longer one warns and is cut short. 0 turns a timeout off, where it can be off.
 */
export const MAX_SECONDS = 2_000_000;

export function seconds(opts: { min?: number; max?: number } = { min: 0, max: MAX_SECONDS }): ValueType<number> {
  const expected = `a number of seconds${range(opts.min, opts.max)}`;
  return {
    expected,
    schema: { type: 'number', minimum: opts.min, maximum: opts.max },
    parse(raw) {
      const n = typeof raw === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n)) return fail(expected, raw);
      if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max))
        return fail(expected, raw);
      return n;
    },
  };
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/**
 * A size: a number of bytes, or `512MB`, `1GiB`, `64k`. 0 means "no limit" where the doc says so.
 * `zeroOrAtLeast`: 0, or no less than this; a size meant in megabytes but given without its unit
 * (`512`) is then refused, not taken as 512 bytes.
 */
export function bytes(opts: { zeroOrAtLeast?: number } = {}): ValueType<number> {
  const floor = opts.zeroOrAtLeast ?? 0;
  const expected =
    'a size in bytes (e.g. 1048576, 512MB, 1GiB)' +
    (floor > 0 ? `: 0, or at least ${floor / 2 ** 20} MiB (a number without a unit is bytes)` : '');
  return {
    expected,
    schema: {
      oneOf: [
        { type: 'integer', minimum: 0 },
        { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]?|[bB])?$' },
      ],
    },
    parse(raw) {
      let size: number;
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) size = raw;
      else {
        const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw) : null;
        const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
        if (!m || unit === undefined) return fail(expected, raw);
        size = Math.round(Number(m[1]) * unit);
      }
      return size > 0 && size < floor ? fail(expected, raw) : size;
    },
  };
}

export function boolean(): ValueType<boolean> {
  const expected = 'true or false';
  return {
    expected,
    isFlag: true,
    schema: { type: 'boolean' },
    parse(raw) {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(s)) return true;
        if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
      }
      return fail(expected, raw);
    },
  };
}

export function string(check?: (s: string) => string | undefined): ValueType<string> {
  const expected = 'a string';
  return {
    expected,
    schema: { type: 'string' },
    parse(raw) {
      if (typeof raw !== 'string') return fail(expected, raw);
      const problem = check?.(raw);
      if (problem) throw new TypeMismatch(problem);
      return raw;
    },
  };
}

/** true, false, or null (also `auto`) for "decided at run time", the way the setting's doc says. */
export function optionalBoolean(): ValueType<boolean | null> {
  const expected = 'true, false or auto';
  const yesNo = boolean();
  return {
    expected,
    isFlag: true,
    schema: { oneOf: [{ type: 'boolean' }, { type: 'null' }, { const: 'auto' }] },
    parse(raw) {
      if (raw === null || (typeof raw === 'string' && raw.trim().toLowerCase() === 'auto')) return null;
      try {
        return yesNo.parse(raw);
      } catch {
        return fail(expected, raw);
      }
    },
  };
}

/** A string, or null for "not set". */
export function optionalString(): ValueType<string | null> {
  const expected = 'a string or null';
  return {
    expected,
    schema: { type: ['string', 'null'] },
    parse(raw) {
      if (raw === null) return null;
      return typeof raw === 'string' ? raw : fail(expected, raw);
    },
  };
}

/** One of a fixed set of words; `aliases` map other accepted spellings to a choice. */
export function oneOf<const C extends string>(
  choices: readonly C[],
  aliases: Record<string, NoInfer<C>> = {},
): ValueType<C> {
  const expected = `one of ${choices.join(', ')}`;
  return {
    expected,
    schema: { type: 'string', enum: [...choices, ...Object.keys(aliases)] },
    parse(raw) {
      if (typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        const match = choices.find((c) => c === s);
        if (match !== undefined) return match;
        if (s in aliases) return aliases[s]!;
      }
      return fail(expected, raw);
    },
  };
}

/** A list; from a string it splits on commas, and the flag may be repeated. `nonEmpty`: at least one item. */
export function list<T>(
  item: ValueType<T>,
  opts: { split?: boolean; nonEmpty?: boolean; items?: string } = {},
): ValueType<T[]> {
  const items = opts.items ?? `${item.expected.replace(/^an? /, '')}s`;
  const expected = `${opts.nonEmpty ? 'a non-empty' : 'a'} list of ${items}`;
  const split = opts.split ?? true;
  return {
    expected,
    repeatable: true,
    // A single value is a list of one (a string is split on commas), so the schema admits it too.
    schema: { anyOf: [{ type: 'array', items: item.schema, ...(opts.nonEmpty ? { minItems: 1 } : {}) }, item.schema] },
    parse(raw) {
      // One value that the item's type takes by itself (a port number for bind) is a list of one.
      if (!Array.isArray(raw) && typeof raw !== 'string' && item.takes?.(raw)) return [item.parse(raw)];
      const values = Array.isArray(raw)
        ? raw
        : typeof raw === 'string'
          ? split
            ? raw
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : [raw]
          : fail(expected, raw);
      if (opts.nonEmpty && values.length === 0) fail(expected, raw);
      return values.map((v) => item.parse(v));
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a hook's arguments are typed by defineConfig(), not by the table
const isFunction = (raw: unknown): raw is (...args: any[]) => unknown => typeof raw === 'function';

/** A function, given only in a JS config file (server hooks). */
// biome-ignore lint/suspicious/noExplicitAny: a hook's arguments are typed by defineConfig(), not by the table
export function func(): ValueType<((...args: any[]) => unknown) | null> {
  const expected = 'a function (set it in a JavaScript config file)';
  return {
    expected,
    schema: {},
    parse(raw) {
      if (raw === null || isFunction(raw)) return raw;
      return fail(expected, raw);
    },
  };
}
