import { STATUS_CODES } from 'node:http';

/** RFC 9110's names where Node's table keeps RFC 7231's (`Payload Too Large`); docs/security.md uses these. */
const RFC_9110_NAMES: Readonly<Record<number, string>> = { 413: 'Content Too Large', 422: 'Unprocessable Content' };
export const reasonPhrase = (status: number): string => RFC_9110_NAMES[status] ?? STATUS_CODES[status] ?? 'Unknown';

/** Responses that never carry a body (RFC 9110 §6.4.1). */
export const statusHasNoBody = (status: number): boolean => status < 200 || status === 204 || status === 304;

/** A cache of the Date field for the current second: shared by every response, never configured. */
let dateSecond = 0;
let dateValue = '';
let dateLine = '';
function updateDate(): void {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
    dateLine = `date: ${dateValue}\r\n`;
  }
}

/** The Date header, formatted once per second rather than once per response. */
export function httpDate(): string {
  updateDate();
  return dateValue;
}

/** The whole `date: …` line of a head, CRLF included, made once per second. */
export function httpDateLine(): string {
  updateDate();
  return dateLine;
}

/**
 * `HTTP/1.1 <status> <reason>` and its CRLF, for a status (100 to 999) with its standard reason:
 * made once per status, where each head built it from three parts and looked its reason up in two
 * tables keyed by sparse numbers.
 */
const statusLines: string[] = [];
export function statusLine(status: number): string {
  return (statusLines[status] ??= `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`);
}
