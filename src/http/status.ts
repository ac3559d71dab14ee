import { STATUS_CODES } from 'node:http';

export const reasonPhrase = (status: number): string => STATUS_CODES[status] ?? 'Unknown';

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
