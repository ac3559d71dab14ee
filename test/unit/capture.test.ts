import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_CAPTURED_LINE, readLines } from '../../src/log/capture.js';

/** Feeds `chunks` to readLines and returns the lines it delivered. */
async function linesOf(chunks: string[]): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  readLines(stream, (line) => lines.push(line));
  const ended = new Promise((resolve) => stream.on('end', resolve));
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await ended;
  return lines;
}

describe('readLines (--capture-output)', () => {
  it('delivers lines across chunks, without their CR, and a last unterminated one at the end', async () => {
    expect(await linesOf(['one\r\ntw', 'o\n\nthr', 'ee'])).toEqual(['one', 'two', 'three']);
  });

  it('holds no more than MAX_CAPTURED_LINE of a line that never ends: the text comes out in pieces, whole', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const count = Math.ceil((2.5 * MAX_CAPTURED_LINE) / chunk.length);
    const lines = await linesOf(Array.from({ length: count }, () => chunk));
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(MAX_CAPTURED_LINE);
    expect(lines.join('')).toBe(chunk.repeat(count));
  });

  it('does not cut between the halves of a surrogate pair', async () => {
    const text = `${'a'.repeat(MAX_CAPTURED_LINE - 1)}😀${'b'.repeat(10)}`;
    const lines = await linesOf([text, '\n']);
    expect(lines).toEqual([text.slice(0, MAX_CAPTURED_LINE - 1), `😀${'b'.repeat(10)}`]);
  });
});
