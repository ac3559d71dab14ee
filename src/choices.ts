/**
 * Fixed lists of words (commands, shells, reasons) and checks against them, typed by their
 * members: `choices('a', 'b')` is a `readonly ('a' | 'b')[]`, and `isOneOf` narrows to that union.
 */
export function choices<const T extends string>(...items: T[]): readonly T[] {
  return Object.freeze(items);
}

/** Whether `value` is one of `list`, narrowing it to their type (a typed `list.includes(value)`). */
export function isOneOf<T extends string>(list: readonly T[], value: unknown): value is T {
  return list.some((item) => item === value);
}
