/** Runtime checks that narrow values an app or node hands over untyped. */

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** `err.code` of a failed system call (ENOENT, EACCES, …), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  return isRecord(err) && typeof err.code === 'string' ? err.code : undefined;
}
