import { STATUS_CODES } from 'node:http';

/** RFC 9110's names where Node's table keeps RFC 7231's (`Payload Too Large`); docs/security.md uses these. */
const RFC_9110_NAMES: Readonly<Record<number, string>> = { 413: 'Content Too Large', 422: 'Unprocessable Content' };
export const reasonPhrase = (status: number): string => RFC_9110_NAMES[status] ?? STATUS_CODES[status] ?? 'Unknown';

/** Responses that never carry a body (RFC 9110 §6.4.1). */
export const statusHasNoBody = (status: number): boolean => status < 200 || status === 204 || status === 304;

/** A cache of the Date header for the current second: shared by every response, never configured. */
let dateSecond = 0;
let dateValue = '';
/** The Date header, formatted once per second rather than once per response. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}
