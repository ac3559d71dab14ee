import { describe, expect, it } from 'vitest';
import { HeadScan } from '../../src/master/request-wait.js';

const LIMITS = { requestLine: 40, requestFieldSize: 30, requestFields: 3, requestBody: 0 };

/** The byte offset at which the scan says "hand it on", fed one byte at a time; -1 if never. */
function handOnAt(text: string, limits = LIMITS): number {
  const scan = new HeadScan(limits);
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i++) if (scan.feed(bytes.subarray(i, i + 1))) return i;
  return -1;
}

describe('the sync master’s head scan', () => {
  it('waits for the empty line that ends a head, however it is cut into reads', () => {
    const head = 'GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n';
    expect(handOnAt(head)).toBe(head.length - 1);
    expect(handOnAt(head.slice(0, -1))).toBe(-1);
    // Empty lines before the request line are allowed, and end nothing.
    expect(handOnAt(`\r\n\r\n${head}`)).toBe(head.length + 3);
    const whole = new HeadScan(LIMITS);
    expect(whole.feed(Buffer.from(head.slice(0, 20)))).toBe(false);
    expect(whole.feed(Buffer.from(head.slice(20)))).toBe(true);
    // A value may hold tabs and obs-text.
    const odd = 'GET / HTTP/1.1\r\nX: a\tb\xe9\r\n\r\n';
    expect(handOnAt(odd)).toBe(odd.length - 1);
  });

  it('hands a head on at the first byte no sound head holds there, for the worker to refuse at once', () => {
    expect(handOnAt('XYZ@')).toBe(3);
    expect(handOnAt('GET / HTTQ')).toBe(9);
    expect(handOnAt('GET / HTTP/1.1\r\nHo st')).toBe(18);
    expect(handOnAt('GET / HTTP/1.1\r\nHost : x')).toBe(20);
    expect(handOnAt('GET / HTTP/1.1\r\n Host: x')).toBe(16); // obs-fold
    expect(handOnAt('GET / HTTP/1.1\nHost: x')).toBe(14); // bare LF
    expect(handOnAt('GET / HTTP/1.1\r\nX: a\x00')).toBe(20);
    expect(handOnAt('GET /\xff HTTP/1.1')).toBe(5);
    expect(handOnAt('\x16\x03\x01')).toBe(0); // a TLS ClientHello on a plain port
  });

  it('hands a head on once a line or the field count goes past the limits', () => {
    expect(handOnAt(`GET /${'a'.repeat(100)}`)).toBe(40);
    expect(handOnAt(`GET / HTTP/1.1\r\nX: ${'v'.repeat(100)}`)).toBe(16 + 30);
    expect(handOnAt('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD')).toBe(34); // the fourth field's first byte
    expect(
      handOnAt(`GET /${'a'.repeat(100)}`, { ...LIMITS, requestLine: 0, requestFieldSize: 0, requestFields: 0 }),
    ).toBe(-1);
  });
});

describe('what the head scan tells of the body', () => {
  const scanned = (head: string) => {
    const scan = new HeadScan(LIMITS);
    const bytes = Buffer.from(head, 'latin1');
    // In two reads, split inside the framing field.
    const ended = scan.feed(bytes.subarray(0, 25)) || scan.feed(bytes.subarray(25));
    return { ended, headLength: scan.headLength, body: scan.bodyLength() };
  };
  const head = (fields: string) => `POST /p HTTP/1.1\r\nHost: x\r\n${fields}\r\n`;

  it('waits for a Content-Length body, and for none without one', () => {
    const h = head('Content-Length: 5\r\n');
    expect(scanned(h)).toEqual({ ended: true, headLength: h.length, body: 5 });
    expect(scanned(head('content-LENGTH:  12 \r\n')).body).toBe(12);
    expect(scanned(head('X-Content-Length: 9\r\n')).body).toBe(0);
    expect(scanned(head('')).body).toBe(0);
  });

  it('leaves to the worker what only it can judge, and a client waiting for its answer', () => {
    for (const fields of [
      'Transfer-Encoding: chunked\r\n',
      'Expect: 100-continue\r\nContent-Length: 5\r\n',
      'Content-Length: 5\r\nContent-Length: 5\r\n',
      'Content-Length: 5, 5\r\n',
      'Content-Length: 5 5\r\n',
      'Content-Length: \r\n',
      'Content-Length: +5\r\n',
      'Content-Length: 99999999999999999999\r\n',
    ])
      expect(scanned(head(fields)).body, fields).toBeNull();
    // Refused from the head alone, at once: no Host, or a body past --limit-request-body.
    expect(scanned('POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n').body).toBeNull();
    const limited = new HeadScan({ ...LIMITS, requestBody: 4 });
    expect(limited.feed(Buffer.from(head('Content-Length: 5\r\n')))).toBe(true);
    expect(limited.bodyLength()).toBeNull();
    // A head handed on early is not whole: nothing is known of its body.
    expect(scanned('GET / HTTP/1.1\r\nHo st: x\r\n\r\n')).toMatchObject({ ended: true, headLength: 0, body: null });
  });
});

describe('the head scan behind --proxy-protocol', () => {
  const line = 'PROXY TCP4 198.51.100.9 10.0.0.1 8123 443\r\n';
  const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  const at = (text: string, proxyLine: boolean) => {
    const scan = new HeadScan(LIMITS, proxyLine);
    const bytes = Buffer.from(text, 'latin1');
    for (let i = 0; i < bytes.length; i++) if (scan.feed(bytes.subarray(i, i + 1))) return [i, scan.headLength];
    return [-1, 0];
  };

  it('skips one PROXY v1 line and waits for the request after it', () => {
    const whole = line + request;
    expect(at(whole, true)).toEqual([whole.length - 1, whole.length]);
    // Without --proxy-protocol it is no request line: handed on, for the worker to refuse.
    expect(at(whole, false)[0]).toBe(line.indexOf('198'));
    expect(at(`PROXYX${line.slice(5)}`, true)[0]).toBe(line.indexOf('198') + 1);
    // Only one, and only a sound one.
    expect(at(line + line, true)[0]).toBe(line.length + line.indexOf('198'));
    expect(at(`PROXY TCP4 \x00`, true)[0]).toBe(11);
    // v2 is binary: handed on at once.
    expect(at('\r\n\r\n\x00\r\nQUIT\n', true)[0]).toBe(4);
  });
});
