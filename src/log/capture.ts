import type { Readable } from 'node:stream';
import type { LogTarget } from './logger.js';

/**
 * `--capture-output`: a worker's stdout and stderr are pipes to the master, read here line by
 * line. A line that is already one of gserve's JSON log lines (the worker's own pino output)
 * passes through unchanged; anything else (console.log, a crash's stack) becomes one log event
 * per line, tagged with the worker's pid and the stream. Nothing in the worker is patched, so
 * no writer (pino, console, process.stdout) is missed.
 */
export function captureOutput(
  pid: number,
  streams: { stdout: Readable | null; stderr: Readable | null },
  log: LogTarget,
): void {
  if (streams.stdout) readLines(streams.stdout, (line) => log.writeLine(captured(pid, 'stdout', line)));
  if (streams.stderr)
    readLines(streams.stderr, (line) => log.writeLine(isLogLine(line) ? line : captured(pid, 'stderr', line)));
}

const isLogLine = (line: string) => line.startsWith('{"level":') && line.endsWith('}');

function captured(pid: number, stream: 'stdout' | 'stderr', text: string): string {
  const level = stream === 'stderr' ? 40 : 30;
  return JSON.stringify({ level, time: Date.now(), pid, stream, msg: text });
}

/**
 * The longest line kept whole, in UTF-16 code units: past it, the text so far is delivered as a line
 * of its own. The master holds at most this much of each worker stream: an app that writes without
 * ever writing a newline (a binary dump, a progress bar) grew the master by all of it (200 MB
 * written, 215 MB of RSS). A pino line this long is cut too, and logged as plain text.
 */
export const MAX_CAPTURED_LINE = 1024 * 1024;

/** Calls `onLine` for each complete line; a last unterminated line is delivered at the end. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const part of parts) {
      const line = part.endsWith('\r') ? part.slice(0, -1) : part;
      if (line) onLine(line);
    }
    while (partial.length > MAX_CAPTURED_LINE) {
      // Not between the two halves of a surrogate pair.
      const cut = isHighSurrogate(partial.charCodeAt(MAX_CAPTURED_LINE - 1))
        ? MAX_CAPTURED_LINE - 1
        : MAX_CAPTURED_LINE;
      onLine(partial.slice(0, cut));
      partial = partial.slice(cut);
    }
  });
  stream.on('end', () => {
    if (partial) onLine(partial);
    partial = '';
  });
  stream.on('error', () => {});
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
